"""The progress reducer: folds events into per-stream state (pure).

Every front end (headless lines, ``--json``, the full-screen UI) reads its numbers from
here, so they always agree.  The state is a function of the *set* of events applied:
each segment's state is decided by the latest of its events in (attempt, phase) order,
not by arrival order, because trio schedules tasks in random order.
"""

from __future__ import annotations

import bisect
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs

from .events import (
    Event,
    HostLimit,
    JobFinished,
    JobPaused,
    JobStarted,
    MuxFinished,
    MuxProgress,
    MuxStarted,
    Notice,
    SegmentDone,
    SegmentFailed,
    SegmentRetry,
    SegmentStarted,
    Status,
    StreamFinished,
    StreamGrew,
    StreamInfo,
)

__all__ = ["HostState", "Progress", "SegmentState", "StreamState", "host_of"]


def host_of(url: str) -> str:
    """The host (with port) a URL points at."""
    parts = urlsplit(url)
    return parts.netloc or parts.path


SegmentState = Literal["waiting", "in_flight", "retrying", "done", "failed"]

#: seconds of history used for the speed estimate
SPEED_WINDOW = 5.0

_PHASE = {"in_flight": 0, "retrying": 1, "failed": 2, "done": 3}


@attrs.define
class StreamState:
    info: StreamInfo
    bytes_done: int = 0
    done: int = 0
    resumed: int = 0
    path: str | None = None
    finished: bool = False
    started_at: float = 0.0
    #: index -> ((attempt, phase), state) for every segment that has started
    segments: dict[int, tuple[tuple[int, int], SegmentState]] = attrs.Factory(dict)
    failures: dict[int, SegmentFailed] = attrs.Factory(dict)
    #: (at, nbytes) of completed downloads, sorted by time, for the speed window
    history: list[tuple[float, int]] = attrs.Factory(list)
    #: running totals of ``history``'s bytes: ``totals[i]`` is the sum of the first i
    _totals: list[int] = attrs.Factory(lambda: [0])

    @property
    def total(self) -> int:
        return self.info.segments_total

    def state_of(self, index: int) -> SegmentState:
        entry = self.segments.get(index)
        return "waiting" if entry is None else entry[1]

    def count(self, state: SegmentState) -> int:
        if state == "waiting":
            return self.total - len(self.segments)
        return sum(1 for _, s in self.segments.values() if s == state)

    @property
    def failed(self) -> list[SegmentFailed]:
        return [self.failures[i] for i in sorted(self.failures) if self.state_of(i) == "failed"]

    def speed(self, now: float) -> float:
        """Bytes per second over the last :data:`SPEED_WINDOW` seconds before ``now``."""
        if not self.history:
            return 0.0
        start = bisect.bisect_left(self.history, (now - SPEED_WINDOW, -1))
        end = bisect.bisect_right(self.history, (now, 1 << 62))
        window = self._totals[end] - self._totals[start]
        span = min(SPEED_WINDOW, max(now - self.started_at, 0.1))
        return window / span

    def eta(self, now: float) -> float | None:
        speed = self.speed(now)
        fetched = self.done - self.resumed
        if speed <= 0 or fetched <= 0:
            return None
        remaining = self.total - self.done - len(self.failed)
        per_segment = self.bytes_done / max(self.done, 1)
        return remaining * per_segment / speed

    def add_history(self, at: float, nbytes: int) -> None:
        """Note a completed download (events arrive nearly in time order: appending is
        the usual case; an earlier one is inserted and the totals after it redone)."""
        entry = (at, nbytes)
        history, totals = self.history, self._totals
        if not history or history[-1] <= entry:
            history.append(entry)
            totals.append(totals[-1] + nbytes)
            return
        at_index = bisect.bisect_right(history, entry)
        history.insert(at_index, entry)
        del totals[at_index + 1 :]
        for _, n in history[at_index:]:
            totals.append(totals[-1] + n)

    def _set(self, index: int, attempt: int, state: SegmentState) -> bool:
        key = (attempt, _PHASE[state])
        if state == "done":
            # final: a completed segment is never fetched again
            key = (1 << 30, _PHASE[state])
        old = self.segments.get(index)
        if old is not None and old[0] >= key:
            return False
        self.segments[index] = (key, state)
        return True


