"""The format grammar (``-f``), the format listing (``-F``) and the plan as JSON, pure.

Grammar
-------
``SPEC`` is items separated by ``,`` or ``+``; each item is one of:

- ``all``: every video, audio and text track that is not encrypted;
- a Representation id (exact match; an id wins over a selector spelled the same way);
- a selector ``KIND[FILTER]...[?]`` with ``KIND`` one of ``video``, ``audio``, ``text``.
  It picks the single best match: unencrypted first, then the highest bandwidth, then
  document order.  Filters:

  ====================================  ================================================
  ``height``, ``width``, ``bandwidth``,  compared with ``<= >= < > = !=``; ``bandwidth``
  ``fps``                               takes ``k``/``M`` suffixes (``bandwidth<=2.5M``)
  ``lang=en``                           ``en``, ``en-US``, ``eng`` (case-insensitive)
  ``codec=avc1``                        prefix of @codecs, or a family: ``avc`` (h264),
                                        ``hevc`` (h265), ``av1``, ``vp9``, ``aac``,
                                        ``ec-3``, ``ac-3``, ``opus``, ``stpp``, ``wvtt``
  ``id=ID``, ``role=main``              exact
  ``period=P``                          only Period ``P`` (its id or its index)
  ====================================  ================================================

  ``lang``, ``codec``, ``id`` and ``role`` also take ``!=``.  A trailing ``?`` makes the
  item optional: no error when nothing matches.

The default is ``video?+audio?``.  Several Periods are joined into continuous tracks
(:func:`trioseg.select.join_periods`); an item without ``period=`` chooses among the
tracks spanning every Period, and fails with the reason when matching Representations
exist only in Periods that cannot be joined.  Picking the same track twice keeps one.
An encrypted Representation is listed, never downloaded: choosing one raises
:class:`UnsupportedManifest`.

``rows_json`` keys
------------------
One object per row of :func:`list_formats`, with exactly these keys: ``id`` (str),
``kind`` (``video``/``audio``/``text``/other), ``codecs``, ``mime_type``, ``container``
(str or null), ``width``, ``height`` (int or null), ``fps`` (float or null),
``bandwidth`` (int, bit/s), ``lang`` (str or null), ``roles`` (list of str),
``segments`` (int, or null when only the segment index knows), ``duration`` (seconds or
null), ``size`` (estimated bytes = bandwidth × duration / 8, or null), ``encrypted``
(bool), ``drm`` (list of scheme names), ``periods`` (list of Period ids, or indexes as
text), ``note`` (str or null: why the row is not a continuous track, or an error).

``plan_json``
-------------
``{"event": "plan", "manifest", "title", "duration", "period_notes": [str],
"streams": [{"id", "kind", "codecs", "bandwidth", "width", "height", "lang",
"container", "periods": [str], "segments": [{"url", "range", "init"}, ...],
"index": [{"url", "range", "init_range", "period"}, ...]}]}``.  ``range`` is
``"FIRST-LAST"`` (``"FIRST-"`` to the end) or null; the init segment comes first with
``"init": true``.  A stream whose ``index`` is not empty still has its SegmentBase
placeholder (the whole file) in ``segments``; expand it with
:func:`trioseg.sidx.expand_index` first to list its ranged segments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, Literal

import attrs

from .errors import ManifestError, UsageError
from .mpd import Manifest, ManifestLimits, Period, Representation
from .plan import Plan, SegmentRef
from .select import (
    PLANNABLE,
    Track,
    _require_static,
    build_plan,
    codec_family,
    container_hint,
    join_periods,
    period_tracks,
    track_plan,
)

__all__ = [
    "DEFAULT_SPEC",
    "Filter",
    "FormatRow",
    "FormatSpec",
    "Item",
    "format_table",
    "list_formats",
    "parse_format_spec",
    "plan_json",
    "rows_json",
    "select",
]

KINDS = ("video", "audio", "text")
_NUMERIC = frozenset({"height", "width", "bandwidth", "fps"})
_TEXT = frozenset({"lang", "codec", "id", "role", "period"})
_OPS = ("<=", ">=", "!=", "<", ">", "=")


# -- the grammar --------------------------------------------------------------------------------


@attrs.frozen
class Filter:
    """One ``[key op value]``."""

    key: str
    op: str
    value: str
    number: float | None = None

    def matches(self, track: Track, manifest: Manifest) -> bool:
        rep = track.first
        if self.key == "period":
            return True
        if self.number is not None:
            actual = _numeric(rep, self.key)
            return actual is not None and _compare(actual, self.op, self.number)
        hit = _TEXT_TESTS[self.key](track, self.value)
        return hit if self.op == "=" else not hit


@attrs.frozen
class Item:
    """One item of a spec: ``all``, a Representation id, or a selector."""

    text: str
    kind: Literal["all", "id", "video", "audio", "text"]
    filters: tuple[Filter, ...] = ()
    optional: bool = False

    @property
    def period(self) -> str | None:
        return next((f.value for f in self.filters if f.key == "period"), None)


@attrs.frozen
class FormatSpec:
    text: str
    items: tuple[Item, ...]


DEFAULT_SPEC_TEXT = "video?+audio?"

_SELECTOR = re.compile(r"(video|audio|text)((?:\[[^\[\]]*\])*)(\??)\Z")
_FILTER = re.compile(r"\s*([A-Za-z]+)\s*(<=|>=|!=|<|>|=)\s*(.*?)\s*\Z")
_NUMBER = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([kKmMgG]?)\Z")


def _usage(spec: str, part: str, why: str) -> UsageError:
    return UsageError(f"format spec {spec!r}: {why} in {part!r}")


def _split(text: str) -> list[str]:
    items: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(depth - 1, 0)
        if char in ",+" and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return items


def parse_format_spec(text: str) -> FormatSpec:
    """Parse ``-f SPEC``; a :class:`UsageError` names the bad part."""
    if not text.strip():
        raise UsageError("format spec is empty (try 'video+audio', 'all' or an id from -F)")
    items: list[Item] = []
    for raw in _split(text):
        part = raw.strip()
        if not part:
            raise UsageError(f"format spec {text!r}: an item is empty (stray ',' or '+')")
        items.append(_parse_item(text, part))
    return FormatSpec(text, tuple(items))


def _parse_item(spec: str, part: str) -> Item:
    optional = part.endswith("?")
    bare = part[:-1] if optional else part
    if bare == "all":
        return Item(part, "all", (), optional)
    match = _SELECTOR.match(part)
    if match is None:
        head = re.match(r"(video|audio|text)\[", part)
        if head is not None or "[" in part or "]" in part:
            if part.count("[") != part.count("]"):
                raise _usage(spec, part, "unbalanced '[' ']'")
            raise _usage(spec, part, "expected KIND[FILTER]... with KIND video, audio or text")
        return Item(part, "id", (), optional)
    kind = match.group(1)
    filters = tuple(
        _parse_filter(spec, part, body) for body in re.findall(r"\[([^\[\]]*)\]", match.group(2))
    )
    periods = [f for f in filters if f.key == "period"]
    if len(periods) > 1:
        raise _usage(spec, part, "more than one period filter")
    if periods and periods[0].op != "=":
        raise _usage(spec, part, "period takes '=' only")
    return Item(part, kind, filters, bool(match.group(3)))  # type: ignore[arg-type]


def _parse_filter(spec: str, part: str, body: str) -> Filter:
    match = _FILTER.match(body)
    if match is None:
        raise _usage(spec, part, f"bad filter [{body}] (expected KEY OP VALUE, e.g. height<=720)")
    key, op, value = match.group(1).lower(), match.group(2), match.group(3)
    if key not in _NUMERIC and key not in _TEXT:
        known = ", ".join(sorted(_NUMERIC | _TEXT))
        raise _usage(spec, part, f"unknown filter key {key!r} (known: {known})")
    if not value:
        raise _usage(spec, part, f"filter [{body}] has no value")
    if key in _TEXT:
        if op not in ("=", "!="):
            raise _usage(spec, part, f"{key} takes '=' or '!=', not {op!r}")
        return Filter(key, op, value)
    number = _parse_number(value)
    if number is None:
        raise _usage(spec, part, f"{key} needs a number, got {value!r}")
    return Filter(key, op, value, number)


_SUFFIX = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}


def _parse_number(value: str) -> float | None:
    match = _NUMBER.match(value)
    if match is None:
        return None
    return float(match.group(1)) * _SUFFIX[match.group(2).lower()]


DEFAULT_SPEC = parse_format_spec(DEFAULT_SPEC_TEXT)


# -- matching -----------------------------------------------------------------------------------


def frame_rate(text: str | None) -> float | None:
    """``"30000/1001"`` → 29.97; ``"25"`` → 25.0; None when absent or unreadable."""
    if not text:
        return None
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        return None
    return round(value, 3)


def _numeric(rep: Representation, key: str) -> float | None:
    if key == "fps":
        return frame_rate(rep.frame_rate)
    value: int | None = getattr(rep, key)
    return None if value is None else float(value)


def _compare(actual: float, op: str, wanted: float) -> bool:
    if op == "<=":
        return actual <= wanted
    if op == ">=":
        return actual >= wanted
    if op == "<":
        return actual < wanted
    if op == ">":
        return actual > wanted
    if op == "=":
        return abs(actual - wanted) < 1e-3
    return abs(actual - wanted) >= 1e-3


_LANGUAGES = {
    "eng": "en",
    "fra": "fr",
    "fre": "fr",
    "deu": "de",
    "ger": "de",
    "spa": "es",
    "ita": "it",
    "por": "pt",
    "nld": "nl",
    "dut": "nl",
    "swe": "sv",
    "nor": "no",
    "dan": "da",
    "fin": "fi",
    "pol": "pl",
    "rus": "ru",
    "jpn": "ja",
    "zho": "zh",
    "chi": "zh",
    "kor": "ko",
    "ara": "ar",
    "hin": "hi",
    "tur": "tr",
}


def _primary(lang: str) -> str:
    head = lang.lower().replace("_", "-").split("-")[0]
    return _LANGUAGES.get(head, head)


def lang_matches(lang: str | None, wanted: str) -> bool:
    """``en`` matches ``en``, ``en-US`` and ``eng``; ``en-US`` matches ``en-us`` only."""
    if not lang:
        return False
    have = lang.lower().replace("_", "-")
    want = wanted.lower().replace("_", "-")
    if "-" in want:
        return have == want or have.startswith(want + "-")
    return _primary(have) == _primary(want)


_CODEC_ALIASES = {
    "h264": "avc",
    "avc": "avc",
    "h265": "hevc",
    "hevc": "hevc",
    "av1": "av1",
    "vp9": "vp9",
    "vp8": "vp8",
    "aac": "mp4a",
    "eac3": "ec-3",
    "ac3": "ac-3",
}


def codec_matches(codecs: str | None, wanted: str) -> bool:
    """Prefix of any codec in ``codecs`` (``avc1``, ``mp4a.40``) or a family (``hevc``)."""
    if not codecs:
        return False
    want = wanted.lower()
    if any(c.strip().lower().startswith(want) for c in codecs.split(",")):
        return True
    family = _CODEC_ALIASES.get(want, want)
    return any(codec_family(c) == family for c in codecs.split(","))


_TEXT_TESTS: dict[str, Callable[[Track, str], bool]] = {
    "lang": lambda t, v: lang_matches(t.first.lang, v),
    "codec": lambda t, v: codec_matches(t.first.codecs, v),
    "id": lambda t, v: any(r.id == v for r in t.reps),
    "role": lambda t, v: any(v.lower() == role.lower() for role in t.first.roles),
}


def _find_period(manifest: Manifest, key: str) -> Period | None:
    by_id = next((p for p in manifest.periods if p.id == key), None)
    if by_id is not None:
        return by_id
    if key.isdigit() and int(key) < len(manifest.periods):
        return manifest.periods[int(key)]
    return None


def _pick(tracks: Sequence[Track]) -> Track | None:
    clear = [t for t in tracks if not t.encrypted]
    return max(clear or tracks, key=lambda t: t.first.bandwidth, default=None)


# -- selection ------------------------------------------------------------------------------------


@attrs.define
class _Selection:
    manifest: Manifest
    tracks: tuple[Track, ...]
    notes: tuple[str, ...]
    multi: bool
    chosen: list[Track] = attrs.Factory(list)
    keys: set[tuple[tuple[int, str], ...]] = attrs.Factory(set)

    def add(self, track: Track) -> None:
        key = tuple((r.period_index, f"{r.adaptation_index}/{r.id}") for r in track.reps)
        if key not in self.keys:
            self.keys.add(key)
            self.chosen.append(track)

    def single_period_tracks(self) -> list[Track]:
        return [t for p in self.manifest.periods for t in period_tracks(self.manifest, p)]

    def by_id(self, item: Item) -> bool:
        for wanted in dict.fromkeys((item.text, item.text.removesuffix("?"))):
            joined = [t for t in self.tracks if t.id == wanted]
            if joined:
                self.add(joined[0])
                return True
            loose = [t for t in self.single_period_tracks() if t.id == wanted]
            periods = {t.first.period_index for t in loose}
            if len(periods) > 1:
                keys = ", ".join(repr(self.manifest.periods[i].key) for i in sorted(periods))
                kind = loose[0].kind
                raise UsageError(
                    f"representation {wanted!r} is in Periods {keys}, which cannot be joined; "
                    f"pick one with {kind}[id={wanted}][period=P] (see -F)"
                )
            if loose:
                self.add(loose[0])
                return True
        return False

    def by_selector(self, item: Item) -> None:
        candidates: Sequence[Track] = self.tracks
        if item.period is not None:
            period = _find_period(self.manifest, item.period)
            if period is None:
                keys = ", ".join(p.key for p in self.manifest.periods)
                raise UsageError(f"format spec: no Period {item.period!r} (Periods: {keys})")
            candidates = period_tracks(self.manifest, period)
        matching = [t for t in candidates if self._matches(item, t)]
        choice = _pick(matching)
        if choice is not None:
            self.add(choice)
            return
        if self.multi and item.period is None:
            stranded = [t for t in self.single_period_tracks() if self._matches(item, t)]
            if stranded:
                why = f": {self.notes[0]}" if self.notes else ""
                raise ManifestError(
                    f"{item.text}: matching Representations exist but the Periods cannot be "
                    f"joined{why}; pick one Period with {item.kind}[period=P] (see -F)"
                )
        if not item.optional:
            raise ManifestError(f"format spec: nothing matches {item.text!r} (see -F)")

    def _matches(self, item: Item, track: Track) -> bool:
        return track.kind == item.kind and all(
            f.matches(track, self.manifest) for f in item.filters
        )

    def everything(self, item: Item) -> None:
        plannable = [t for t in self.tracks if t.kind in PLANNABLE]
        clear = [t for t in plannable if not t.encrypted]
        for track in clear:
            self.add(track)
        if plannable and not clear:
            self.add(plannable[0])
        elif not plannable and not item.optional:
            raise ManifestError("format spec: 'all' found nothing to download (see -F)")


def _tracks(manifest: Manifest) -> tuple[tuple[Track, ...], tuple[str, ...], bool]:
    join = join_periods(manifest)
    if len(join.periods) <= 1:
        periods = [manifest.periods[i] for i in join.periods] or list(manifest.periods[:1])
        tracks = tuple(t for p in periods for t in period_tracks(manifest, p))
        return tracks, join.notes, False
    return join.tracks, join.notes, True


def select(
    manifest: Manifest, spec: FormatSpec | str, *, limits: ManifestLimits | None = None
) -> Plan:
    """The Plan for ``spec`` (a parsed spec or its text)."""
    _require_static(manifest)
    if isinstance(spec, str):
        spec = parse_format_spec(spec)
    tracks, notes, multi = _tracks(manifest)
    selection = _Selection(manifest, tracks, notes, multi)
    apply_spec(selection, spec)
    return build_plan(manifest, selection.chosen, limits=limits, notes=notes)


def apply_spec(selection: _Selection, spec: FormatSpec) -> None:
    """Choose, item by item, what ``spec`` asks for among ``selection``'s tracks; an
    empty choice is a one-line error."""
    for item in spec.items:
        if item.kind == "all":
            selection.everything(item)
        elif item.kind == "id":
            if not selection.by_id(item) and not item.optional:
                raise ManifestError(f"format spec: no representation {item.text!r} (see -F)")
        elif not selection.by_id(item):
            selection.by_selector(item)
    if not selection.chosen:
        if spec.text == DEFAULT_SPEC_TEXT:
            raise ManifestError("no video or audio representation")
        raise ManifestError(f"format spec {spec.text!r} selects nothing (see -F)")


# -- listing ------------------------------------------------------------------------------------


@attrs.frozen
class FormatRow:
    """One line of ``-F``: a track (one or several Periods) or a lone Representation."""

    id: str
    kind: str
    codecs: str | None
    mime_type: str | None
    container: str | None
    width: int | None
    height: int | None
    fps: float | None
    bandwidth: int
    lang: str | None
    roles: tuple[str, ...]
    segments: int | None
    duration: float | None
    size: int | None
    encrypted: bool
    drm: tuple[str, ...]
    periods: tuple[str, ...]
    note: str | None = None


def _duration(manifest: Manifest, track: Track) -> float | None:
    durations = [manifest.periods[r.period_index].duration for r in track.reps]
    if any(d is None for d in durations):
        return manifest.duration if len(manifest.periods) == 1 else None
    return sum(d for d in durations if d is not None)


def _row(
    manifest: Manifest, track: Track, limits: ManifestLimits, note: str | None = None
) -> FormatRow:
    rep = track.first
    segments: int | None = None
    if rep.kind in PLANNABLE:
        try:
            stream = track_plan(manifest, track, limits=limits)
        except ManifestError as exc:
            note = str(exc)
        else:
            if stream.pending_index:
                note = note or "segments listed in its sidx (fetched when downloading)"
            else:
                segments = len(stream.segments)
    else:
        note = note or f"kind {rep.kind!r} cannot be downloaded"
    duration = _duration(manifest, track)
    size = int(rep.bandwidth * duration / 8) if duration is not None and rep.bandwidth else None
    return FormatRow(
        id=rep.id,
        kind=rep.kind,
        codecs=rep.codecs,
        mime_type=rep.mime_type,
        container=container_hint(rep.mime_type, rep.codecs),
        width=rep.width,
        height=rep.height,
        fps=frame_rate(rep.frame_rate),
        bandwidth=rep.bandwidth,
        lang=rep.lang,
        roles=rep.roles,
        segments=segments,
        duration=duration,
        size=size,
        encrypted=track.encrypted,
        drm=track.drm,
        periods=track.period_keys(manifest),
        note=note,
    )


def list_formats(
    manifest: Manifest, *, limits: ManifestLimits | None = None
) -> tuple[FormatRow, ...]:
    """Every Representation, as ``-F`` shows it.

    With several Periods: first the tracks spanning every Period, then each Representation
    that is not part of one, with its Period (selectable with ``[period=P]``).
    """
    limits = limits or manifest.limits
    join = join_periods(manifest)
    if len(join.periods) <= 1:
        return tuple(
            _row(manifest, Track((r,)), limits) for p in manifest.periods for r in p.representations
        )
    rows = [_row(manifest, t, limits) for t in join.tracks]
    joined = {(r.period_index, r.adaptation_index, r.id) for t in join.tracks for r in t.reps}
    for period in manifest.periods:
        for rep in period.representations:
            if (rep.period_index, rep.adaptation_index, rep.id) not in joined:
                note = f"Period {period.key!r} only" if rep.kind in PLANNABLE else None
                rows.append(_row(manifest, Track((rep,)), limits, note))
    return tuple(rows)


def period_notes(manifest: Manifest) -> tuple[str, ...]:
    """Why some Periods could not be joined (shown under the ``-F`` table)."""
    return join_periods(manifest).notes


def _size(n: float | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return ""


def _bitrate(bps: int) -> str:
    if not bps:
        return ""
    return f"{bps / 1e6:.2f}M" if bps >= 1e6 else f"{bps / 1e3:.0f}k"


def _seconds(s: float | None) -> str:
    if s is None:
        return ""
    whole = round(s)
    return (
        f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
        if whole >= 3600
        else (f"{whole // 60}:{whole % 60:02d}")
    )


_COLUMNS = (
    ("ID", 24, "<"),
    ("KIND", 5, "<"),
    ("CODECS", 16, "<"),
    ("RES", 9, ">"),
    ("FPS", 6, ">"),
    ("BITRATE", 7, ">"),
    ("LANG", 6, "<"),
    ("ROLE", 8, "<"),
    ("SEGS", 6, ">"),
    ("DUR", 7, ">"),
    ("SIZE", 9, ">"),
    ("NOTE", 40, "<"),
)


def _cells(row: FormatRow) -> list[str]:
    notes: list[str] = []
    if row.encrypted:
        notes.append("DRM " + ",".join(row.drm) if row.drm else "encrypted")
    if len(row.periods) > 1:
        notes.append(f"periods {','.join(row.periods)}")
    if row.note:
        notes.append(row.note)
    return [
        row.id,
        row.kind,
        row.codecs or "",
        f"{row.width}x{row.height}" if row.width and row.height else "",
        f"{row.fps:g}" if row.fps else "",
        _bitrate(row.bandwidth),
        row.lang or "",
        ",".join(row.roles),
        "" if row.segments is None else str(row.segments),
        _seconds(row.duration),
        _size(row.size),
        "; ".join(notes),
    ]


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def format_table(rows: Sequence[FormatRow], *, width: int = 100, notes: Sequence[str] = ()) -> str:
    """An aligned text table of ``rows``, no line longer than ``width``; ``notes`` below."""
    cells = [_cells(r) for r in rows]
    widths = [
        min(max([len(name)] + [len(c[i]) for c in cells]), cap)
        for i, (name, cap, _) in enumerate(_COLUMNS)
    ]
    shrinkable = [0, 2, 11]
    while sum(widths) + len(widths) - 1 > width and any(widths[i] > 6 for i in shrinkable):
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    lines = []
    header = [name for name, _, _ in _COLUMNS]
    for values in [header, *cells]:
        parts = [
            f"{_clip(v, w):{align}{w}}"
            for v, w, (_, _, align) in zip(values, widths, _COLUMNS, strict=True)
        ]
        lines.append(" ".join(parts).rstrip()[:width])
    lines.extend(_clip(f"note: {n}", width) for n in notes)
    return "\n".join(lines)


def rows_json(rows: Sequence[FormatRow]) -> list[dict[str, Any]]:
    """``rows`` as JSON-ready objects (keys in the module docstring)."""
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "codecs": r.codecs,
            "mime_type": r.mime_type,
            "container": r.container,
            "width": r.width,
            "height": r.height,
            "fps": r.fps,
            "bandwidth": r.bandwidth,
            "lang": r.lang,
            "roles": list(r.roles),
            "segments": r.segments,
            "duration": r.duration,
            "size": r.size,
            "encrypted": r.encrypted,
            "drm": list(r.drm),
            "periods": list(r.periods),
            "note": r.note,
        }
        for r in rows
    ]


# -- the plan as JSON ---------------------------------------------------------------------------


def _segment_json(segment: SegmentRef, init: bool) -> dict[str, Any]:
    return {
        "url": segment.url,
        "range": None if segment.byte_range is None else str(segment.byte_range),
        "init": init,
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    """The ``--simulate --json`` object (see the module docstring)."""
    streams = []
    for stream in plan.streams:
        segments = [_segment_json(stream.init, True)] if stream.init is not None else []
        segments += [_segment_json(s, s.is_init) for s in stream.segments]
        streams.append(
            {
                "id": stream.id,
                "kind": stream.kind,
                "codecs": stream.codecs,
                "bandwidth": stream.bandwidth,
                "width": stream.width,
                "height": stream.height,
                "lang": stream.lang,
                "container": stream.container,
                "periods": list(stream.periods),
                "segments": segments,
                "index": [
                    {
                        "url": ref.fetch_urls[0],
                        "range": str(ref.range),
                        "init_range": None if ref.init_range is None else str(ref.init_range),
                        "period": ref.period,
                    }
                    for ref in stream.pending_index
                ],
            }
        )
    return {
        "event": "plan",
        "manifest": plan.manifest_url,
        "title": plan.title,
        "duration": plan.duration,
        "period_notes": list(plan.period_notes),
        "streams": streams,
    }
