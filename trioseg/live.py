"""Live presentations, pure: which segments a ``type="dynamic"`` MPD offers at a given time.

:func:`live_view` turns a parsed :class:`~trioseg.mpd.Manifest` and a wall-clock time into a
:class:`LiveView`: the selected tracks, each with the segments that are available (or about to
be) and not yet expired, in presentation order, plus when to refresh the manifest and where
from.  Nothing here does I/O or knows about trio; the engine fetches, the clock is an argument.

Timing (ISO/IEC 23009-1 5.3.9.5 and DASH-IF IOP 4.3), all in epoch seconds:

- a segment ending at ``end`` (seconds after its Period's start, presentationTimeOffset
  removed) becomes available at ``AST + Period@start + end - availabilityTimeOffset``;
- it stays available until ``AST + Period@start + end + duration + timeShiftBufferDepth``
  (forever without a timeShiftBufferDepth);
- a static MPD's segments are all available from ``availabilityStartTime`` (or always).

The arithmetic is exact (:class:`fractions.Fraction` and integer ticks): MPD times are read at
microsecond precision, so the availability of segment 1,000,000 is as exact as that of segment
1.  Segment numbers are derived from the clock (``startNumber + floor(...)``), so a DVR window
of any length costs nothing until its segments are listed, and no more than
:attr:`ManifestLimits.max_segments` per track are ever listed at once.

Use: the first view of a recording is ``live_view(m, spec, now, edge=True)`` (from the live
edge) or ``live_view(m, spec, now)`` (the whole DVR window); each refresh then calls
``live_view(m2, spec, now2, previous=view, since=start)`` and fetches the segments whose
ident it has not seen, each from its :attr:`LiveSegment.available_at`.

Identity: a segment's :attr:`LiveSegment.ident` is ``"<period>:<number>"`` (``"<period>:t<time>"``
for ``$Time$`` timelines, whose numbering servers rarely keep stable) and does not change from one
manifest refresh to the next; a track's :attr:`LiveTrack.id` stays the same across refreshes
and Periods (pass the previous view as ``previous=`` to keep it when the first Period it was
chosen in leaves the manifest).
"""

from __future__ import annotations

import datetime
import email.utils
import math
import re
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import cast
from urllib.parse import urljoin

import attrs

from .addressing import _template_init, address, url_builder
from .errors import ManifestError, ManifestParseError, UnsupportedManifest
from .formats import DEFAULT_SPEC, FormatSpec, _Selection, apply_spec, parse_format_spec
from .mpd import (
    AdaptationSet,
    Manifest,
    ManifestLimits,
    Period,
    Representation,
    SegmentInfo,
    TimelineEntry,
    UTCTiming,
    datetime_seconds,
)
from .plan import ByteRange, Kind, SegmentRef
from .select import (
    _content,
    _continue,
    _match,
    container_hint,
    encrypted_message,
    period_tracks,
)

__all__ = [
    "LiveSegment",
    "LiveTrack",
    "LiveView",
    "UTCTimingSource",
    "clock_offset",
    "live_view",
    "parse_utc_response",
    "supported_timing",
    "timing_kind",
]

#: an MPD-level UTCTiming: ``scheme`` (schemeIdUri) and ``value``
UTCTimingSource = UTCTiming

#: the shortest manifest refresh interval :attr:`LiveView.next_refresh` asks for
MIN_REFRESH = 0.5

_MICRO = 1_000_000
_UNKNOWN_STEP = Fraction(1, 1000)
#: availability is compared with the clock to the microsecond: a segment available at ``t``
#: is listed by ``live_view(..., now=float(t))`` even if the float rounded ``t`` down
_SLACK = Fraction(1, _MICRO)


# -- UTCTiming ----------------------------------------------------------------------------------

_UTC_URN = re.compile(r"urn:mpeg:dash:utc:([A-Za-z-]+):\d{4}\Z")
_SUPPORTED = ("http-head", "http-iso", "http-xsdate", "direct")


def timing_kind(scheme: str) -> str:
    """``urn:mpeg:dash:utc:http-iso:2014`` → ``http-iso`` (other URIs are returned as given)."""
    match = _UTC_URN.match(scheme.strip())
    return match.group(1).lower() if match else scheme.strip()


def supported_timing(sources: Sequence[UTCTiming]) -> tuple[UTCTiming, ...]:
    """The sources :func:`parse_utc_response` can read, in the MPD's order (its preference)."""
    return tuple(s for s in sources if timing_kind(s.scheme) in _SUPPORTED)


