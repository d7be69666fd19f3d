"""The HTTP boundary: redirects, error translation, ranges."""

from __future__ import annotations

import io

import httpx
import pytest
import trio
import trio.testing
from httpcore._backends.trio import TrioStream

from trioseg.errors import FetchError, HTTPStatusError, TransportError
from trioseg.fetch import (
    DEADLINE_SLACK,
    READ_SIZE,
    SMALL_READ,
    next_read_size,
    open_fetcher,
    push_deadline,
)
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


def test_a_connection_reads_in_bulk_only_after_a_read_brought_bulk() -> None:
    assert next_read_size(0, READ_SIZE) == SMALL_READ
    assert next_read_size(SMALL_READ - 1, READ_SIZE) == SMALL_READ
    assert next_read_size(SMALL_READ, READ_SIZE) == READ_SIZE
    assert next_read_size(SMALL_READ, 1000) == 1000  # never more than httpcore asks for
    assert next_read_size(10, 1000) == 1000


@pytest.mark.trio
async def test_httpcore_reads_64_kib_until_a_body_comes_in_bulk(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # a read allocates its whole size before it receives: small bodies must not cost a
    # 1 MiB allocation each, large ones are read 1 MiB at a time
    sender, receiver = trio.testing.memory_stream_pair()
    asked: list[int] = []
    receive_some = receiver.receive_some

    async def recording(max_bytes: int | None = None) -> bytes | bytearray:
        assert max_bytes is not None
        asked.append(max_bytes)
        return await receive_some(max_bytes)

    receiver.receive_some = recording  # type: ignore[method-assign]
    stream = TrioStream(receiver)
    with trio.fail_after(10):  # a read that waits for more than was sent fails
        await sender.send_all(b"x" * 100_000)  # a large body
        got = [len(await stream.read(READ_SIZE)) for _ in range(2)]
        await sender.send_all(b"y" * 10_000)  # then a small one
        got.append(len(await stream.read(READ_SIZE)))
    assert got == [SMALL_READ, 100_000 - SMALL_READ, 10_000]
    assert asked == [SMALL_READ, READ_SIZE, SMALL_READ]


@pytest.mark.trio
async def test_a_timer_is_pushed_on_only_when_that_moves_it_by_more_than_the_slack(
    mock_clock: trio.testing.MockClock,
) -> None:
    timeout = 10.0
    slack = timeout * DEADLINE_SLACK
    timer = trio.CancelScope(deadline=trio.current_time() + timeout)
    first = timer.deadline
    mock_clock.jump(slack / 2)
    push_deadline(timer, timeout)  # chunks microseconds apart: the deadline stays
    assert timer.deadline == first
    mock_clock.jump(slack)
    push_deadline(timer, timeout)
    assert timer.deadline == trio.current_time() + timeout
    # never earlier than the timeout less the slack after the last thing received
    mock_clock.jump(slack / 2)
    push_deadline(timer, timeout)
    assert timer.deadline - trio.current_time() >= timeout - slack
