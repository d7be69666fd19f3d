"""Stream selection and plan building, pure: a Manifest and a choice become a Plan.

Several Periods play one after the other; a *track* follows one Representation through
them so that a continuous presentation becomes one output stream.  AdaptationSets are
matched Period to Period by ``@id``, else by kind, language and codec family; within a
matched AdaptationSet the Representation with the same ``@id`` continues the track, else
the one of the same codec family with the closest bandwidth.  What cannot be joined is
described in :attr:`PeriodJoin.notes` and stays selectable one Period at a time
(:func:`period_tracks`).  The format grammar (``-f``) is in :mod:`trioseg.formats`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import attrs

from .addressing import address
from .errors import LimitExceeded, ManifestError, UnsupportedManifest
from .mpd import AdaptationSet, Manifest, ManifestLimits, Period, Representation
from .naming import file_key
from .plan import Kind, Plan, SegmentRef, StreamPlan

__all__ = [
    "PLANNABLE",
    "PeriodJoin",
    "Track",
    "best",
    "build_plan",
    "codec_family",
    "container_hint",
    "encrypted_message",
    "join_periods",
    "period_tracks",
    "select_default",
    "stream_plan",
    "track_plan",
]

PLANNABLE = frozenset({"video", "audio", "text"})
_PLANNABLE = PLANNABLE


def _require_static(manifest: Manifest) -> None:
    if manifest.type == "dynamic":
        raise UnsupportedManifest('live (type="dynamic") manifests are not supported yet')


def best(representations: Iterable[Representation], kind: str) -> Representation | None:
    """The highest-bandwidth Representation of ``kind`` (the first one on a tie)."""
    candidates = [r for r in representations if r.kind == kind]
    return max(candidates, key=lambda r: r.bandwidth, default=None)


# -- codecs and containers ----------------------------------------------------------------------

_FAMILIES = (
    (("avc1", "avc2", "avc3", "avc4"), "avc"),
    (("hev1", "hvc1"), "hevc"),
    (("dvh1", "dvhe"), "dvhevc"),
    (("dva1", "dvav"), "dvavc"),
    (("av01",), "av1"),
    (("vp09", "vp9"), "vp9"),
    (("vp08", "vp8"), "vp8"),
    (("vvc1", "vvi1"), "vvc"),
    (("mp4a",), "mp4a"),
    (("ec-3", "ec+3"), "ec-3"),
    (("ac-3",), "ac-3"),
    (("ac-4",), "ac-4"),
    (("opus", "Opus"), "opus"),
    (("flac", "fLaC"), "flac"),
    (("stpp",), "stpp"),
    (("wvtt",), "wvtt"),
)


def codec_family(codecs: str | None) -> str | None:
    """The family of the first codec in ``codecs``: ``avc1.64001f`` and ``avc3.4d401e`` are
    both ``avc``; ``hev1``/``hvc1`` are ``hevc``; ``mp4a.40.2`` is ``mp4a``; others their
    four-character code."""
    if not codecs:
        return None
    first = codecs.split(",")[0].strip()
    tag = first.split(".")[0]
    for prefixes, family in _FAMILIES:
        if tag in prefixes or tag.lower() in prefixes:
            return family
    return tag.lower() or None


def container_hint(mime_type: str | None, codecs: str | None = None) -> str | None:
    """A file-type hint for naming the output: ``mp4``, ``webm``, ``ts``, ``vtt``, ``ttml``."""
    mime = (mime_type or "").lower().split(";")[0].strip()
    if mime == "text/vtt":
        return "vtt"
    if mime in ("application/ttml+xml", "text/ttml", "application/xml+ttml"):
        return "ttml"
    if mime == "application/x-subrip":
        return "srt"
    if mime.endswith("/webm"):
        return "webm"
    if mime.endswith("/mp2t"):
        return "ts"
    if mime.endswith("/mp4") or codec_family(codecs) in ("stpp", "wvtt"):
        return "mp4"
    return None


def encrypted_message(rep_id: str, drm: Sequence[str]) -> str:
    schemes = f" ({', '.join(drm)})" if drm else ""
    return (
        f"representation {rep_id!r} is encrypted{schemes}; trioseg does not decrypt — "
        "pick an unencrypted one with -f, see -F"
    )


def _drm(rep: Representation) -> tuple[str, ...]:
    """Scheme names, system names (Widevine, PlayReady) before the generic cenc value."""
    generic = {"cenc", "cbcs", "cens", "cbc1"}
    return tuple(sorted(rep.drm, key=lambda name: name in generic))


# -- tracks and Period joining ------------------------------------------------------------------


@attrs.frozen
class Track:
    """Representations that continue one another through consecutive Periods."""

    reps: tuple[Representation, ...]

    @property
    def first(self) -> Representation:
        return self.reps[0]

    @property
    def id(self) -> str:
        return self.reps[0].id

    @property
    def kind(self) -> str:
        return self.reps[0].kind

    @property
    def encrypted(self) -> bool:
        return any(r.encrypted for r in self.reps)

    @property
    def drm(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for r in self.reps for name in _drm(r)))

    def period_keys(self, manifest: Manifest) -> tuple[str, ...]:
        return tuple(manifest.periods[r.period_index].key for r in self.reps)


@attrs.frozen
class PeriodJoin:
    """The tracks spanning every Period that has content, and why others do not."""

    tracks: tuple[Track, ...]
    #: one line per AdaptationSet or Representation that could not be joined, or Period
    #: that was skipped
    notes: tuple[str, ...]
    #: the indexes of the Periods the tracks span
    periods: tuple[int, ...]


def _as_kind(aset: AdaptationSet) -> str:
    return aset.representations[0].kind if aset.representations else "unknown"


def _as_key(aset: AdaptationSet) -> tuple[str, str | None, str | None]:
    rep = aset.representations[0]
    return (rep.kind, (rep.lang or "").lower() or None, codec_family(rep.codecs))


def _describe(aset: AdaptationSet) -> str:
    kind, lang, family = _as_key(aset)
    parts = [kind] + [p for p in (lang, family) if p]
    name = f" {aset.id!r}" if aset.id is not None else ""
    return f"{' '.join(parts)} AdaptationSet{name}"


def _match(prev: AdaptationSet, candidates: list[AdaptationSet]) -> AdaptationSet | None:
    if prev.id is not None:
        for aset in candidates:
            if aset.id == prev.id and _as_kind(aset) == _as_kind(prev):
                return aset
    key = _as_key(prev)
    return next((a for a in candidates if _as_key(a) == key), None)


def _continue(reps: list[Representation], aset: AdaptationSet) -> Representation | None:
    """The Representation of ``aset`` continuing ``reps``: the last one's id, else the
    first one's, else the closest bandwidth to the last one, of the same codec family."""
    rep = reps[-1]
    family = codec_family(rep.codecs)
    compatible = [r for r in aset.representations if codec_family(r.codecs) == family]
    for wanted in (rep.id, reps[0].id):
        same = [r for r in compatible if r.id == wanted]
        if same:
            return same[0]
    return min(compatible, key=lambda r: abs(r.bandwidth - rep.bandwidth), default=None)


