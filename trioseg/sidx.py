"""Segment indexes (ISO/IEC 14496-12 ``sidx``) and byte-range arithmetic, pure.

A Representation addressed by ``SegmentBase@indexRange`` is one file whose subsegments are
listed in a ``sidx`` box.  The engine fetches the index and hands the bytes to
:func:`expand_index`, which answers either with the finished :class:`StreamPlan` or with
:class:`NeedMore` (the child ``sidx`` boxes of a hierarchical index, still to fetch)::

    fetched: dict[IndexRequest, bytes] = {}
    while isinstance(step := expand_index(stream, fetched), NeedMore):
        for request in step.requests:              # may be fetched concurrently
            fetched[request] = await get(request.urls, request.range)
    stream = step

A file with no segment information at all downloads as one segment; when the origin
accepts ranges, :func:`split_segment` (or :func:`split_ranges`) cuts it into requests.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from typing import Literal

import attrs

from .errors import LimitExceeded, ManifestParseError
from .mpd import ManifestLimits
from .plan import ByteRange, IndexRef, SegmentRef, StreamPlan

__all__ = [
    "MAX_SIDX_DEPTH",
    "IndexRequest",
    "NeedMore",
    "Sidx",
    "SidxError",
    "SidxReference",
    "expand_index",
    "parse_sidx",
    "resolve_index",
    "split_ranges",
    "split_segment",
]

#: the deepest hierarchy of sidx boxes followed (root = 1)
MAX_SIDX_DEPTH = 8

_EPSILON = 1e-6


class SidxError(ManifestParseError):
    """A segment index that cannot be read (truncated, garbage, inconsistent)."""


@attrs.frozen
class SidxReference:
    """One entry of a sidx: a media subsegment, or (``kind == "index"``) a child sidx."""

    kind: Literal["media", "index"]
    #: absolute byte range in the file
    range: ByteRange
    #: presentation time in seconds on the file's timeline
    start: float
    duration: float
    starts_with_sap: bool = False


@attrs.frozen
class Sidx:
    reference_id: int
    timescale: int
    earliest_presentation_time: int
    first_offset: int
    #: where the box itself is, absolute
    box: ByteRange
    references: tuple[SidxReference, ...]


@attrs.frozen
class IndexRequest:
    """Bytes to fetch: ``range`` of any of ``urls``."""

    urls: tuple[str, ...]
    range: ByteRange


@attrs.frozen
class NeedMore:
    """Fetch these (all of them), add them to ``fetched`` and call again."""

    requests: tuple[IndexRequest, ...]


# -- box parsing ------------------------------------------------------------------------------


def _boxes(data: bytes) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, start, payload start, end) of each top-level box in ``data``."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < 8:
            raise SidxError(f"segment index: truncated box header at byte {pos}")
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if len(data) - pos < 16:
                raise SidxError(f"segment index: truncated box header at byte {pos}")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = len(data) - pos
        if size < header:
            raise SidxError(f"segment index: box at byte {pos} has an invalid size {size}")
        yield kind, pos, pos + header, pos + size
        pos += size


def parse_sidx(data: bytes, offset: int = 0) -> Sidx:
    """The first ``sidx`` box in ``data``, which starts at absolute file offset ``offset``.

    Other boxes before it (``styp``, ``free``) are skipped.  Raises :class:`SidxError` for
    anything that is not a complete, consistent sidx.
    """
    for kind, start, payload, end in _boxes(data):
        if kind != b"sidx":
            continue
        if end > len(data):
            raise SidxError(
                f"segment index: sidx box is {end - start} bytes but only "
                f"{len(data) - start} were received"
            )
        return _parse_sidx_payload(data[payload:end], offset + start, offset + end)
    raise SidxError(f"segment index: no sidx box in the {len(data)} bytes of the index range")


def _parse_sidx_payload(body: bytes, box_start: int, box_end: int) -> Sidx:
    try:
        version = body[0]
        if version > 1:
            raise SidxError(f"segment index: unsupported sidx version {version}")
        reference_id, timescale = struct.unpack_from(">II", body, 4)
        if version == 0:
            ept, first_offset = struct.unpack_from(">II", body, 12)
            pos = 20
        else:
            ept, first_offset = struct.unpack_from(">QQ", body, 12)
            pos = 28
        (count,) = struct.unpack_from(">H", body, pos + 2)
        pos += 4
    except (IndexError, struct.error):
        raise SidxError("segment index: truncated sidx header") from None
    if timescale == 0:
        raise SidxError("segment index: sidx timescale is 0")
    if len(body) - pos < 12 * count:
        raise SidxError(
            f"segment index: sidx lists {count} references but holds only {(len(body) - pos) // 12}"
        )
    references: list[SidxReference] = []
    anchor = box_end + first_offset
    time = ept
    for k in range(count):
        word, duration, sap = struct.unpack_from(">III", body, pos + 12 * k)
        size = word & 0x7FFFFFFF
        if size == 0:
            raise SidxError(f"segment index: reference {k} has size 0")
        references.append(
            SidxReference(
                kind="index" if word >> 31 else "media",
                range=ByteRange(anchor, anchor + size - 1),
                start=time / timescale,
                duration=duration / timescale,
                starts_with_sap=bool(sap >> 31),
            )
        )
        anchor += size
        time += duration
    return Sidx(
        reference_id=reference_id,
        timescale=timescale,
        earliest_presentation_time=ept,
        first_offset=first_offset,
        box=ByteRange(box_start, box_end - 1),
        references=tuple(references),
    )


# -- expansion ----------------------------------------------------------------------------------


def _lookup(fetched: Mapping[IndexRequest, bytes], request: IndexRequest) -> bytes | None:
    """The bytes of ``request``, from an exact match or any fetched range covering it."""
    data = fetched.get(request)
    if data is not None:
        return data
    want = request.range
    for have, body in fetched.items():
        if have.urls != request.urls or have.range.first > want.first:
            continue
        skip = want.first - have.range.first
        end = len(body) if want.last is None else want.last - have.range.first + 1
        if want.last is None or end <= len(body):
            return body[skip:end]
    return None


@attrs.define
class _Walk:
    ref: IndexRef
    fetched: Mapping[IndexRequest, bytes]
    limits: ManifestLimits
    pending: list[IndexRequest] = attrs.Factory(list)
    boxes: int = 0

    def visit(self, request: IndexRequest, depth: int, out: list[SidxReference]) -> None:
        data = _lookup(self.fetched, request)
        if data is None:
            self.pending.append(request)
            return
        self.boxes += 1
        if self.boxes > self.limits.max_index_requests:
            raise LimitExceeded(
                f"segment index: more than {self.limits.max_index_requests} sidx boxes"
            )
        sidx = parse_sidx(data, request.range.first)
        for reference in sidx.references:
            if reference.kind == "media":
                out.append(reference)
                if len(out) > self.limits.max_segments:
                    raise LimitExceeded(
                        f"segment index: more than the limit of {self.limits.max_segments} segments"
                    )
            elif depth >= MAX_SIDX_DEPTH:
                raise LimitExceeded(
                    f"segment index: sidx hierarchy deeper than {MAX_SIDX_DEPTH} levels"
                )
            else:
                self.visit(IndexRequest(request.urls, reference.range), depth + 1, out)


def resolve_index(
    ref: IndexRef,
    fetched: Mapping[IndexRequest, bytes],
    *,
    limits: ManifestLimits | None = None,
) -> tuple[SegmentRef, ...] | NeedMore:
    """The media segments ``ref``'s index lists, or the sidx boxes still to fetch."""
    walk = _Walk(ref, fetched, limits or ManifestLimits())
    found: list[SidxReference] = []
    walk.visit(IndexRequest(ref.fetch_urls, ref.range), 1, found)
    if walk.pending:
        return NeedMore(tuple(dict.fromkeys(walk.pending)))
    if ref.window is not None:
        low, high = ref.window
        found = [r for r in found if low - _EPSILON <= r.start < high - _EPSILON]
    return tuple(
        SegmentRef(ref.urls, r.range, r.start - ref.offset, r.duration, ref.period) for r in found
    )


