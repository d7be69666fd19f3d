"""A small HTTP/1.1 origin server (trio + h11) serving a directory, with scripted faults.

Used by ``trioseg --demo``, the integration tests and the benchmarks::

    origin = Origin(root, faults=FaultPlan({"/v/3.m4s": [Fault.http_status(503, retry_after="1")]}))
    async with trio.open_nursery() as nursery:
        base_url = await nursery.start(origin.serve)
        ...
        nursery.cancel_scope.cancel()

It serves files under ``root`` for GET and HEAD with keep-alive, ``Content-Length``,
``Content-Type`` by extension and single byte ranges (206, 416). Every request is logged in
:attr:`Origin.requests`. A :class:`FaultPlan` can make a request fail instead:

``status``
    answer with an error status, optionally with ``Retry-After``;
``reset``
    send the headers and part of the body, then abort the connection (TCP RST);
``truncate``
    send the headers (full ``Content-Length``) and part of the body, then close cleanly;
``stall``
    send the headers and part of the body, go quiet for ``seconds``, then send the rest.

``routes`` answers some paths from code instead of files (the live origin,
:mod:`trioseg.liveorigin`): it is called with the method and path of every request that no
fault took, and its ``(status, headers, body)`` is sent when it returns one.
"""

from __future__ import annotations

import email.utils
import fnmatch
import logging
import mimetypes
import os
import random
import socket
import ssl
import struct
from collections import Counter
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, closing, contextmanager, suppress
from itertools import count as _counter
from pathlib import Path
from stat import S_ISREG
from typing import Literal
from urllib.parse import unquote_to_bytes, urlsplit

import attrs
import h11
import trio

__all__ = [
    "Fault",
    "FaultKind",
    "FaultPlan",
    "Origin",
    "RequestInfo",
    "RequestRecord",
    "Route",
    "open_origin",
]

log = logging.getLogger(__name__)

FaultKind = Literal["status", "reset", "truncate", "stall"]
FAULT_KINDS: tuple[FaultKind, ...] = ("status", "reset", "truncate", "stall")