def _content(period: Period) -> list[AdaptationSet]:
    return [a for a in period.adaptation_sets if a.representations and _as_kind(a) in _PLANNABLE]


def join_periods(manifest: Manifest) -> PeriodJoin:
    """Follow each Representation of the first Period with content through the others."""
    notes: list[str] = []
    periods: list[Period] = []
    for period in manifest.periods:
        if _content(period):
            periods.append(period)
        elif period.xlink_href is not None:
            notes.append(
                f"Period {period.key!r} is remote (xlink:href {period.xlink_href!r}) "
                "and was not fetched"
            )
        elif period.adaptation_sets:
            notes.append(f"Period {period.key!r} has nothing to download (skipped)")
    if not periods:
        return PeriodJoin((), tuple(notes), ())
    first, rest = periods[0], periods[1:]
    unused = {p.index: _content(p) for p in rest}
    tracks: list[Track] = []
    for aset in _content(first):
        chain = [aset]
        for period in rest:
            match = _match(chain[-1], unused[period.index])
            if match is None:
                notes.append(
                    f"{_describe(aset)} of Period {first.key!r} has no counterpart in "
                    f"Period {period.key!r}"
                )
                break
            unused[period.index].remove(match)
            chain.append(match)
        else:
            tracks.extend(_rep_tracks(manifest, chain, notes))
    for period in rest:
        notes.extend(
            f"{_describe(a)} of Period {period.key!r} has no counterpart in Period {first.key!r}"
            for a in unused[period.index]
        )
    return PeriodJoin(tuple(tracks), tuple(notes), tuple(p.index for p in periods))


def _rep_tracks(manifest: Manifest, chain: list[AdaptationSet], notes: list[str]) -> list[Track]:
    tracks = []
    for rep in chain[0].representations:
        reps = [rep]
        for aset in chain[1:]:
            following = _continue(reps, aset)
            if following is None:
                period = manifest.periods[aset.representations[0].period_index]
                notes.append(
                    f"Representation {rep.id!r} ({rep.codecs or 'no codecs'}) has no "
                    f"compatible Representation in {_describe(aset)} of Period {period.key!r}"
                )
                break
            reps.append(following)
        else:
            tracks.append(Track(tuple(reps)))
    return tracks


def period_tracks(manifest: Manifest, period: Period) -> tuple[Track, ...]:
    """Every plannable Representation of one Period, each a track of its own."""
    return tuple(Track((r,)) for a in _content(period) for r in a.representations)