def expand_index(
    stream: StreamPlan,
    fetched: Mapping[IndexRequest, bytes],
    *,
    limits: ManifestLimits | None = None,
) -> StreamPlan | NeedMore:
    """``stream`` with each index placeholder replaced by its init and ranged segments.

    ``fetched`` maps each request already made to the bytes received (a larger range
    covering a request serves it too).  With nothing fetched yet the answer is the root
    index ranges.  A stream without placeholders is returned unchanged.
    """
    limits = limits or ManifestLimits()
    pending: list[IndexRequest] = []
    segments: list[SegmentRef] = []
    init = stream.init
    current = stream.init
    seen: set[tuple[tuple[str, ...], ByteRange | None]] = set()

    def add(segment: SegmentRef) -> None:
        key = (segment.urls, segment.byte_range)
        if key not in seen:
            seen.add(key)
            segments.append(segment)

    for segment in stream.segments:
        if segment.index is None:
            if segment.is_init:
                current = segment
            else:
                seen.add((segment.urls, segment.byte_range))
            segments.append(segment)
            continue
        result = resolve_index(segment.index, fetched, limits=limits)
        if isinstance(result, NeedMore):
            pending.extend(result.requests)
            continue
        own_init = segment.index.init
        if init is None and not segments:
            init = current = own_init
        elif own_init is not None and not _same(own_init, current):
            current = attrs.evolve(own_init, is_init=True)
            segments.append(current)
        for media in result:
            add(media)
    if pending:
        return NeedMore(tuple(dict.fromkeys(pending)))
    if len(segments) > limits.max_segments:
        raise LimitExceeded(
            f"Representation {stream.id!r} has {len(segments)} segments, "
            f"more than the limit of {limits.max_segments}"
        )
    return attrs.evolve(stream, init=init, segments=tuple(segments))


def _same(a: SegmentRef, b: SegmentRef | None) -> bool:
    return b is not None and a.urls == b.urls and a.byte_range == b.byte_range


# -- splitting whole files ------------------------------------------------------------------------


def split_ranges(size: int, chunk: int) -> tuple[ByteRange, ...]:
    """``size`` bytes as consecutive inclusive ranges of at most ``chunk`` bytes."""
    if chunk <= 0:
        raise ValueError(f"chunk must be positive, got {chunk}")
    if size < 0:
        raise ValueError(f"size must not be negative, got {size}")
    return tuple(ByteRange(first, min(first + chunk, size) - 1) for first in range(0, size, chunk))


def split_segment(segment: SegmentRef, size: int, chunk: int) -> tuple[SegmentRef, ...]:
    """A whole-file ``segment`` of ``size`` bytes as ranged requests of ``chunk`` bytes.

    Times are shared out in proportion to the bytes.
    """
    ranges = split_ranges(size, chunk)
    if segment.byte_range is not None:
        raise ValueError("split_segment: the segment already has a byte range")
    out: list[SegmentRef] = []
    for r in ranges:
        share = (r.length or 0) / size if size else 0.0
        start = duration = None
        if segment.duration is not None:
            duration = segment.duration * share
            start = (segment.start or 0.0) + segment.duration * r.first / size
        out.append(attrs.evolve(segment, byte_range=r, start=start, duration=duration))
    return tuple(out)
