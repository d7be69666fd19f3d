"""The HTTP boundary: redirects, error translation, ranges."""

from __future__ import annotations

import io

import httpx
import pytest

from trioseg.errors import FetchError, HTTPStatusError, TransportError
from trioseg.fetch import open_fetcher
from trioseg.plan import ByteRange


class Sink(io.BytesIO):
    offset = 0
    validator = None

    def begin(self, validator: str | None, resumable: bool, length: int | None) -> None:
        pass

    def reset(self) -> None:
        self.seek(0)
        self.truncate()


def redirecting(target: str, hops: int | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params.get("n", "0"))
        if request.url.path == "/final":
            return httpx.Response(200, content=b"body")
        if hops is not None and n >= hops:
            return httpx.Response(302, headers={"location": "/final"})
        location = target if hops is None else f"/hop?n={n + 1}"
        return httpx.Response(302, headers={"location": location})

    return httpx.MockTransport(handler)


@pytest.mark.trio
async def test_redirects_are_followed_a_few_times() -> None:
    async with open_fetcher(concurrency=1, timeout=5, transport=redirecting("", 3)) as fetcher:
        fetched = await fetcher.fetch_bytes("http://o.test/hop")
    assert fetched.content == b"body"
    assert fetched.url == "http://o.test/final"


@pytest.mark.trio
async def test_endless_redirects_are_an_error() -> None:
    async with open_fetcher(concurrency=1, timeout=5, transport=redirecting("", 50)) as fetcher:
        with pytest.raises(FetchError, match="too many redirects"):
            await fetcher.fetch_to("http://o.test/hop", Sink())


@pytest.mark.trio
@pytest.mark.parametrize("target", ["ftp://o.test/x", "file:///etc/passwd"])
async def test_redirects_only_to_http_and_https(target: str) -> None:
    async with open_fetcher(concurrency=1, timeout=5, transport=redirecting(target)) as fetcher:
        with pytest.raises(TransportError, match="refusing to follow a redirect"):
            await fetcher.fetch_to("http://o.test/start", Sink())


@pytest.mark.trio
async def test_status_errors_carry_retry_after() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after": "12"})

    async with open_fetcher(
        concurrency=1, timeout=5, transport=httpx.MockTransport(handler)
    ) as fetcher:
        with pytest.raises(HTTPStatusError) as caught:
            await fetcher.fetch_to("http://o.test/x", Sink(), byte_range=ByteRange(0, 9))
    assert (caught.value.status, caught.value.retry_after, caught.value.transient) == (
        429,
        12.0,
        True,
    )


@pytest.mark.trio
async def test_a_206_for_the_wrong_range_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(206, content=b"x" * 10, headers={"content-range": "bytes 5-14/99"})

    async with open_fetcher(
        concurrency=1, timeout=5, transport=httpx.MockTransport(handler)
    ) as fetcher:
        with pytest.raises(FetchError, match="unexpected Content-Range"):
            await fetcher.fetch_to("http://o.test/x", Sink(), byte_range=ByteRange(0, 9))
