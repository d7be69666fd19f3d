"""HTTP fetching: the only module that imports httpx.

Every httpx exception is translated into trioseg's own tree in :func:`_translate`, as
httpx does with httpcore's, so the rest of trioseg never sees an httpx type.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn, Protocol
from urllib.parse import urlsplit

import attrs
import trio

from . import __version__
from .errors import (
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TransportError,
    TruncatedBody,
    UsageError,
)
from .plan import ByteRange
from .ratelimit import TokenBucket
from .retry import parse_retry_after

# httpx imports its own command-line client (rich, click, pygments) as it is imported,
# whenever those happen to be installed (Textual brings rich).  trioseg never runs it;
# leaving it out takes about 80 ms off every start.  Only when httpx is not loaded yet.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpcore  # noqa: E402
import httpx  # noqa: E402
from httpcore._backends.trio import TrioStream  # noqa: E402

# httpcore reads 64 KiB per receive call; every read costs a pass through trio, h11 and
# httpx, so large segments spend most of their CPU there.  1 MiB reads cut the CPU per
# GB by a fifth (``nox -s bench``, large profile).
READ_SIZE = 1 << 20
httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = max(
    httpcore.AsyncHTTP11Connection.READ_NUM_BYTES, READ_SIZE
)
#: but a read allocates all it may receive before it receives (glibc serves 1 MiB with
#: mmap, then shrinks and unmaps it: three system calls and fresh pages for every small
#: body), so a connection reads this much until a read brings at least as much
SMALL_READ = 1 << 16


def next_read_size(received: int, limit: int) -> int:
    """How much a connection asks for next, after a read that brought ``received``
    bytes: ``limit`` while data comes in bulk, else :data:`SMALL_READ`."""
    return limit if received >= SMALL_READ else min(limit, SMALL_READ)


_trio_read = TrioStream.read


async def _read(self: TrioStream, max_bytes: int, timeout: float | None = None) -> bytes:
    size = min(max_bytes, getattr(self, "_trioseg_read_size", SMALL_READ))
    data = await _trio_read(self, size, timeout)
    self._trioseg_read_size = next_read_size(len(data), max_bytes)  # type: ignore[attr-defined]
    return data


TrioStream.read = _read  # type: ignore[method-assign]

__all__ = ["Fetched", "Fetcher", "NetworkOptions", "Sink", "load_cookies", "open_fetcher"]

USER_AGENT = f"trioseg/{__version__}"

#: a request's timer is pushed on only when that moves its deadline by more than this
#: share of the timeout: the chunks of a body come microseconds apart, and each move of
#: a deadline costs trio a few heap operations (more in guest mode, under the UI); the
#: timeout may then end up to a thousandth of itself early
DEADLINE_SLACK = 0.001


def push_deadline(timer: trio.CancelScope, timeout: float) -> None:
    """Something was received: ``timer`` runs out ``timeout`` from now (give or take
    :data:`DEADLINE_SLACK` of it)."""
    deadline = trio.current_time() + timeout
    if deadline - timer.deadline > timeout * DEADLINE_SLACK:
        timer.deadline = deadline


@attrs.frozen
class Fetched:
    content: bytes
    #: the URL after redirects: relative references in the body resolve against it
    url: str


class Sink(Protocol):
    """Where a body goes (the store's segment sink).

    ``offset`` bytes are already there from an interrupted transfer of the same URL
    (``validator`` is that response's ETag or Last-Modified): the fetch asks only for
    the rest, with ``If-Range``.  ``reset`` is called when the origin sends the whole
    body after all; then ``begin`` reports what the response allows and how many bytes
    will be written (None: unknown).
    """

    @property
    def offset(self) -> int: ...

    @property
    def validator(self) -> str | None: ...

    def begin(self, validator: str | None, resumable: bool, length: int | None) -> None: ...

    def reset(self) -> None: ...

    def write(self, data: bytes, /) -> object: ...


def _detail(exc: BaseException) -> str:
    """The most specific message in an exception's chain (httpx often wraps an empty one)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    best = type(exc).__name__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, BaseExceptionGroup):
            current = current.exceptions[0]
            continue
        text = str(current).strip()
        if text:
            best = text
        current = current.__cause__ or current.__context__
    return " ".join(best.split())


def _translate(exc: httpx.HTTPError, url: str) -> FetchError:
    if isinstance(exc, httpx.TimeoutException):
        return FetchTimeout(f"timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.RemoteProtocolError):
        return TransportError(f"protocol error: {exc}")
    if isinstance(exc, httpx.TransportError):
        return TransportError(f"connection error: {_detail(exc)}")
    if isinstance(exc, httpx.TooManyRedirects):
        return FetchError("too many redirects")
    return FetchError(f"{type(exc).__name__}: {exc}")


def _status_error(response: httpx.Response, url: str) -> NoReturn:
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    raise HTTPStatusError(response.status_code, url, retry_after)


def _check_content_range(value: str | None, wanted: ByteRange, url: str) -> None:
    """A 206 must start where we asked: anything else would corrupt the segment."""
    start = None
    if value and value.startswith("bytes "):
        first = value[6:].partition("-")[0]
        start = int(first) if first.isdigit() else None
    if start != wanted.first:
        raise FetchError(f"unexpected Content-Range {value!r} for bytes {wanted}")


class _Shards:
    """One-connection clients, kept by the host they last talked to.

    httpcore's pool grows slower with every connection it holds (its request
    assignment scans all of them, httpcore #1035); many pools of one stay flat.
    """

    def __init__(self, clients: list[httpx.AsyncClient]) -> None:
        self.free = clients
        self.by_host: dict[str, list[httpx.AsyncClient]] = {}
        #: every request takes a shard, so the run never holds more connections than
        #: it has shards (-N), manifest and index requests included
        self.slots = trio.Semaphore(len(clients))

    def take(self, host: str) -> httpx.AsyncClient | None:
        idle = self.by_host.get(host)
        if idle:
            return idle.pop()
        if self.free:
            return self.free.pop()
        for idle in self.by_host.values():
            if idle:
                return idle.pop()  # reconnects to the new host
        return None

    def give(self, host: str, client: httpx.AsyncClient) -> None:
        self.by_host.setdefault(host, []).append(client)


class Fetcher:
    """Fetches whole bodies or streams them into files, raising only :class:`FetchError`.

    ``timeout`` is enforced here with trio's clock, per wait: for the response headers
    and for each body chunk, so a stalled transfer is abandoned after ``timeout``
    seconds without a byte, whatever the transport.  Requests go through a one-connection
    client of ``shards`` (one per slot of the run's limiter; a request waits for one),
    or through the shared ``client`` when there are none (HTTP/2, a test transport).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        timeout: float,
        *,
        bucket: TokenBucket | None = None,
        host_headers: Mapping[str, Mapping[str, str]] | None = None,
        shards: list[httpx.AsyncClient] | None = None,
    ) -> None:
        self._client = client
        self._timeout = timeout
        self._bucket = bucket
        self._host_headers = dict(host_headers or {})
        self._shards = _Shards(shards) if shards else None

    @asynccontextmanager
    async def _open(
        self, url: str, headers: dict[str, str]
    ) -> AsyncIterator[tuple[httpx.Response, trio.CancelScope]]:
        """The response to a GET of ``url`` (its body not read yet) and its timer.

        The timer is one cancel scope for the whole exchange: its deadline bounds the wait
        for the response, then the caller pushes it on as each chunk of the body comes
        (:func:`push_deadline`; a scope costs trio a few microseconds, a small segment's
        fetch a few hundred).
        When it runs out, :class:`FetchTimeout` says which wait it was.  The response is
        closed on the way out.
        """
        if self._host_headers:
            extra = self._host_headers.get(httpx.URL(url).host)
            if extra:
                headers = {**extra, **headers}
        host = urlsplit(url).netloc
        shard: httpx.AsyncClient | None = None
        if self._shards is not None:
            slots = self._shards.slots
            try:
                slots.acquire_nowait()  # a free slot without a scheduler pass
            except trio.WouldBlock:
                await slots.acquire()
            shard = self._shards.take(host)
        client = shard or self._client
        timeout = self._timeout
        response: httpx.Response | None = None
        try:
            request = client.build_request("GET", url, headers=headers)
            with trio.CancelScope(deadline=trio.current_time() + timeout) as timer:
                response = await client.send(request, stream=True)
                try:
                    push_deadline(timer, timeout)
                    yield response, timer
                finally:
                    # a body read to its end is closed already (httpx closes it)
                    if not response.is_closed:
                        deadline = trio.current_time() + timeout
                        with trio.CancelScope(shield=True, deadline=deadline):
                            await response.aclose()
            if timer.cancelled_caught:
                if response is None:
                    raise FetchTimeout(f"no response for {timeout:g} s")
                raise FetchTimeout(f"stalled: nothing received for {timeout:g} s")
        finally:
            if self._shards is not None:
                if shard is not None:
                    self._shards.give(host, shard)
                self._shards.slots.release()

    async def _chunks(
        self, response: httpx.Response, timer: trio.CancelScope
    ) -> AsyncIterator[bytes]:
        timeout = self._timeout
        async for chunk in response.aiter_bytes():
            push_deadline(timer, timeout)
            if self._bucket is not None:
                await self._bucket.consume(len(chunk))
            yield chunk

    async def fetch_bytes(
        self, url: str, *, max_bytes: int | None = None, byte_range: ByteRange | None = None
    ) -> Fetched:
        """GET ``url`` (or ``byte_range`` of it) into memory: manifests and segment
        indexes.  Bodies over ``max_bytes`` are refused."""
        chunks: list[bytes] = []
        size = 0
        headers = {"range": byte_range.header()} if byte_range is not None else {}
        try:
            async with self._open(url, headers) as (response, timer):
                status = response.status_code
                if byte_range is not None and status == 200:
                    # no range support: cut the range out of the whole body
                    data = b"".join([c async for c in self._chunks(response, timer)])
                    end = None if byte_range.last is None else byte_range.last + 1
                    return Fetched(data[byte_range.first : end], str(response.url))
                if status != (206 if byte_range is not None else 200):
                    _status_error(response, url)
                if byte_range is not None:
                    _check_content_range(response.headers.get("content-range"), byte_range, url)
                async for chunk in self._chunks(response, timer):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise FetchError(f"body larger than {max_bytes} bytes")
                    chunks.append(chunk)
                return Fetched(b"".join(chunks), str(response.url))
        except httpx.HTTPError as exc:
            raise _translate(exc, url) from None

    async def head_date(self, url: str) -> str:
        """The ``Date`` header of a HEAD request (UTCTiming http-head)."""
        try:
            with trio.move_on_after(self._timeout) as scope:
                response = await self._client.head(url)
            if scope.cancelled_caught:
                raise FetchTimeout(f"no response for {self._timeout:g} s")
        except httpx.HTTPError as exc:
            raise _translate(exc, url) from None
        if response.status_code >= 400:
            _status_error(response, url)
        date = response.headers.get("date")
        if not date:
            raise FetchError(f"no Date header from {url}")
        return str(date)

    async def probe_size(self, url: str) -> tuple[int | None, bool]:
        """(total size, whether byte ranges are served) of ``url``, without its body:
        a one-byte range request."""
        try:
            async with self._open(url, {"range": "bytes=0-0"}) as (response, _):
                status = response.status_code
                if status == 206:
                    total = response.headers.get("content-range", "").rpartition("/")[2]
                    return (int(total) if total.isdigit() else None), True
                if status == 200:
                    length = response.headers.get("content-length", "")
                    return (int(length) if length.isdigit() else None), False
                _status_error(response, url)
        except httpx.HTTPError as exc:
            raise _translate(exc, url) from None

    async def fetch_to(
        self,
        url: str,
        sink: Sink,
        *,
        byte_range: ByteRange | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> int:
        """Stream the body of ``url`` (or ``byte_range`` of it) into ``sink``.

        Returns the segment's size (bytes resumed + bytes written).  A body shorter than
        its Content-Length (or than the requested range) raises :class:`TruncatedBody`.
        """
        headers = {"accept-encoding": "identity"}
        offset = sink.offset
        wanted = byte_range
        if offset:
            first = (byte_range.first if byte_range else 0) + offset
            wanted = ByteRange(first, byte_range.last if byte_range else None)
            if sink.validator:
                headers["if-range"] = sink.validator
        if wanted is not None:
            headers["range"] = wanted.header()
        written = 0
        expected: int | None = None
        limit: int | None = None
        timeout, bucket = self._timeout, self._bucket
        try:
            async with self._open(url, headers) as (response, timer):
                status = response.status_code
                if status not in (200, 206) or (status == 206 and wanted is None):
                    _status_error(response, url)
                h = response.headers
                if status == 206 and wanted is not None:
                    _check_content_range(h.get("content-range"), wanted, url)
                length = h.get("content-length")
                expected = int(length) if length and length.isdigit() else None
                skip = 0
                if status == 200 and offset:
                    # the origin sent the whole body (it ignores ranges, or it changed)
                    sink.reset()
                    offset = 0
                if byte_range is not None:
                    limit = byte_range.length
                    if limit is not None:
                        limit -= offset
                    if status == 200:
                        # the server ignored Range: cut the range out of the full body
                        skip = byte_range.first
                if limit is not None:
                    body: int | None = limit
                else:
                    body = None if expected is None else max(expected - skip, 0)
                sink.begin(
                    h.get("etag") or h.get("last-modified"),
                    status == 206 or h.get("accept-ranges", "").lower() == "bytes",
                    body,
                )
                async for chunk in response.aiter_bytes():
                    push_deadline(timer, timeout)
                    if bucket is not None:
                        await bucket.consume(len(chunk))
                    if skip:
                        if len(chunk) <= skip:
                            skip -= len(chunk)
                            continue
                        chunk, skip = chunk[skip:], 0
                    if limit is not None and written + len(chunk) > limit:
                        chunk = chunk[: limit - written]
                    if chunk:
                        sink.write(chunk)
                        written += len(chunk)
                        if on_bytes is not None:
                            on_bytes(len(chunk))
                    if limit is not None and written >= limit:
                        break
                encoded = h.get("content-encoding", "identity") != "identity"
                received = response.num_bytes_downloaded if encoded else written
        except httpx.HTTPError as exc:
            if expected is not None and isinstance(exc, httpx.RemoteProtocolError):
                raise TruncatedBody(offset + written, offset + expected) from None
            raise _translate(exc, url) from None
        if limit is None and expected is not None and received < expected:
            raise TruncatedBody(offset + received, offset + expected)
        if limit is not None and written < limit:
            raise TruncatedBody(offset + written, offset + limit)
        return offset + written


async def _only_http(request: httpx.Request) -> None:
    """Every request, redirects included, goes to http or https: a redirect elsewhere
    (``file:``, ``ftp:``...) is refused."""
    if request.url.scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(
            f"refusing to follow a redirect to {request.url.scheme}:", request=request
        )


@attrs.frozen
class NetworkOptions:
    """How to reach origins: everything a user can set about the HTTP client."""

    timeout: float = 30.0
    connect_timeout: float | None = None
    headers: tuple[tuple[str, str], ...] = ()
    user_agent: str | None = None
    cookies: Path | None = None
    proxy: str | None = None
    limit_rate: float | None = None
    http2: bool = False
    verify: bool = True
    #: extra headers per host name (from the configuration file)
    host_headers: Mapping[str, Mapping[str, str]] = attrs.Factory(dict)


def load_cookies(path: Path) -> http.cookiejar.MozillaCookieJar:
    """A Netscape-format cookies file (as browsers' exporters and curl write it)."""
    jar = http.cookiejar.MozillaCookieJar(str(path))
    try:
        jar.load(ignore_discard=True, ignore_expires=True)
    except OSError as exc:
        raise UsageError(f"cannot read cookies file {path}: {exc.strerror or exc}") from None
    except http.cookiejar.LoadError as exc:
        raise UsageError(f"cookies file {path} is not in Netscape format: {exc}") from None
    for cookie in jar:
        if cookie.expires == 0:  # exporters write 0 for session cookies
            cookie.expires = None
            cookie.discard = True
    return jar


@asynccontextmanager
async def open_fetcher(
    *,
    concurrency: int,
    timeout: float | None = None,
    network: NetworkOptions | None = None,
    verify: bool | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Fetcher]:
    """An httpx client whose pool matches the run's :class:`trio.CapacityLimiter`.

    ``max_connections == max_keepalive_connections == concurrency``: a larger limiter
    would queue inside httpx (PoolTimeout); a smaller keep-alive limit reconnects.
    ``timeout`` bounds each wait: a request that receives nothing for that long is
    abandoned.  Proxies also come from the standard environment variables
    (``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``...) unless ``proxy`` is given.
    """
    net = network or NetworkOptions()
    if timeout is not None:
        net = attrs.evolve(net, timeout=timeout)
    if verify is not None:
        net = attrs.evolve(net, verify=verify)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"user-agent": net.user_agent or USER_AGENT}
    headers.update(net.headers)
    cookies = load_cookies(net.cookies) if net.cookies is not None else None
    bucket = TokenBucket.per_second(net.limit_rate) if net.limit_rate else None
    # the Fetcher enforces ``timeout`` itself, with trio's clock, around the wait for the
    # response and each body chunk; httpcore's own read and write timeouts would put one
    # more deadline on trio's heap per socket call (a cost of its own in guest mode)
    timeouts = httpx.Timeout(None, connect=net.connect_timeout or net.timeout)
    common: dict[str, Any] = {
        "event_hooks": {"request": [_only_http]},
        "timeout": timeouts,
        "headers": headers,
        "cookies": cookies,
        "follow_redirects": True,
        "max_redirects": 10,
        "proxy": net.proxy,
    }
    if net.http2:
        # the same for HTTP/2 (touching it imports h2, so only when asked for)
        h2 = httpcore.AsyncHTTP2Connection
        h2.READ_NUM_BYTES = max(h2.READ_NUM_BYTES, READ_SIZE)
    # one TLS context for every client: creating one per client is costly
    ssl_context = httpx.create_ssl_context(verify=net.verify)
    try:
        client = httpx.AsyncClient(
            limits=limits, verify=ssl_context, http2=net.http2, transport=transport, **common
        )
    except (ValueError, ImportError, httpx.InvalidURL) as exc:
        raise UsageError(f"cannot set up the HTTP client: {exc}") from None
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(client)
        shards: list[httpx.AsyncClient] = []
        # HTTP/2 multiplexes over one connection per host: no point in sharding it
        if transport is None and not net.http2:
            one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            for _ in range(concurrency):
                shard = httpx.AsyncClient(limits=one, verify=ssl_context, **common)
                shards.append(await stack.enter_async_context(shard))
        yield Fetcher(
            client, net.timeout, bucket=bucket, host_headers=net.host_headers, shards=shards
        )