def parse_utc_response(scheme: str, payload: str) -> float:
    """Epoch seconds from what a UTCTiming source answered.

    ``payload`` is the ``Date`` header value for ``http-head``, the response body for
    ``http-iso`` and ``http-xsdate`` (ISO 8601 / xs:dateTime), and the UTCTiming@value itself
    for ``direct``.  Raises :class:`ManifestParseError` when no time can be read and
    :class:`UnsupportedManifest` for schemes that need another protocol (ntp, sntp, http-ntp).
    """
    kind = timing_kind(scheme)
    if kind not in _SUPPORTED:
        raise UnsupportedManifest(
            f"UTCTiming {kind!r} is not supported (http-head, http-iso, http-xsdate and direct are)"
        )
    text = payload.strip()
    try:
        if kind == "http-head":
            value = email.utils.parsedate_to_datetime(text)
            if value.tzinfo is None:
                value = value.replace(tzinfo=datetime.UTC)
            return value.timestamp()
        return float(datetime_seconds(text))
    except (TypeError, ValueError, OverflowError, IndexError):
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ManifestParseError(f"UTCTiming {kind}: cannot read a time from {shown!r}") from None


def clock_offset(server_time: float, sent: float, received: float) -> float:
    """Seconds to add to the local clock to get the server's: ``server_time`` was read by a
    request sent at local time ``sent`` and answered at ``received`` (half the round trip)."""
    return server_time - (sent + received) / 2


# -- the view -----------------------------------------------------------------------------------


@attrs.frozen
class LiveSegment:
    """One media segment of a live track."""

    #: unique within a track and stable across refreshes: ``"<period>:<number>"``
    #: (``"<period>:t<time>"`` for $Time$ timelines)
    ident: str
    #: epoch seconds of the segment's presentation start: the sort key, continuous
    #: across Periods
    order: float
    #: URLs (every BaseURL alternative), byte range, start/duration (seconds from the Period
    #: start), Period key
    ref: SegmentRef
    #: epoch seconds from which the origin serves it (``-inf``: always)
    available_at: float
    #: epoch seconds from which the origin may no longer serve it; None: never
    expires_at: float | None
    #: the segment number ($Number$, or the position in a SegmentList)
    number: int = 0

    @property
    def end(self) -> float:
        """Epoch seconds of the segment's presentation end (its start when unknown)."""
        return self.order + (self.ref.duration or 0.0)


@attrs.frozen
class LiveTrack:
    """One selected track: a Representation followed through the Periods."""

    #: stable output-stream id across refreshes and Periods
    id: str
    kind: Kind
    codecs: str | None
    bandwidth: int
    width: int | None
    height: int | None
    lang: str | None
    container: str | None
    #: the init segment of the newest Period that has segments in the view
    init: SegmentRef | None
    #: the init segment of each Period (key) that has segments in the view
    inits: Mapping[str, SegmentRef]
    #: sorted by order
    segments: tuple[LiveSegment, ...]
    mime_type: str | None = None
    frame_rate: str | None = None
    roles: tuple[str, ...] = ()
    #: the Representation followed in each Period (key) of the manifest, oldest first
    representations: Mapping[str, Representation] = attrs.field(factory=dict)

    def since(self, start: float) -> tuple[LiveSegment, ...]:
        """The segments that end after ``start`` (epoch seconds)."""
        return tuple(s for s in self.segments if s.end > start)

    def init_for(self, segment: LiveSegment) -> SegmentRef | None:
        """The init segment that must precede ``segment`` (its Period's)."""
        key = segment.ref.period
        return self.inits.get(key) if key is not None else self.init


@attrs.frozen
class LiveView:
    """What a manifest offers at one instant."""

    #: the MPD is type="static": everything listed is final, record it and stop
    static: bool
    tracks: tuple[LiveTrack, ...]
    #: epoch seconds at which to fetch the manifest again; None: static or no
    #: minimumUpdatePeriod (the MPD does not change: call live_view again at next_available)
    next_refresh: float | None
    #: the first <Location>, absolute: where the next refresh goes
    location: str | None
    #: the UTCTiming sources, http URLs made absolute
    utc_timing: tuple[UTCTimingSource, ...]
    #: epoch seconds of the newest available media end (``now`` when nothing is available)
    live_edge: float
    period_notes: tuple[str, ...]
    #: where a recording that starts at the live edge begins (epoch seconds): the earliest
    #: start, over the tracks, of each track's newest available segment; None when nothing
    #: is available yet
    edge_start: float | None = None
    #: epoch seconds at which the next segment not listed becomes available, when the
    #: manifest already says (templates, open timelines); None otherwise
    next_available: float | None = None
    suggested_presentation_delay: float | None = None

    def track(self, track_id: str) -> LiveTrack:
        for track in self.tracks:
            if track.id == track_id:
                return track
        raise KeyError(track_id)


