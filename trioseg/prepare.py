"""From a manifest reference to a complete plan: the I/O the pure core leaves out.

1. :func:`load_manifest`: read the MPD from a URL (with retries) or a local file
   (``--base-url`` says where its relative references point), then fetch and
   substitute remote Periods (``xlink:href``, onLoad).
2. The pure core selects streams (:mod:`trioseg.formats`).
3. :func:`complete_plan`: fetch the ``sidx`` boxes of SegmentBase streams and expand
   them into ranged segments; cut a whole-file Representation into ranged requests
   when its origin serves ranges, so it downloads in parallel and resumes per piece.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import attrs
import trio

from .engine import Emit, unwrap_group
from .errors import FetchError, ManifestFetchError, UsageError
from .events import Notice
from .fetch import Fetcher
from .mpd import Manifest, ManifestLimits, parse_mpd, xlink_targets
from .plan import Plan, SegmentRef, StreamPlan
from .retry import RetryPolicy
from .sidx import IndexRequest, NeedMore, expand_index, split_segment

__all__ = ["WHOLE_FILE_CHUNK", "complete_plan", "load_manifest", "with_retries"]

#: a whole-file Representation is fetched in ranged pieces of this size
WHOLE_FILE_CHUNK = 8 * 1024 * 1024

T = TypeVar("T")


async def with_retries(
    what: str,
    attempt_once: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    emit: Emit | None = None,
    rng: random.Random | None = None,
) -> T:
    """Run ``attempt_once`` until it succeeds or the policy gives up (then
    :class:`ManifestFetchError` naming ``what``)."""
    rng = rng or random.Random()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await attempt_once()
        except FetchError as exc:
            if not policy.should_retry(exc, attempt):
                raise ManifestFetchError(f"cannot fetch {what}: {exc}") from None
            delay = policy.delay(exc, attempt, rng)
            if emit is not None:
                emit(Notice(f"{what}: {exc}; retry {attempt} in {delay:.1f} s"))
            await trio.sleep(delay)


def is_url(text: str) -> bool:
    return urlsplit(text).scheme in ("http", "https")


async def load_manifest(
    fetcher: Fetcher,
    source: str,
    policy: RetryPolicy,
    *,
    limits: ManifestLimits,
    base_url: str | None = None,
    emit: Emit | None = None,
) -> Manifest:
    """Read and parse the MPD at ``source`` (an http(s) URL or a local file)."""
    if is_url(source):

        async def get() -> tuple[bytes, str]:
            fetched = await fetcher.fetch_bytes(source, max_bytes=limits.max_bytes)
            return fetched.content, fetched.url

        body, url = await with_retries(f"manifest {source}", get, policy, emit=emit)
    else:
        body = _read_local(Path(source), limits)
        url = Path(source).resolve().as_uri()
    manifest = parse_mpd(body, base_url or url, limits=limits)
    targets = xlink_targets(manifest)
    if targets:
        bodies: dict[str, bytes] = {}
        for href in targets:
            if not is_url(href):
                raise UsageError(
                    f"remote Period {href} is relative to a local file; pass --base-url URL"
                )

            async def get_xlink(href: str = href) -> bytes:
                return (await fetcher.fetch_bytes(href, max_bytes=limits.max_bytes)).content

            bodies[href] = await with_retries(f"remote Period {href}", get_xlink, policy)
        manifest = parse_mpd(body, base_url or url, limits=limits, xlinks=bodies)
    return manifest


def _read_local(path: Path, limits: ManifestLimits) -> bytes:
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise UsageError(
                f"manifest {path} is {size} bytes, more than the limit of {limits.max_bytes}"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no such manifest file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read manifest {path}: {exc.strerror or exc}") from None


def check_fetchable(plan: Plan) -> None:
    """Every segment must have an http(s) URL (a local manifest needs ``--base-url``)."""
    for stream in plan.streams:
        refs = ([stream.init] if stream.init else []) + list(stream.segments)
        for ref in refs:
            if not is_url(ref.url):
                raise UsageError(
                    f"stream {stream.id} has segment URLs relative to a local file "
                    f"({ref.url}); pass --base-url with the manifest's original URL"
                )


async def _expand(
    fetcher: Fetcher,
    stream: StreamPlan,
    policy: RetryPolicy,
    limits: ManifestLimits,
    emit: Emit | None,
) -> StreamPlan:
    fetched: dict[IndexRequest, bytes] = {}
    while isinstance(step := expand_index(stream, fetched, limits=limits), NeedMore):
        try:
            async with trio.open_nursery() as nursery:
                for request in step.requests:
                    nursery.start_soon(_fetch_index, fetcher, request, fetched, policy, emit)
        except BaseExceptionGroup as group:
            raise unwrap_group(group) from None
    return step


async def _fetch_index(
    fetcher: Fetcher,
    request: IndexRequest,
    fetched: dict[IndexRequest, bytes],
    policy: RetryPolicy,
    emit: Emit | None,
) -> None:
    urls = request.urls

    async def get() -> bytes:
        nonlocal urls
        url, urls = urls[0], urls[1:] + urls[:1]  # fail over between alternatives
        return (await fetcher.fetch_bytes(url, byte_range=request.range)).content

    what = f"segment index {request.urls[0]} bytes {request.range}"
    fetched[request] = await with_retries(what, get, policy, emit=emit)


async def _split_whole_file(
    fetcher: Fetcher, stream: StreamPlan, policy: RetryPolicy, emit: Emit | None
) -> StreamPlan:
    """A Representation that is one plain file: ranged pieces when the origin allows."""
    (segment,) = stream.segments
    urls = segment.urls

    async def probe() -> tuple[int | None, bool]:
        return await fetcher.probe_size(urls[0])

    size, ranges = await with_retries(f"size of {urls[0]}", probe, policy, emit=emit)
    if not ranges or size is None or size <= WHOLE_FILE_CHUNK:
        return stream
    pieces = split_segment(segment, size, WHOLE_FILE_CHUNK)
    return attrs.evolve(stream, segments=pieces)


def _whole_file(stream: StreamPlan) -> bool:
    if stream.init is not None or len(stream.segments) != 1:
        return False
    only: SegmentRef = stream.segments[0]
    return only.byte_range is None and only.index is None


async def complete_plan(
    fetcher: Fetcher,
    plan: Plan,
    policy: RetryPolicy,
    *,
    limits: ManifestLimits,
    emit: Emit | None = None,
) -> Plan:
    """Expand segment indexes and split whole files; streams are done concurrently."""
    streams = list(plan.streams)

    async def one(i: int) -> None:
        stream = streams[i]
        if stream.pending_index:
            stream = await _expand(fetcher, stream, policy, limits, emit)
        if _whole_file(stream):
            stream = await _split_whole_file(fetcher, stream, policy, emit)
        streams[i] = stream

    try:
        async with trio.open_nursery() as nursery:
            for i in range(len(streams)):
                nursery.start_soon(one, i)
    except BaseExceptionGroup as group:
        raise unwrap_group(group) from None
    return attrs.evolve(plan, streams=tuple(streams))
