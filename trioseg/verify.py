"""Checks on a written output: the streams are there, the duration is right, and the
timeline has no holes except where segments are known to be missing.

Synchronous (PyAV); the engine runs it in a worker thread after muxing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import av

__all__ = ["Gap", "Verification", "find_gaps", "verify_output"]


@attrs.frozen
class Gap:
    kind: str
    start: float
    end: float


@attrs.frozen
class Verification:
    path: Path
    duration: float | None
    kinds: tuple[str, ...]
    gaps: tuple[Gap, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def find_gaps(path: Path, *, threshold: float) -> tuple[tuple[str, ...], tuple[Gap, ...], float]:
    """Every stream's kind, the holes longer than ``threshold`` seconds in their decode
    timelines, and the media duration; packets are read, never decoded."""
    gaps: list[Gap] = []
    with av.open(str(path)) as container:
        streams = list(container.streams)
        kinds = tuple(s.type for s in streams)
        last: dict[int, float] = {}
        step: dict[int, float] = {}
        starts: dict[int, float] = {}
        ends: dict[int, float] = {}
        # subtitles are sparse by nature: only audio and video must be continuous
        timed = [s for s in streams if s.type in ("video", "audio")]
        for packet in container.demux(*timed):
            if packet.dts is None or packet.time_base is None:
                continue
            index = packet.stream.index
            start = float(packet.dts * packet.time_base)
            duration = float((packet.duration or 0) * packet.time_base)
            # MP4 stores a hole as a long sample: judge by decode times, not durations
            previous = last.get(index)
            if previous is not None and start - previous > threshold:
                gaps.append(Gap(packet.stream.type, previous + step.get(index, 0.0), start))
            if duration > 0:
                step.setdefault(index, duration)
            last[index] = start
            starts.setdefault(index, start)
            ends[index] = max(ends.get(index, start), start + min(duration, threshold))
        media = max(ends.values(), default=0.0) - min(starts.values(), default=0.0)
    return kinds, tuple(gaps), media


def verify_output(
    path: Path,
    kinds: Sequence[str],
    *,
    expected_duration: float | None,
    tolerance: float,
    gaps_allowed: bool,
    gap_threshold: float = 0.5,
) -> Verification:
    """Check ``path`` against the plan: one stream per expected kind, a duration within
    ``tolerance`` seconds (one segment) of the manifest's, and no timeline holes longer
    than ``gap_threshold`` unless ``gaps_allowed`` (segments failed)."""
    problems: list[str] = []
    try:
        found, gaps, media = find_gaps(path, threshold=gap_threshold)
    except (av.FFmpegError, OSError, ValueError) as exc:
        return Verification(path, None, (), (), (f"{path} cannot be read back: {exc}",))
    for kind in sorted(set(kinds)):
        want, have = list(kinds).count(kind), found.count(kind)
        if have < want:
            problems.append(f"{path.name} has {have} {kind} stream(s), expected {want}")
    if expected_duration is not None and abs(media - expected_duration) > tolerance:
        problems.append(
            f"{path.name} lasts {media:.2f} s, the manifest says {expected_duration:.2f} s"
        )
    if gaps and not gaps_allowed:
        first = gaps[0]
        problems.append(
            f"{path.name} has {len(gaps)} gap(s) in its timeline, the first in {first.kind} "
            f"from {first.start:.2f} s to {first.end:.2f} s"
        )
    return Verification(path, media, found, gaps, tuple(problems))