# -- exact time -----------------------------------------------------------------------------------


def _exact(seconds: float) -> Fraction:
    """``seconds`` (parsed from an MPD at microsecond precision) as an exact fraction."""
    return Fraction(round(Fraction(seconds) * _MICRO), _MICRO)


def _floor(x: Fraction) -> int:
    return math.floor(x)


def _ceil(x: Fraction) -> int:
    return math.ceil(x)


@attrs.frozen
class _Clock:
    dynamic: bool
    #: availabilityStartTime (epoch seconds); None for a static MPD without one
    ast: Fraction | None
    now: Fraction
    #: the latest availability listed: now + horizon, capped by availabilityEndTime
    until: Fraction
    tsbd: Fraction | None

    @property
    def ready(self) -> Fraction:
        """The latest availability that counts as available now."""
        return self.now + _SLACK

    @property
    def origin(self) -> Fraction:
        return self.ast if self.ast is not None else Fraction(0)


@attrs.frozen
class _Span:
    """Segments of equal duration, one after the other, of one Representation in one Period."""

    key: str
    #: epoch seconds of the Period start
    wall: Fraction
    ts: int
    #: ticks from the Period start to the start of segment 0 (presentationTimeOffset removed)
    t0: int
    #: ticks per segment; None when the manifest gives no times
    d: int | None
    #: number and media time ($Time$) of segment 0
    n0: int
    media0: int
    #: segments in the span; None: unbounded
    count: int | None
    ato: Fraction
    by_time: bool
    #: (index, number, time) -> (urls, byte range)
    locate: Callable[[int, int, int], tuple[tuple[str, ...], ByteRange | None]]

    def start(self, j: int) -> Fraction:
        if self.d is None:
            return j * _UNKNOWN_STEP
        return Fraction(self.t0 + j * self.d, self.ts)

    def end(self, j: int) -> Fraction:
        if self.d is None:
            return self.start(j)
        return Fraction(self.t0 + (j + 1) * self.d, self.ts)

    def first_ending_after(self, t: Fraction) -> int:
        """The smallest index whose end is after epoch ``t``."""
        assert self.d is not None
        return _floor(((t - self.wall) * self.ts - self.t0) / self.d)

    def last_available_by(self, t: Fraction) -> int:
        """The largest index available at epoch ``t``."""
        assert self.d is not None
        return _floor(((t - self.wall + self.ato) * self.ts - self.t0) / self.d) - 1

    def available(self, j: int, clock: _Clock) -> Fraction | None:
        """Epoch seconds; None: always."""
        if not clock.dynamic:
            return clock.ast
        if self.d is None:
            return None
        return self.wall + self.end(j) - self.ato


@attrs.frozen
class _Range:
    span: _Span
    lo: int
    hi: int

    @property
    def size(self) -> int:
        return max(self.hi - self.lo + 1, 0)


# -- selection --------------------------------------------------------------------------------


def _period_keys(manifest: Manifest) -> dict[int, str]:
    """A key per Period: its id, or ``@<start>`` when it has none (or shares it)."""
    ids = [p.id for p in manifest.periods]
    return {
        p.index: p.id if p.id is not None and ids.count(p.id) == 1 else f"{p.id or ''}@{p.start!r}"
        for p in manifest.periods
    }


def _aset(manifest: Manifest, rep: Representation) -> AdaptationSet:
    return manifest.periods[rep.period_index].adaptation_sets[rep.adaptation_index]


def _anchor_period(manifest: Manifest, clock: _Clock) -> Period | None:
    content = [p for p in manifest.periods if _content(p)]
    if not content:
        return None
    if clock.dynamic:
        started = [p for p in content if clock.origin + _exact(p.start) <= clock.now]
        return started[-1] if started else content[0]
    return content[0]


def _select(manifest: Manifest, spec: FormatSpec, anchor: Period) -> list[Representation]:
    selection = _Selection(manifest, period_tracks(manifest, anchor), (), False)
    apply_spec(selection, spec)
    return [track.first for track in selection.chosen]


def _describe(rep: Representation) -> str:
    return f"Representation {rep.id!r} ({rep.kind}, {rep.codecs or 'no codecs'})"


def _chain(
    manifest: Manifest, rep: Representation, keys: Mapping[int, str], notes: list[str]
) -> list[Representation]:
    """``rep`` followed through the other Periods with content, backwards and forwards."""
    periods = [p for p in manifest.periods if _content(p)]
    position = next(i for i, p in enumerate(periods) if p.index == rep.period_index)
    found = {rep.period_index: rep}
    for direction in (periods[position + 1 :], periods[:position][::-1]):
        reps = [rep]
        aset = _aset(manifest, rep)
        for period in direction:
            match = _match(aset, _content(period))
            following = _continue(reps, match) if match is not None else None
            if following is None:
                notes.append(
                    f"{_describe(rep)} has no counterpart in Period {keys[period.index]!r}"
                )
                break
            reps.append(following)
            aset = match if match is not None else aset
            found[period.index] = following
    return [found[i] for i in sorted(found)]