@attrs.define
class HostState:
    host: str
    segments: int = 0
    bytes: int = 0
    limit: int | None = None
    note: str | None = None


@attrs.define
class Progress:
    """Everything a front end shows, folded from events."""

    manifest_url: str | None = None
    title: str | None = None
    concurrency: int = 0
    streams: dict[str, StreamState] = attrs.Factory(dict)
    notices: list[str] = attrs.Factory(list)
    retries: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    status: Status | None = None
    outputs: tuple[str, ...] = ()
    error: str | None = None
    muxing: str | None = None
    mux_fraction: float | None = None
    paused: bool = False
    latest: float = 0.0
    hosts: dict[str, HostState] = attrs.Factory(dict)

    def _host(self, name: str) -> HostState:
        if name not in self.hosts:
            self.hosts[name] = HostState(name)
        return self.hosts[name]

    def apply(self, event: Event) -> None:
        self.latest = max(self.latest, event.at)
        match event:
            case JobStarted():
                self.manifest_url = event.manifest_url
                self.title = event.title
                self.concurrency = event.concurrency
                self.started_at = event.at
                for info in event.streams:
                    self.streams.setdefault(
                        info.id, StreamState(info, path=info.path, started_at=event.at)
                    )
            case StreamGrew():
                st = self.streams[event.stream]
                if event.segments_total > st.info.segments_total:
                    st.info = attrs.evolve(st.info, segments_total=event.segments_total)
            case SegmentStarted():
                self.streams[event.stream]._set(event.index, event.attempt, "in_flight")
            case SegmentRetry():
                self.retries += 1
                self.streams[event.stream]._set(event.index, event.attempt, "retrying")
            case SegmentFailed():
                st = self.streams[event.stream]
                st.failures[event.index] = event
                st._set(event.index, event.attempts, "failed")
            case SegmentDone():
                st = self.streams[event.stream]
                if st._set(event.index, 0, "done"):
                    st.done += 1
                    st.bytes_done += event.nbytes
                    if event.url:
                        host = self._host(host_of(event.url))
                        host.segments += 1
                        host.bytes += event.nbytes
                    if event.resumed:
                        st.resumed += 1
                    else:
                        st.add_history(event.at, event.nbytes)
            case StreamFinished():
                st = self.streams[event.stream]
                st.finished = True
                st.path = event.path
            case HostLimit():
                host = self._host(event.host)
                host.limit = event.limit
                host.note = event.reason
            case JobPaused():
                self.paused = event.paused
            case MuxStarted():
                self.muxing = event.output
                self.mux_fraction = 0.0
            case MuxProgress():
                self.mux_fraction = event.fraction
            case MuxFinished():
                self.muxing = None
                self.mux_fraction = 1.0
            case Notice():
                self.notices.append(event.message)
            case JobFinished():
                self.status = event.status
                self.outputs = event.outputs
                self.error = event.error
                self.finished_at = event.at

    @property
    def bytes_done(self) -> int:
        return sum(s.bytes_done for s in self.streams.values())

    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else self.latest
        return max(0.0, end - self.started_at)

    def summary(self) -> dict[str, Any]:
        """The ``finished`` object of the JSON output contract."""
        return {
            "event": "finished",
            "status": self.status or "failed",
            "outputs": list(self.outputs),
            "error": self.error,
            "elapsed": round(self.elapsed(), 3),
            "bytes": self.bytes_done,
            "hosts": [
                {"host": h.host, "segments": h.segments, "bytes": h.bytes, "limit": h.limit}
                for h in sorted(self.hosts.values(), key=lambda h: h.host)
            ],
            "streams": [
                {
                    "id": st.info.id,
                    "kind": st.info.kind,
                    "path": st.path,
                    "segments_total": st.total,
                    "segments_done": st.done,
                    "failed": [
                        {
                            "index": f.index,
                            "url": f.url,
                            "error": f.error,
                            "attempts": f.attempts,
                            "start": f.start,
                            "end": f.end,
                        }
                        for f in st.failed
                    ],
                }
                for st in self.streams.values()
            ],
        }
