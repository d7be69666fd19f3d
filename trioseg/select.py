"""Stream selection and plan building, pure: a Manifest and a choice become a Plan."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from .addressing import address
from .errors import ManifestError, UnsupportedManifest
from .mpd import Manifest, ManifestLimits, Representation
from .plan import Kind, Plan, StreamPlan

__all__ = ["best", "build_plan", "select_default", "stream_plan"]

_PLANNABLE = frozenset({"video", "audio", "text"})


def _require_static(manifest: Manifest) -> None:
    if manifest.type == "dynamic":
        raise UnsupportedManifest('live (type="dynamic") manifests are not supported yet')


def best(representations: Iterable[Representation], kind: str) -> Representation | None:
    """The highest-bandwidth Representation of ``kind`` (the first one on a tie)."""
    candidates = [r for r in representations if r.kind == kind]
    return max(candidates, key=lambda r: r.bandwidth, default=None)


def stream_plan(
    manifest: Manifest, rep: Representation, *, limits: ManifestLimits | None = None
) -> StreamPlan:
    """Everything to fetch for one Representation of ``manifest``."""
    if rep.kind not in _PLANNABLE:
        raise UnsupportedManifest(
            f"Representation {rep.id!r} is of kind {rep.kind!r}, which cannot be downloaded"
        )
    period = manifest.periods[rep.period_index]
    init, segments = address(rep, period, limits=limits or manifest.limits)
    return StreamPlan(
        id=rep.id,
        kind=cast(Kind, rep.kind),
        init=init,
        segments=segments,
        bandwidth=rep.bandwidth,
        codecs=rep.codecs,
        mime_type=rep.mime_type,
        width=rep.width,
        height=rep.height,
        frame_rate=rep.frame_rate,
        lang=rep.lang,
    )


def build_plan(
    manifest: Manifest,
    chosen: Iterable[Representation],
    *,
    limits: ManifestLimits | None = None,
) -> Plan:
    """A Plan fetching each of ``chosen`` (Representations of ``manifest``), in order."""
    _require_static(manifest)
    streams = tuple(stream_plan(manifest, rep, limits=limits) for rep in chosen)
    return Plan(
        manifest_url=manifest.url,
        streams=streams,
        title=manifest.title,
        duration=manifest.duration,
    )


def select_default(manifest: Manifest, *, limits: ManifestLimits | None = None) -> Plan:
    """The best video and the best audio Representation of the first Period."""
    _require_static(manifest)
    if not manifest.periods:
        raise ManifestError("no video or audio representation: the MPD has no Period")
    representations = manifest.periods[0].representations
    chosen = [rep for kind in ("video", "audio") if (rep := best(representations, kind))]
    if not chosen:
        raise ManifestError("no video or audio representation")
    return build_plan(manifest, chosen, limits=limits)