CHUNK_SIZE = 64 * 1024
STALL_FOREVER = 3600.0
_CONTENT_TYPES = {
    ".mpd": "application/dash+xml",
    ".m4s": "video/mp4",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".m4a": "audio/mp4",
    ".xml": "application/xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


def _retry_after(value: str | int | float | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


@attrs.frozen
class Fault:
    """One scripted failure; build it with a named constructor."""

    kind: FaultKind = attrs.field(validator=attrs.validators.in_(FAULT_KINDS))
    status: int = 503
    retry_after: str | None = attrs.field(default=None, converter=_retry_after)
    after_bytes: int | None = None
    seconds: float = STALL_FOREVER

    @classmethod
    def http_status(cls, status: int = 503, *, retry_after: str | float | None = None) -> Fault:
        """Answer ``status``; ``retry_after`` is sent as given ("2" or an HTTP date)."""
        return cls("status", status=status, retry_after=retry_after)

    @classmethod
    def connection_reset(cls, after_bytes: int | None = None) -> Fault:
        """Send ``after_bytes`` of the body (default half), then reset the connection."""
        return cls("reset", after_bytes=after_bytes)

    @classmethod
    def truncated(cls, after_bytes: int | None = None) -> Fault:
        """Send ``after_bytes`` of the body (default half), then close the connection."""
        return cls("truncate", after_bytes=after_bytes)

    @classmethod
    def stalled(cls, seconds: float = STALL_FOREVER, *, after_bytes: int | None = None) -> Fault:
        """Send ``after_bytes`` of the body (default half), pause ``seconds``, then the rest."""
        return cls("stall", seconds=seconds, after_bytes=after_bytes)

    def cut(self, length: int) -> int:
        """How many body bytes of a ``length``-byte body are sent before the fault strikes."""
        if self.after_bytes is None:
            return length // 2
        return max(0, min(self.after_bytes, length))


@attrs.frozen
class RequestInfo:
    """What a fault chooser sees: the request, and how many earlier requests hit its path."""

    method: str
    path: str
    range: str | None
    attempt: int


@attrs.frozen
class RequestRecord:
    """One answered (or abandoned) request, as logged by the origin."""

    method: str
    path: str
    range: str | None
    status: int
    bytes_sent: int
    fault: FaultKind | None = None
    connection: int = 0
    completed: bool = True
    #: the request's headers, names in lower case
    headers: tuple[tuple[str, str], ...] = ()
    #: the request target as sent (absolute-form when it came through a proxy)
    target: str = ""
    #: trio's clock when the request was read, and when the exchange ended
    started: float = 0.0
    ended: float = 0.0

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)


FaultChooser = Callable[[RequestInfo], Fault | None]
#: (method, path) -> (status, headers, body), or None to serve the file
Route = Callable[[str, str], tuple[int, list[tuple[str, str]], bytes] | None]


def _normalize_path(path: str) -> str:
    return "/" + path.lstrip("/")


def _target_path(target: str) -> str:
    """The path part of a request target (origin-form or absolute-form), query dropped."""
    if target.lower().startswith(("http://", "https://")):
        return urlsplit(target).path or "/"
    return target.split("?", 1)[0].split("#", 1)[0]


def _script(value: Mapping[str, Sequence[Fault]]) -> dict[str, list[Fault]]:
    return {_normalize_path(path): list(faults) for path, faults in value.items()}


@attrs.define
class FaultPlan:
    """Faults per path, consumed in order (one per request), then an optional chooser.

    Paths are URL paths (``"/video/1.m4s"``; the leading slash is optional, queries ignored).
    """

    script: dict[str, list[Fault]] = attrs.field(factory=dict, converter=_script)
    chooser: FaultChooser | None = None

    def add(self, path: str, *faults: Fault) -> FaultPlan:
        self.script.setdefault(_normalize_path(path), []).extend(faults)
        return self

    def pending(self, path: str) -> int:
        """Scripted faults not yet consumed for ``path``."""
        return len(self.script.get(_normalize_path(path), ()))

    def take(self, info: RequestInfo) -> Fault | None:
        queue = self.script.get(info.path)
        if queue:
            return queue.pop(0)
        if self.chooser is not None:
            return self.chooser(info)
        return None

    @classmethod
    def random(
        cls,
        *,
        rate: float,
        seed: int = 0,
        kinds: Sequence[FaultKind] = ("status", "reset", "truncate"),
        statuses: Sequence[int] = (500, 503),
        retry_after: str | None = None,
        stall_seconds: float = STALL_FOREVER,
        pattern: str = "*.m4s",
        max_per_path: int | None = None,
    ) -> FaultPlan:
        """Fail a ``rate`` share of requests to paths matching ``pattern`` (fnmatch).

        The decision for the n-th request to a path depends only on ``seed``, the path and n,
        so it does not depend on the order concurrent requests arrive in. With
        ``max_per_path``, requests after that many to one path are never faulted.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}")
        kind_choices = tuple(kinds)
        status_choices = tuple(statuses)

        def choose(info: RequestInfo) -> Fault | None:
            if not kind_choices or not fnmatch.fnmatchcase(info.path, pattern):
                return None
            if max_per_path is not None and info.attempt >= max_per_path:
                return None
            rng = random.Random(f"{seed}:{info.path}:{info.attempt}")
            if rng.random() >= rate:
                return None
            kind = rng.choice(kind_choices)
            if kind == "status":
                return Fault.http_status(rng.choice(status_choices), retry_after=retry_after)
            if kind == "stall":
                return Fault.stalled(stall_seconds)
            return Fault(kind)

        return cls(chooser=choose)


@attrs.frozen
class _FileBody:
    path: Path
    offset: int
    length: int


@attrs.frozen
class _Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes | _FileBody

    @property
    def length(self) -> int:
        return len(self.body) if isinstance(self.body, bytes) else self.body.length


class _ConnectionAborted(Exception):
    """The fault ended the connection on purpose."""


class _ClientGone(Exception):
    """The client closed the connection while the origin was waiting."""


class Origin:
    """Serve ``root`` over HTTP/1.1 on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        root: Path,
        *,
        latency: float = 0.0,
        faults: FaultPlan | None = None,
        ssl_context: ssl.SSLContext | None = None,
        routes: Route | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.routes = routes
        self.ssl_context = ssl_context
        self.latency = latency
        self.faults = faults if faults is not None else FaultPlan()
        self.requests: list[RequestRecord] = []
        self.connections_total = 0
        self.active_connections = 0
        self._base_url: str | None = None
        self._hits: Counter[str] = Counter()
        self._connection_ids = _counter(1)
        #: request target → the file it resolved to (checked again by each stat)
        self._files: dict[str, Path] = {}
        self._dates: dict[float, str] = {}

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the origin has not started")
        return self._base_url

    def url(self, path: str) -> str:
        return self.base_url + path.lstrip("/")

    def count(self, path: str) -> int:
        """How many requests hit ``path`` (so far, including any in progress)."""
        return self._hits[_normalize_path(_target_path(path))]

    async def serve(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Bind, report the base URL through ``task_status``, serve until cancelled."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        for extra in listeners[1:]:
            extra.socket.close()
        listener = listeners[0]
        bound_host, bound_port = listener.socket.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        scheme = "https" if self.ssl_context is not None else "http"
        self._base_url = f"{scheme}://{shown}:{bound_port}/"
        log.info("origin serving %s at %s", self.root, self._base_url)
        handler = self._handle_connection if self.ssl_context is None else self._handle_tls
        async with listener:
            task_status.started(self._base_url)
            await trio.serve_listeners(handler, [listener])

    async def _handle_tls(self, stream: trio.SocketStream) -> None:
        assert self.ssl_context is not None
        tls = trio.SSLStream(stream, self.ssl_context, server_side=True)
        try:
            await tls.do_handshake()
        except trio.BrokenResourceError as exc:
            log.info("origin: TLS handshake failed: %s", exc.__cause__ or exc)
            await stream.aclose()
            return
        await self._handle_connection(tls)

    async def _handle_connection(self, stream: trio.abc.Stream) -> None:
        conn_id = next(self._connection_ids)
        self.connections_total += 1
        self.active_connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_request(stream, conn)
                if request is None:
                    return
                await self._answer(stream, conn, request, conn_id)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except _ConnectionAborted:
            pass
        except (_ClientGone, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            log.info("origin: connection %d: client went away (%s)", conn_id, exc)
        except h11.RemoteProtocolError as exc:
            log.info("origin: connection %d: protocol error: %s", conn_id, exc)
            await self._send_bad_request(stream, conn)
        except OSError as exc:
            log.warning("origin: connection %d: %s", conn_id, exc)
        finally:
            self.active_connections -= 1
            await trio.aclose_forcefully(stream)

    async def _receive_into(self, stream: trio.abc.Stream, conn: h11.Connection) -> None:
        conn.receive_data(bytes(await stream.receive_some(CHUNK_SIZE)))

    async def _read_request(
        self, stream: trio.abc.Stream, conn: h11.Connection
    ) -> h11.Request | None:
        request: h11.Request | None = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                try:
                    await self._receive_into(stream, conn)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return None
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                return request
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    async def _send_bad_request(self, stream: trio.abc.Stream, conn: h11.Connection) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = b"bad request\n"
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
            headers = [("Content-Length", str(len(body))), ("Connection", "close")]
            await stream.send_all(conn.send(h11.Response(status_code=400, headers=headers)))
            await stream.send_all(conn.send(h11.Data(data=body)))
            await stream.send_all(conn.send(h11.EndOfMessage()))

    async def _answer(
        self,
        stream: trio.abc.Stream,
        conn: h11.Connection,
        request: h11.Request,
        conn_id: int,
    ) -> None:
        method = request.method.decode("ascii", "replace")
        target = request.target.decode("latin-1")
        path = _normalize_path(_target_path(target))
        range_header = _header(request, b"range")
        attempt = self._hits[path]
        self._hits[path] += 1
        fault = self.faults.take(RequestInfo(method, path, range_header, attempt))
        reply = self._reply(method, target, range_header, fault)
        fault_kind: FaultKind | None = None if fault is None else fault.kind
        index = len(self.requests)
        sent = 0
        finished = False

        def note(bytes_sent: int, completed: bool) -> None:
            # Written before the bytes that complete (or break) the exchange go out, so the
            # log is up to date by the time the client sees the outcome.
            self.requests[index] = attrs.evolve(
                self.requests[index],
                bytes_sent=bytes_sent,
                completed=completed,
                ended=trio.current_time(),
            )

        async def send_body(stop: int, *, final: bool) -> None:
            nonlocal sent
            with closing(_chunks(reply.body, stop, start=sent)) as chunks:
                for chunk in chunks:
                    if final and sent + len(chunk) == stop:
                        note(stop, True)
                    await stream.send_all(conn.send(h11.Data(data=chunk)))
                    sent += len(chunk)

        headers = tuple(
            (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.headers
        )
        self.requests.append(
            RequestRecord(
                method,
                path,
                range_header,
                reply.status,
                0,
                fault_kind,
                conn_id,
                False,
                headers,
                target,
                trio.current_time(),
            )
        )
        try:
            if self.latency > 0:
                await trio.sleep(self.latency)
            body_length = 0 if method == "HEAD" else reply.length
            whole = fault is None or fault.kind in ("status", "stall")
            cut = body_length if fault is None or fault.kind == "status" else fault.cut(body_length)
            if whole and body_length == 0:
                note(0, True)
            head = h11.Response(status_code=reply.status, headers=reply.headers)
            if fault is None and body_length <= CHUNK_SIZE:
                # a small whole body: head, body and end in one write
                data = b"".join(_chunks(reply.body, body_length))
                events: list[h11.Response | h11.Data | h11.EndOfMessage] = [head]
                if data:
                    events.append(h11.Data(data=data))
                events.append(h11.EndOfMessage())
                message = b"".join(conn.send(event) or b"" for event in events)
                note(body_length, True)
                await stream.send_all(message)
                sent = body_length
                finished = True
                return
            await stream.send_all(conn.send(head))
            await send_body(cut, final=whole and cut == body_length)
            if fault is not None and fault.kind == "reset":
                note(sent, False)
                _abort(stream)
                raise _ConnectionAborted
            if fault is not None and fault.kind == "truncate":
                note(sent, False)
                await stream.aclose()
                raise _ConnectionAborted
            if fault is not None and fault.kind == "stall":
                await self._stall(stream, conn, fault.seconds)
            await send_body(body_length, final=True)
            await stream.send_all(conn.send(h11.EndOfMessage()))
            finished = True
        finally:
            note(sent, finished)

    async def _stall(self, stream: trio.abc.Stream, conn: h11.Connection, seconds: float) -> None:
        gone = False
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                nonlocal gone
                while True:
                    try:
                        data = await stream.receive_some(CHUNK_SIZE)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        data = b""
                    if not data:
                        gone = True
                        nursery.cancel_scope.cancel()
                        return
                    conn.receive_data(bytes(data))

            nursery.start_soon(watch)
            await trio.sleep(seconds)
            nursery.cancel_scope.cancel()
        if gone:
            raise _ClientGone("closed during a stall")

    def _reply(
        self, method: str, target: str, range_header: str | None, fault: Fault | None
    ) -> _Reply:
        if fault is not None and fault.kind == "status":
            extra = [] if fault.retry_after is None else [("Retry-After", fault.retry_after)]
            return _text_reply(fault.status, f"injected fault: {fault.status}", extra)
        if self.routes is not None:
            routed = self.routes(method, _target_path(target))
            if routed is not None:
                status, headers, body = routed
                if not any(name.lower() == "content-length" for name, _ in headers):
                    headers = [*headers, _length(len(body))]
                return _Reply(status, list(headers), body)
        if method not in ("GET", "HEAD"):
            return _text_reply(405, "method not allowed", [("Allow", "GET, HEAD")])
        file = self._files.get(target) or self._lookup(target)
        try:
            stat = None if file is None else file.stat()
        except OSError:
            stat = None
        if file is None or stat is None or not S_ISREG(stat.st_mode):
            self._files.pop(target, None)
            return _text_reply(404, "not found")
        self._files[target] = file
        size = stat.st_size
        date = self._dates.get(stat.st_mtime)
        if date is None:
            date = self._dates[stat.st_mtime] = email.utils.formatdate(stat.st_mtime, usegmt=True)
        headers = [
            ("Content-Type", _content_type(file)),
            ("Accept-Ranges", "bytes"),
            ("Last-Modified", date),
        ]
        byte_range = _parse_range(range_header, size)
        if byte_range == "unsatisfiable":
            return _text_reply(416, "range not satisfiable", [("Content-Range", f"bytes */{size}")])
        if byte_range is None:
            return _Reply(200, [*headers, _length(size)], _FileBody(file, 0, size))
        first, last = byte_range
        length = last - first + 1
        headers += [("Content-Range", f"bytes {first}-{last}/{size}"), _length(length)]
        return _Reply(206, headers, _FileBody(file, first, length))

    def _lookup(self, target: str) -> Path | None:
        """The file ``target`` names under the root, or None (missing, or outside the root)."""
        raw_path = _target_path(target)
        if not raw_path.startswith("/"):
            return None
        try:
            decoded = unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError:
            return None
        parts = [part for part in decoded.split("/") if part]
        if any(part in (".", "..") or "\\" in part or "\0" in part for part in parts):
            return None
        candidate = self.root.joinpath(*parts)
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self.root) or not resolved.is_file():
            return None
        return resolved


@asynccontextmanager
async def open_origin(
    root: Path,
    *,
    latency: float = 0.0,
    faults: FaultPlan | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Origin]:
    """Run an :class:`Origin` for the duration of the ``async with`` block."""
    origin = Origin(root, latency=latency, faults=faults, ssl_context=ssl_context)
    async with trio.open_nursery() as nursery:

        async def run(task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
            await origin.serve(host=host, port=port, task_status=task_status)

        await nursery.start(run)
        try:
            yield origin
        finally:
            nursery.cancel_scope.cancel()


def _header(request: h11.Request, name: bytes) -> str | None:
    for key, value in request.headers:
        if key == name:
            return value.decode("latin-1")
    return None


def _length(n: int) -> tuple[str, str]:
    return ("Content-Length", str(n))


def _text_reply(status: int, text: str, extra: Sequence[tuple[str, str]] = ()) -> _Reply:
    body = (text + "\n").encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), _length(len(body)), *extra]
    return _Reply(status, headers, body)


def _content_type(path: Path) -> str:
    known = _CONTENT_TYPES.get(path.suffix.lower())
    if known is not None:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _parse_range(
    header: str | None, size: int
) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """A single ``bytes=`` range as inclusive (first, last); None means serve it all."""
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    start_text, dash, end_text = spec.strip().partition("-")
    start_text, end_text = start_text.strip(), end_text.strip()
    if not dash or not (start_text + end_text).isdigit():
        return None
    if not start_text:
        suffix = int(end_text)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    first = int(start_text)
    last = int(end_text) if end_text else size - 1
    if end_text and last < first:
        return None
    if first >= size:
        return "unsatisfiable"
    return first, min(last, size - 1)


def _chunks(body: bytes | _FileBody, stop: int, *, start: int = 0) -> Generator[bytes, None, None]:
    """Body bytes ``start:stop``, at most CHUNK_SIZE at a time, read from disk as needed."""
    if isinstance(body, bytes):
        for offset in range(start, stop, CHUNK_SIZE):
            yield body[offset : min(stop, offset + CHUNK_SIZE)]
        return
    with _open_fd(body.path) as fd:
        offset = start
        while offset < stop:
            data = os.pread(fd, min(CHUNK_SIZE, stop - offset), body.offset + offset)
            if not data:
                raise OSError(f"{body.path} shrank while being served")
            offset += len(data)
            yield data


@contextmanager
def _open_fd(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        yield fd
    finally:
        os.close(fd)


def _abort(stream: trio.abc.Stream) -> None:
    """Close with SO_LINGER 0 so the peer gets a TCP RST rather than a FIN."""
    while isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    if not isinstance(stream, trio.SocketStream):
        return
    with suppress(OSError):
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()