def _stand_in(rep: Representation) -> AdaptationSet:
    """An AdaptationSet holding only ``rep`` (to match a Period that is gone)."""
    return AdaptationSet(
        id=rep.adaptation_id,
        content_type=rep.kind,
        mime_type=rep.mime_type,
        lang=rep.lang,
        encrypted=rep.encrypted,
        representations=(rep,),
        index=rep.adaptation_index,
    )


def _continuation(
    manifest: Manifest, track: LiveTrack, keys: Mapping[int, str], anchor: Period
) -> Representation | None:
    """The Representation of ``manifest`` that continues ``track`` of an earlier view."""
    by_key = {key: manifest.periods[index] for index, key in keys.items()}
    for key, old in reversed(list(track.representations.items())):
        period = by_key.get(key)
        if period is None:
            continue
        for rep in period.representations:
            if rep.id == old.id and (rep.adaptation_id, rep.adaptation_index) == (
                old.adaptation_id,
                old.adaptation_index,
            ):
                return rep
        for rep in period.representations:
            if rep.id == old.id and rep.kind == old.kind:
                return rep
    if not track.representations:
        return None
    newest = list(track.representations.values())[-1]
    match = _match(_stand_in(newest), _content(anchor))
    return _continue([newest], match) if match is not None else None


def _chosen(
    manifest: Manifest,
    spec: FormatSpec,
    clock: _Clock,
    keys: Mapping[int, str],
    previous: LiveView | None,
    notes: list[str],
) -> list[tuple[str, list[Representation]]]:
    anchor = _anchor_period(manifest, clock)
    if anchor is None:
        if manifest.periods:
            notes.append("no Period of the MPD has anything to download yet")
        else:
            notes.append("the MPD has no Period yet")
        if previous is None and manifest.periods:
            raise ManifestError("no video or audio representation")
        return [(t.id, []) for t in previous.tracks] if previous is not None else []
    out: list[tuple[str, list[Representation]]] = []
    if previous is not None:
        for track in previous.tracks:
            rep = _continuation(manifest, track, keys, anchor)
            if rep is None:
                notes.append(f"track {track.id!r} has no counterpart in this manifest")
                out.append((track.id, []))
            else:
                out.append((track.id, _chain(manifest, rep, keys, notes)))
    else:
        used: set[str] = set()
        for rep in _select(manifest, spec, anchor):
            reps = _chain(manifest, rep, keys, notes)
            first = reps[0]
            track_id = first.id
            if track_id in used:
                track_id = f"{first.id}@{keys[first.period_index]}"
            used.add(track_id)
            out.append((track_id, reps))
    for _, reps in out:
        for rep in reps:
            if rep.encrypted:
                raise UnsupportedManifest(encrypted_message(rep.id, rep.drm))
    return out


# -- addressing -------------------------------------------------------------------------------


def _constants(rep: Representation) -> dict[str, int | str]:
    return {"RepresentationID": rep.id, "Bandwidth": rep.bandwidth}


