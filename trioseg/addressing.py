"""Segment addressing, pure: a Representation's init and media segments as SegmentRefs.

Every SegmentRef lists its URL resolved against each of the Representation's base URL
alternatives, preferred first.  Counts are computed arithmetically and checked against
:attr:`ManifestLimits.max_segments` before any list is built.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urljoin

import attrs

from .errors import LimitExceeded, ManifestParseError, UnsupportedManifest
from .mpd import (
    ManifestLimits,
    Period,
    Representation,
    SegmentInfo,
    Template,
    TemplateField,
    TimelineEntry,
)
from .plan import ByteRange, IndexRef, SegmentRef

__all__ = [
    "Run",
    "address",
    "ceil_count",
    "duration_count",
    "expand_runs",
    "index_ref",
    "timeline_runs",
    "url_builder",
]

Addressed = tuple[SegmentRef | None, tuple[SegmentRef, ...]]
UrlBuilder = Callable[[int, int], str]


@attrs.frozen
class Run:
    """``count`` consecutive segments of ``d`` ticks from time ``t``, numbered from ``number``."""

    t: int
    d: int
    count: int
    number: int


def ceil_count(x: float) -> int:
    """``ceil(x)``, treating values within float noise of an integer as that integer."""
    nearest = round(x)
    return int(nearest) if abs(x - nearest) <= 1e-6 else math.ceil(x)


def duration_count(
    period_duration: float | None,
    timescale: int,
    duration: int,
    start_number: int,
    end_number: int | None,
) -> int:
    """How many segments a duration-based SegmentTemplate yields for one Period."""
    bound = max(end_number - start_number + 1, 0) if end_number is not None else None
    if period_duration is None:
        if bound is None:
            raise ManifestParseError(
                "SegmentTemplate@duration: cannot count the segments: neither the Period nor "
                "the MPD gives a duration and there is no endNumber"
            )
        return bound
    count = max(ceil_count(period_duration * timescale / duration), 0)
    return count if bound is None else min(count, bound)


def timeline_runs(
    entries: Sequence[TimelineEntry], *, start_number: int = 1, period_end: float | None = None
) -> list[Run]:
    """The runs a SegmentTimeline describes; ``period_end`` in timescale units (for r=-1)."""
    runs: list[Run] = []
    time = 0
    number = start_number
    for i, s in enumerate(entries):
        t = s.t if s.t is not None else time
        count = s.r + 1 if s.r >= 0 else _open_repeat(entries, i, t, period_end)
        n = s.n if s.n is not None else number
        runs.append(Run(t, s.d, count, n))
        time = t + count * s.d
        number = n + count
    return runs


def _open_repeat(entries: Sequence[TimelineEntry], i: int, t: int, period_end: float | None) -> int:
    s = entries[i]
    if i + 1 < len(entries):
        following = entries[i + 1].t
        if following is None:
            raise ManifestParseError(
                'S@r: "-1" must be followed by an S with @t, or be on the last S'
            )
        end: float = following
    elif period_end is not None:
        end = period_end
    else:
        raise ManifestParseError('S@r: "-1" on the last S needs a known Period end')
    return ceil_count((end - t) / s.d) if end > t else 0


def _cap(runs: Iterable[Run], limit: int | None) -> list[Run]:
    if limit is None:
        return list(runs)
    capped: list[Run] = []
    left = max(limit, 0)
    for run in runs:
        if left <= 0:
            break
        capped.append(attrs.evolve(run, count=min(run.count, left)) if run.count > left else run)
        left -= capped[-1].count
    return capped


def _check_count(rep: Representation, count: int, limits: ManifestLimits) -> None:
    if count > limits.max_segments:
        raise LimitExceeded(
            f"Representation {rep.id!r} has {count} segments, "
            f"more than the limit of {limits.max_segments}"
        )


# -- URL construction ----------------------------------------------------------------------------

_MARKERS = re.compile("([\ue000-\ue0ff])")
_VARIABLE = frozenset({"Number", "Time"})


def _constants(rep: Representation) -> dict[str, int | str]:
    return {"RepresentationID": rep.id, "Bandwidth": rep.bandwidth}


def _bind(template: Template, constants: dict[str, int | str]) -> list[str | TemplateField]:
    """Substitute the constant fields, leaving $Number$ and $Time$."""
    parts: list[str | TemplateField] = []
    for part in template.parts:
        if isinstance(part, TemplateField) and part.name not in _VARIABLE:
            part = part.format(constants[part.name])
        if isinstance(part, str) and parts and isinstance(parts[-1], str):
            parts[-1] += part
        else:
            parts.append(part)
    return parts


def _builder(base: str, parts: list[str | TemplateField]) -> tuple[str, UrlBuilder]:
    """A function (number, time) -> URL resolved against ``base``, and a key for dedupe.

    The template is resolved once with placeholder characters for its fields; per segment
    only the field values are spliced in.  If resolution disturbed the placeholders (e.g.
    ``..`` after a field), every URL is resolved on its own instead.
    """
    fields = [p for p in parts if isinstance(p, TemplateField)]
    marks = [chr(0xE000 + i) for i in range(len(fields))]
    next_mark = iter(marks).__next__
    marked = "".join(p if isinstance(p, str) else next_mark() for p in parts)
    literal = "".join(p for p in parts if isinstance(p, str))
    scheme, colon, _ = re.split(r"[/?#]", marked, maxsplit=1)[0].partition(":")
    if not _MARKERS.search(literal) and not (colon and _MARKERS.search(scheme)):
        joined = urljoin(base, marked)
        pieces = _MARKERS.split(joined)
        if pieces[1::2] == marks:
            return joined, _fast_builder(pieces[0::2], fields)
    return f"{base}\0{marked}", _slow_builder(base, parts)


@attrs.frozen
class _FastBuilder:
    """URLs from literal pieces resolved once, with the field values spliced in."""

    literals: tuple[str, ...]
    fields: tuple[TemplateField, ...]

    def __call__(self, number: int, time: int) -> str:
        out = [self.literals[0]]
        for field, tail in zip(self.fields, self.literals[1:], strict=True):
            out.append(field.format(number if field.name == "Number" else time))
            out.append(tail)
        return "".join(out)

    def run_urls(self, run: Run) -> list[str]:
        """The URLs of every segment of ``run``, formatted column by column."""
        numbers = range(run.number, run.number + run.count)
        times = range(run.t, run.t + run.count * run.d, run.d)
        columns = [_column(f, numbers if f.name == "Number" else times) for f in self.fields]
        urls = [self.literals[0]] * run.count
        for column, tail in zip(columns, self.literals[1:], strict=True):
            urls = [url + value + tail for url, value in zip(urls, column, strict=True)]
        return urls


def _column(field: TemplateField, values: range) -> list[str]:
    if field.width is None:
        return list(map(str, values))
    spec = f"0{field.width}d"
    return [format(v, spec) for v in values]


def _fast_builder(literals: list[str], fields: list[TemplateField]) -> UrlBuilder:
    return _FastBuilder(tuple(literals), tuple(fields))


def _run_urls(builder: UrlBuilder, run: Run) -> list[str]:
    if isinstance(builder, _FastBuilder):
        return builder.run_urls(run)
    return [builder(run.number + k, run.t + k * run.d) for k in range(run.count)]


def _slow_builder(base: str, parts: list[str | TemplateField]) -> UrlBuilder:
    def build(number: int, time: int) -> str:
        values = {"Number": number, "Time": time}
        text = "".join(p if isinstance(p, str) else p.format(values[p.name]) for p in parts)
        return urljoin(base, text)

    return build


def url_builder(template: Template, base: str, constants: dict[str, int | str]) -> UrlBuilder:
    """A function (number, time) -> ``template`` expanded and resolved against ``base``."""
    return _builder(base, _bind(template, constants))[1]


def _builders(template: Template, rep: Representation) -> list[UrlBuilder]:
    parts = _bind(template, _constants(rep))
    unique = dict(_builder(base, parts) for base in rep.base_urls)
    return list(unique.values())


def _resolve(bases: Iterable[str], ref: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(urljoin(b, ref) if ref else b for b in bases))


# -- the three addressing schemes --------------------------------------------------------------


def expand_runs(
    runs: Iterable[Run],
    builders: Sequence[UrlBuilder],
    *,
    timescale: int,
    offset: int,
    period: str,
) -> tuple[SegmentRef, ...]:
    """One SegmentRef per segment of ``runs``; times in seconds relative to the Period."""
    out: list[SegmentRef] = []
    for run in runs:
        columns = [_run_urls(b, run) for b in builders]
        urls: Iterable[tuple[str, ...]] = (
            zip(*columns, strict=True) if columns else itertools.repeat((), run.count)
        )
        seconds = run.d / timescale
        starts = ((run.t + k * run.d - offset) / timescale for k in range(run.count))
        out.extend(
            SegmentRef(u, None, start, seconds, period)
            for u, start in zip(urls, starts, strict=True)
        )
    return tuple(out)


def _template_runs(
    rep: Representation, period: Period, info: SegmentInfo, limits: ManifestLimits
) -> list[Run]:
    timescale = info.timescale or 1
    offset = info.presentation_time_offset or 0
    start_number = info.start_number if info.start_number is not None else 1
    if info.timeline is not None:
        end = offset + period.duration * timescale if period.duration is not None else None
        runs = timeline_runs(info.timeline, start_number=start_number, period_end=end)
    elif info.duration is not None:
        count = duration_count(
            period.duration, timescale, info.duration, start_number, info.end_number
        )
        runs = [Run(offset, info.duration, count, start_number)]
    else:
        raise ManifestParseError(
            f"SegmentTemplate: Representation {rep.id!r} has neither @duration nor a "
            "SegmentTimeline"
        )
    limit = info.end_number - start_number + 1 if info.end_number is not None else None
    total = sum(r.count for r in runs)
    _check_count(rep, total if limit is None else min(total, max(limit, 0)), limits)
    return _cap(runs, limit)


def _template_init(rep: Representation, info: SegmentInfo, period: str) -> SegmentRef | None:
    if info.init_template is not None:
        misplaced = info.init_template.names & (_VARIABLE | {"SubNumber"})
        if misplaced:
            raise ManifestParseError(
                f"SegmentTemplate@initialization: ${min(misplaced)}$ is not allowed here "
                f"(template {info.init_template.text!r})"
            )
        text = info.init_template.substitute(_constants(rep))
        return SegmentRef(_resolve(rep.base_urls, text), period=period)
    if info.initialization is not None:
        init = info.initialization
        return SegmentRef(_resolve(rep.base_urls, init.source_url), init.byte_range, period=period)
    return None


def _address_template(
    rep: Representation, period: Period, info: SegmentInfo, limits: ManifestLimits
) -> Addressed:
    init = _template_init(rep, info, period.key)
    media = info.media
    if media is None:
        return init, _whole_file(rep, period, None)[1]
    if "SubNumber" in media.names:
        raise UnsupportedManifest("SegmentTemplate with $SubNumber$ is not supported yet")
    if not media.names & _VARIABLE and info.timeline is None and info.duration is None:
        url = media.substitute(_constants(rep))
        return init, (
            SegmentRef(_resolve(rep.base_urls, url), None, 0.0, period.duration, period.key),
        )
    runs = _template_runs(rep, period, info, limits)
    segments = expand_runs(
        runs,
        _builders(media, rep),
        timescale=info.timescale or 1,
        offset=info.presentation_time_offset or 0,
        period=period.key,
    )
    return init, segments


def _list_times(
    info: SegmentInfo, count: int, period: Period
) -> list[tuple[float | None, float | None]]:
    timescale = info.timescale or 1
    offset = info.presentation_time_offset or 0
    if info.timeline is not None:
        end = offset + period.duration * timescale if period.duration is not None else None
        runs = _cap(timeline_runs(info.timeline, period_end=end), count)
        times: list[tuple[float | None, float | None]] = [
            ((r.t + k * r.d - offset) / timescale, r.d / timescale)
            for r in runs
            for k in range(r.count)
        ]
        return times + [(None, None)] * (count - len(times))
    if info.duration is not None:
        d = info.duration / timescale
        return [(k * d, d) for k in range(count)]
    return [(None, None)] * count


def _address_list(
    rep: Representation, period: Period, info: SegmentInfo, limits: ManifestLimits
) -> Addressed:
    entries = info.segment_urls or ()
    _check_count(rep, len(entries), limits)
    init = None
    if info.initialization is not None:
        src = info.initialization
        init = SegmentRef(
            _resolve(rep.base_urls, src.source_url), src.byte_range, period=period.key
        )
    times = _list_times(info, len(entries), period)
    segments = tuple(
        SegmentRef(_resolve(rep.base_urls, e.media), e.media_range, start, duration, period.key)
        for e, (start, duration) in zip(entries, times, strict=True)
    )
    return init, segments


def _whole_file(
    rep: Representation, period: Period, info: SegmentInfo | None, *, clip: bool = False
) -> Addressed:
    if not rep.has_base_url:
        raise ManifestParseError(
            f"Representation {rep.id!r} has neither segment information nor a BaseURL"
        )
    index = None
    if info is not None and info.kind == "base":
        index = index_ref(rep, period, info, clip=clip)
    return None, (SegmentRef(rep.base_urls, None, 0.0, period.duration, period.key, index=index),)


def index_ref(
    rep: Representation, period: Period, info: SegmentInfo, *, clip: bool = False
) -> IndexRef | None:
    """Where the sidx of a SegmentBase Representation is, or None when it has no index.

    With ``clip``, only the subsegments inside the Period's time span are kept (several
    Periods cutting one file, each with its presentationTimeOffset).
    """
    index_range = info.index_range
    index_urls = None
    if info.representation_index is not None:
        source = info.representation_index
        index_range = index_range or source.byte_range
        if source.source_url:
            index_urls = _resolve(rep.base_urls, source.source_url)
            index_range = source.byte_range or ByteRange(0)
    if index_range is None:
        return None
    timescale = info.timescale or 1
    offset = (info.presentation_time_offset or 0) / timescale
    init = info.initialization
    window = None
    if clip and period.duration is not None:
        window = (offset, offset + period.duration)
    return IndexRef(
        urls=rep.base_urls,
        range=index_range,
        init_range=init.byte_range if init is not None else None,
        init_urls=_resolve(rep.base_urls, init.source_url)
        if init is not None and init.source_url
        else None,
        index_urls=index_urls,
        period=period.key,
        offset=offset,
        window=window,
    )


def address(
    rep: Representation,
    period: Period,
    *,
    limits: ManifestLimits | None = None,
    clip: bool = False,
) -> Addressed:
    """The init segment (or None) and the media segments of ``rep`` in ``period``.

    A SegmentBase Representation with an index yields one placeholder segment (the whole
    file) whose :attr:`SegmentRef.index` says where its sidx is; see :mod:`trioseg.sidx`.
    """
    limits = limits or ManifestLimits()
    info = rep.segment_info
    if info is None or info.kind == "base":
        return _whole_file(rep, period, info, clip=clip)
    if info.kind == "list":
        return _address_list(rep, period, info, limits)
    return _address_template(rep, period, info, limits)