# -- plans --------------------------------------------------------------------------------------


def stream_plan(
    manifest: Manifest, rep: Representation, *, limits: ManifestLimits | None = None
) -> StreamPlan:
    """Everything to fetch for one Representation of ``manifest``."""
    return track_plan(manifest, Track((rep,)), limits=limits)


def _same(a: SegmentRef | None, b: SegmentRef | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.urls == b.urls and a.byte_range == b.byte_range


def track_plan(
    manifest: Manifest, track: Track, *, limits: ManifestLimits | None = None
) -> StreamPlan:
    """Everything to fetch for ``track``: its Periods' segments in order, as one stream.

    A later Period whose initialization differs from the previous one's contributes an
    init segment flagged :attr:`SegmentRef.is_init`.  A whole file that several Periods
    name (a sidecar subtitle file) is fetched once.
    """
    rep = track.first
    if rep.kind not in _PLANNABLE:
        raise UnsupportedManifest(
            f"Representation {rep.id!r} is of kind {rep.kind!r}, which cannot be downloaded"
        )
    limits = limits or manifest.limits
    clip = len(track.reps) > 1
    init: SegmentRef | None = None
    current: SegmentRef | None = None
    segments: list[SegmentRef] = []
    whole_files: set[tuple[str, ...]] = set()
    for i, part in enumerate(track.reps):
        period = manifest.periods[part.period_index]
        own_init, own = address(part, period, limits=limits, clip=clip)
        if i == 0:
            init = current = own_init
        elif own_init is not None and not _same(own_init, current):
            current = attrs.evolve(own_init, is_init=True)
            segments.append(current)
        info = part.segment_info
        whole = (info is None or info.kind == "base") and own[0].index is None
        if whole and own[0].urls in whole_files:
            continue
        if whole:
            whole_files.add(own[0].urls)
        segments.extend(own)
    if len(segments) > limits.max_segments:
        raise LimitExceeded(
            f"Representation {rep.id!r} has {len(segments)} segments, "
            f"more than the limit of {limits.max_segments}"
        )
    return StreamPlan(
        id=rep.id,
        kind=cast(Kind, rep.kind),
        init=init,
        segments=tuple(segments),
        bandwidth=rep.bandwidth,
        codecs=rep.codecs,
        mime_type=rep.mime_type,
        width=rep.width,
        height=rep.height,
        frame_rate=rep.frame_rate,
        lang=rep.lang,
        container=container_hint(rep.mime_type, rep.codecs),
        roles=rep.roles,
        periods=track.period_keys(manifest),
    )


def _unique_id(stream: StreamPlan, used: set[str]) -> StreamPlan:
    """``stream`` with an id that no other stream's file names can clash with (``used``
    holds their :func:`~trioseg.naming.file_key`): ``a/b`` and ``a_b``, or ``V`` and
    ``v``, would share a work folder and an output name."""
    if file_key(stream.id) not in used:
        return stream
    base = f"{stream.id}@{stream.periods[0]}" if stream.periods else stream.id
    candidate, n = base, 2
    while file_key(candidate) in used:
        # short enough that the suffix survives safe_name's length limit
        candidate, n = f"{base[:64]}-{n}", n + 1
    return attrs.evolve(stream, id=candidate)


def build_plan(
    manifest: Manifest,
    chosen: Iterable[Representation | Track],
    *,
    limits: ManifestLimits | None = None,
    notes: Sequence[str] = (),
) -> Plan:
    """A Plan fetching each of ``chosen`` (Representations or tracks of ``manifest``), in order.

    Raises :class:`UnsupportedManifest` for an encrypted one.  Stream ids are unique in the
    plan, also as file names (a repeated id gets ``@period`` appended, then a number).
    """
    _require_static(manifest)
    streams: list[StreamPlan] = []
    used: set[str] = set()
    for item in chosen:
        track = item if isinstance(item, Track) else Track((item,))
        if track.encrypted:
            raise UnsupportedManifest(encrypted_message(track.id, track.drm))
        stream = _unique_id(track_plan(manifest, track, limits=limits), used)
        used.add(file_key(stream.id))
        streams.append(stream)
    return Plan(
        manifest_url=manifest.url,
        streams=tuple(streams),
        title=manifest.title,
        duration=manifest.duration,
        period_notes=tuple(notes),
    )


def select_default(manifest: Manifest, *, limits: ManifestLimits | None = None) -> Plan:
    """The best video and the best audio track (``-f video?+audio?``)."""
    from .formats import DEFAULT_SPEC, select

    _require_static(manifest)
    if not manifest.periods:
        raise ManifestError("no video or audio representation: the MPD has no Period")
    return select(manifest, DEFAULT_SPEC, limits=limits)