def _open_runs(
    entries: Sequence[TimelineEntry], start_number: int
) -> list[tuple[int, int, int | None, int]]:
    """(t, d, count, number) per S; count None for a final ``r="-1"`` (open-ended)."""
    runs: list[tuple[int, int, int | None, int]] = []
    time = 0
    number = start_number
    for i, s in enumerate(entries):
        t = s.t if s.t is not None else time
        n = s.n if s.n is not None else number
        count: int | None
        if s.r >= 0:
            count = s.r + 1
        elif i + 1 < len(entries):
            following = entries[i + 1].t
            if following is None:
                raise ManifestParseError(
                    'S@r: "-1" must be followed by an S with @t, or be on the last S'
                )
            count = max(-(-(following - t) // s.d), 0)
        else:
            count = None
        runs.append((t, s.d, count, n))
        if count is None:
            break
        time = t + count * s.d
        number = n + count
    return runs


def _clip(count: int | None, limit: int | None) -> int | None:
    if limit is None:
        return count
    limit = max(limit, 0)
    return limit if count is None else min(count, limit)


def _period_count(t0: int, d: int, ts: int, duration: Fraction | None) -> int | None:
    """How many segments from ``t0`` start before the Period ends."""
    if duration is None:
        return None
    return max(_ceil((duration * ts - t0) / d), 0)


def _ato(rep: Representation, d: int | None, ts: int, notes: list[str]) -> Fraction:
    offset = rep.availability_time_offset
    if math.isinf(offset):
        if d is None:
            return Fraction(0)
        notes.append(
            f"{_describe(rep)}: availabilityTimeOffset INF is taken as 'available from the "
            "segment start'"
        )
        return Fraction(d, ts)
    return _exact(offset)


def _template_spans(
    rep: Representation,
    period: Period,
    info: SegmentInfo,
    key: str,
    wall: Fraction,
    duration: Fraction | None,
    notes: list[str],
) -> list[_Span]:
    media = info.media
    assert media is not None
    if "SubNumber" in media.names:
        raise UnsupportedManifest("SegmentTemplate with $SubNumber$ is not supported yet")
    ts = info.timescale or 1
    offset = info.presentation_time_offset or 0
    start_number = info.start_number if info.start_number is not None else 1
    builders = [url_builder(media, base, _constants(rep)) for base in rep.base_urls]

    def locate(j: int, number: int, time: int) -> tuple[tuple[str, ...], ByteRange | None]:
        return tuple(dict.fromkeys(b(number, time) for b in builders)), None

    end_limit = info.end_number - start_number + 1 if info.end_number is not None else None
    if info.timeline is not None:
        by_time = "Time" in media.names and "Number" not in media.names
        spans = []
        seen = 0
        for t, d, count, n in _open_runs(info.timeline, start_number):
            t0 = t - offset
            count = _clip(count, _period_count(t0, d, ts, duration))
            if end_limit is not None:
                count = _clip(count, end_limit - seen)
            spans.append(
                _Span(key, wall, ts, t0, d, n, t, count, _ato(rep, d, ts, notes), by_time, locate)
            )
            seen += count or 0
        return spans
    if info.duration is None:
        raise ManifestParseError(
            f"SegmentTemplate: Representation {rep.id!r} has neither @duration nor a "
            "SegmentTimeline"
        )
    d = info.duration
    count = _clip(_period_count(0, d, ts, duration), end_limit)
    return [
        _Span(
            key, wall, ts, 0, d, start_number, offset, count, _ato(rep, d, ts, notes), False, locate
        )
    ]


def _list_spans(
    rep: Representation,
    info: SegmentInfo,
    key: str,
    wall: Fraction,
    duration: Fraction | None,
    notes: list[str],
) -> list[_Span]:
    entries = info.segment_urls or ()
    ts = info.timescale or 1
    offset = info.presentation_time_offset or 0
    start_number = info.start_number if info.start_number is not None else 1
    resolved = [
        (tuple(dict.fromkeys(_join(base, e.media) for base in rep.base_urls)), e.media_range)
        for e in entries
    ]

    def at(first: int) -> Callable[[int, int, int], tuple[tuple[str, ...], ByteRange | None]]:
        def locate(j: int, number: int, time: int) -> tuple[tuple[str, ...], ByteRange | None]:
            return resolved[first + j]

        return locate

    spans: list[_Span] = []
    used = 0
    if info.timeline is not None:
        for t, d, count, _ in _open_runs(info.timeline, start_number):
            t0 = t - offset
            count = _clip(_clip(count, _period_count(t0, d, ts, duration)), len(entries) - used)
            assert count is not None
            if count <= 0:
                break
            number = start_number + used
            spans.append(
                _Span(
                    key, wall, ts, t0, d, number, t, count, _ato(rep, d, ts, notes), False, at(used)
                )
            )
            used += count
    elif info.duration is not None:
        d = info.duration
        count = _clip(_period_count(0, d, ts, duration), len(entries))
        assert count is not None
        spans.append(
            _Span(
                key,
                wall,
                ts,
                0,
                d,
                start_number,
                offset,
                count,
                _ato(rep, d, ts, notes),
                False,
                at(0),
            )
        )
        used = count
    if used < len(entries) and not spans:
        notes.append(f"{_describe(rep)}: its SegmentList gives no segment times")
        spans.append(
            _Span(
                key,
                wall,
                ts,
                0,
                None,
                start_number + used,
                0,
                len(entries) - used,
                Fraction(0),
                False,
                at(used),
            )
        )
    return spans


def _join(base: str, ref: str | None) -> str:
    return urljoin(base, ref) if ref else base


def _single_spans(
    rep: Representation,
    period: Period,
    key: str,
    wall: Fraction,
    duration: Fraction | None,
    clock: _Clock,
    limits: ManifestLimits,
) -> list[_Span]:
    """A Representation with one media file per Period (SegmentBase, or a constant template)."""
    if clock.dynamic and duration is None:
        raise UnsupportedManifest(
            f"{_describe(rep)} is one media file per Period, which cannot be recorded while "
            "the Period is still growing"
        )
    _, segments = address(rep, period, limits=limits)
    ref = segments[0]

    def locate(j: int, number: int, time: int) -> tuple[tuple[str, ...], ByteRange | None]:
        return ref.urls, ref.byte_range

    d = int(duration * _MICRO) if duration is not None and duration > 0 else None
    return [_Span(key, wall, _MICRO, 0, d, 1, 0, 1, Fraction(0), False, locate)]


def _init(rep: Representation, key: str, period: Period) -> SegmentRef | None:
    info = rep.segment_info
    if info is None or info.kind == "base":
        try:
            _, segments = address(rep, period)
        except ManifestError:
            return None
        index = segments[0].index
        init = index.init if index is not None else None
        return attrs.evolve(init, period=key) if init is not None else None
    if info.kind == "template":
        return _template_init(rep, info, key)
    if info.initialization is not None:
        src = info.initialization
        urls = tuple(dict.fromkeys(_join(b, src.source_url) for b in rep.base_urls))
        return SegmentRef(urls, src.byte_range, period=key)
    return None


def _spans(
    rep: Representation,
    manifest: Manifest,
    key: str,
    clock: _Clock,
    limits: ManifestLimits,
    notes: list[str],
) -> list[_Span]:
    period = manifest.periods[rep.period_index]
    wall = clock.origin + _exact(period.start)
    duration = _exact(period.duration) if period.duration is not None else None
    info = rep.segment_info
    if info is None or info.kind == "base":
        return _single_spans(rep, period, key, wall, duration, clock, limits)
    if info.kind == "list":
        return _list_spans(rep, info, key, wall, duration, notes)
    media = info.media
    if media is None or (
        not media.names & {"Number", "Time"} and info.timeline is None and info.duration is None
    ):
        return _single_spans(rep, period, key, wall, duration, clock, limits)
    return _template_spans(rep, period, info, key, wall, duration, notes)


# -- windows ----------------------------------------------------------------------------------


def _range(span: _Span, clock: _Clock, since: Fraction | None) -> _Range:
    """The indexes of ``span`` listed at ``clock``."""
    hi = span.count - 1 if span.count is not None else None
    lo = 0
    if span.d is not None:
        if clock.dynamic:
            last = span.last_available_by(clock.until)
            hi = last if hi is None else min(hi, last)
            if clock.tsbd is not None:
                grace = clock.tsbd + Fraction(span.d, span.ts)
                lo = max(lo, span.first_ending_after(clock.now - grace))
        if since is not None:
            lo = max(lo, span.first_ending_after(since))
    if hi is None:
        raise ManifestParseError(
            f"Period {span.key!r}: cannot count the segments: the static MPD gives no duration "
            "for the Period and its segment list is open-ended"
        )
    return _Range(span, lo, hi)


def _newest_available(span: _Span, clock: _Clock) -> int | None:
    """The index of the newest segment of ``span`` available at ``clock.now``."""
    if span.count is not None and span.count <= 0:
        return None
    if span.d is None or not clock.dynamic:
        return span.count - 1 if span.count is not None else None
    last = span.last_available_by(min(clock.ready, clock.until))
    if span.count is not None:
        last = min(last, span.count - 1)
    if clock.tsbd is not None:
        oldest = span.first_ending_after(clock.now - clock.tsbd - Fraction(span.d, span.ts))
        if last < oldest:
            return None
    return last if last >= 0 else None


def _cap(ranges: list[_Range], budget: int) -> tuple[list[_Range], int]:
    """Keep the newest ``budget`` segments of ``ranges`` (sorted oldest first)."""
    total = sum(r.size for r in ranges)
    if total <= budget:
        return ranges, total
    kept: list[_Range] = []
    left = budget
    for r in reversed(ranges):
        if left <= 0:
            break
        if r.size > left:
            r = attrs.evolve(r, lo=r.hi - left + 1)
        kept.append(r)
        left -= r.size
    return kept[::-1], total


@attrs.frozen
class _Line:
    """``base + ticks / ts`` as a correctly rounded float, in integer arithmetic."""

    numerator: int
    denominator: int
    scale: int

    @classmethod
    def of(cls, base: Fraction, ts: int) -> _Line:
        return cls(base.numerator * ts, base.denominator * ts, base.denominator)

    def at(self, ticks: int) -> float:
        return (self.numerator + self.scale * ticks) / self.denominator


def _segments(r: _Range, clock: _Clock) -> list[LiveSegment]:
    """The segments ``r.lo`` to ``r.hi`` of ``r.span``."""
    span = r.span
    if span.d is None:
        always = float(clock.ast) if not clock.dynamic and clock.ast is not None else -math.inf
        return [
            _make(span, j, float(span.wall + span.start(j)), None, always, None)
            for j in range(r.lo, r.hi + 1)
        ]
    d, ts = span.d, span.ts
    order = _Line.of(span.wall, ts)
    available = _Line.of(span.wall - span.ato, ts)
    expires = (
        _Line.of(span.wall + Fraction(d, ts) + clock.tsbd, ts)
        if clock.dynamic and clock.tsbd is not None
        else None
    )
    static_at = float(clock.ast) if clock.ast is not None else -math.inf
    duration = d / ts
    out = []
    for j in range(r.lo, r.hi + 1):
        start, end = span.t0 + j * d, span.t0 + (j + 1) * d
        out.append(
            _make(
                span,
                j,
                order.at(start),
                duration,
                available.at(end) if clock.dynamic else static_at,
                expires.at(end) if expires is not None else None,
            )
        )
    return out


def _make(
    span: _Span,
    j: int,
    order: float,
    duration: float | None,
    available_at: float,
    expires_at: float | None,
) -> LiveSegment:
    number = span.n0 + j
    time = span.media0 + j * (span.d or 0)
    urls, byte_range = span.locate(j, number, time)
    start = (span.t0 + j * span.d) / span.ts if span.d is not None else float(span.start(j))
    return LiveSegment(
        ident=f"{span.key}:t{time}" if span.by_time else f"{span.key}:{number}",
        order=order,
        ref=SegmentRef(urls, byte_range, start, duration, span.key),
        available_at=available_at,
        expires_at=expires_at,
        number=number,
    )


# -- the view ---------------------------------------------------------------------------------


def _clock(manifest: Manifest, now: float, horizon: float) -> _Clock:
    if not math.isfinite(now) or not math.isfinite(horizon):
        raise ValueError("now and horizon must be finite")
    text = manifest.availability_start_time
    ast: Fraction | None = None
    if text is not None:
        try:
            ast = datetime_seconds(text)
        except (ValueError, OverflowError):
            if manifest.is_live:
                raise ManifestParseError(
                    f"MPD@availabilityStartTime: expected an xs:dateTime, got {text!r}"
                ) from None
    dynamic = manifest.is_live
    if dynamic and ast is None:
        raise ManifestParseError(
            'MPD@availabilityStartTime: required attribute is missing (type="dynamic")'
        )
    exact_now = Fraction(now)
    until = exact_now + Fraction(horizon) + _SLACK
    if dynamic and manifest.availability_end is not None:
        until = min(until, _exact(manifest.availability_end))
    tsbd = manifest.time_shift_buffer_depth
    return _Clock(
        dynamic=dynamic,
        ast=ast,
        now=exact_now,
        until=until,
        tsbd=_exact(tsbd) if tsbd is not None and math.isfinite(tsbd) else None,
    )


def _timing(manifest: Manifest) -> tuple[UTCTimingSource, ...]:
    out = []
    for source in manifest.utc_timing:
        if timing_kind(source.scheme).startswith("http-"):
            value = " ".join(_join(manifest.url, part) for part in source.value.split())
            source = attrs.evolve(source, value=value)
        out.append(source)
    return tuple(out)


def _parse_spec(spec: FormatSpec | str | None) -> FormatSpec:
    if spec is None:
        return DEFAULT_SPEC
    return parse_format_spec(spec) if isinstance(spec, str) else spec


def live_view(
    manifest: Manifest,
    spec: FormatSpec | str | None,
    now: float,
    *,
    horizon: float = 0.0,
    limits: ManifestLimits | None = None,
    since: float | None = None,
    edge: bool = False,
    previous: LiveView | None = None,
) -> LiveView:
    """The segments ``manifest`` offers at epoch ``now`` for the tracks ``spec`` selects.

    ``spec`` is the ``-f`` grammar (None: ``video?+audio?``).  Listed are the segments that
    are available by ``now + horizon`` and not yet expired at ``now``, newest
    ``limits.max_segments`` per track at most.  ``since`` (epoch seconds) leaves out the
    segments that end at or before it (those already handled); ``edge`` starts at
    :attr:`LiveView.edge_start`.  ``previous``, the view of the previous refresh, keeps the
    same tracks (and ids) even when the Period they were chosen in has left the manifest.
    A static MPD lists every segment (``static=True``).
    """
    limits = limits or manifest.limits
    clock = _clock(manifest, now, horizon)
    keys = _period_keys(manifest)
    notes: list[str] = []
    chosen = _chosen(manifest, _parse_spec(spec), clock, keys, previous, notes)
    bound = Fraction(since) if since is not None else None

    per_track: list[tuple[str, list[Representation], list[_Range], dict[str, SegmentRef]]] = []
    edge_start: Fraction | None = None
    live_edge: Fraction | None = None
    next_available: Fraction | None = None
    for track_id, reps in chosen:
        ranges: list[_Range] = []
        inits: dict[str, SegmentRef] = {}
        newest: Fraction | None = None
        for rep in reps:
            key = keys[rep.period_index]
            period = manifest.periods[rep.period_index]
            init = _init(rep, key, period)
            if init is not None:
                inits[key] = init
            for span in _spans(rep, manifest, key, clock, limits, notes):
                r = _range(span, clock, None)
                ranges.append(r)
                j = _newest_available(span, clock)
                if j is not None and j >= r.lo:
                    start, end = span.wall + span.start(j), span.wall + span.end(j)
                    newest = start if newest is None else max(newest, start)
                    live_edge = end if live_edge is None else max(live_edge, end)
                if clock.dynamic and span.d is not None:
                    nxt = max(r.hi + 1, r.lo)
                    if span.count is None or nxt < span.count:
                        at = span.available(nxt, clock)
                        if at is not None and at > clock.until:
                            next_available = (
                                at if next_available is None else min(next_available, at)
                            )
        if newest is not None:
            edge_start = newest if edge_start is None else min(edge_start, newest)
        per_track.append((track_id, reps, ranges, inits))

    if edge and clock.dynamic and edge_start is not None:
        bound = edge_start if bound is None else max(bound, edge_start)

    tracks: list[LiveTrack] = []
    for track_id, reps, ranges, inits in per_track:
        if bound is not None:
            ranges = [
                attrs.evolve(r, lo=max(r.lo, r.span.first_ending_after(bound)))
                if r.span.d is not None
                else r
                for r in ranges
            ]
        ranges = [r for r in ranges if r.size > 0]
        ranges.sort(key=lambda r: r.span.wall + r.span.start(r.lo))
        ranges, total = _cap(ranges, limits.max_segments)
        if total > limits.max_segments:
            notes.append(
                f"track {track_id!r}: {total} segments are listed; only the newest "
                f"{limits.max_segments} are kept (limits.max_segments)"
            )
        segments = [segment for r in ranges for segment in _segments(r, clock)]
        segments.sort(key=lambda s: s.order)
        segments = _unique(segments)
        tracks.append(_live_track(track_id, reps, segments, inits, keys, previous))

    mup = manifest.minimum_update_period
    next_refresh = now + max(mup, MIN_REFRESH) if clock.dynamic and mup is not None else None
    return LiveView(
        static=not clock.dynamic,
        tracks=tuple(tracks),
        next_refresh=next_refresh,
        location=manifest.locations[0] if manifest.locations else None,
        utc_timing=_timing(manifest),
        live_edge=float(live_edge) if live_edge is not None else now,
        period_notes=tuple(dict.fromkeys(notes)),
        edge_start=float(edge_start) if edge_start is not None else None,
        next_available=float(next_available) if next_available is not None else None,
        suggested_presentation_delay=manifest.suggested_presentation_delay,
    )


def _unique(segments: list[LiveSegment]) -> list[LiveSegment]:
    seen: set[str] = set()
    out = []
    for segment in segments:
        if segment.ident not in seen:
            seen.add(segment.ident)
            out.append(segment)
    return out


def _live_track(
    track_id: str,
    reps: list[Representation],
    segments: list[LiveSegment],
    inits: dict[str, SegmentRef],
    keys: Mapping[int, str],
    previous: LiveView | None,
) -> LiveTrack:
    with_segments = {s.ref.period for s in segments}
    by_key = {keys[r.period_index]: r for r in reps}
    if not by_key:
        assert previous is not None
        return attrs.evolve(previous.track(track_id), init=None, inits={}, segments=())
    used = [key for key in by_key if key in with_segments]
    newest_key = used[-1] if used else list(by_key)[-1]
    rep = by_key[newest_key]
    return LiveTrack(
        id=track_id,
        kind=cast(Kind, rep.kind),
        codecs=rep.codecs,
        bandwidth=rep.bandwidth,
        width=rep.width,
        height=rep.height,
        lang=rep.lang,
        container=container_hint(rep.mime_type, rep.codecs),
        init=inits.get(newest_key),
        inits={key: init for key, init in inits.items() if key in with_segments},
        segments=tuple(segments),
        mime_type=rep.mime_type,
        frame_rate=rep.frame_rate,
        roles=rep.roles,
        representations=by_key,
    )
