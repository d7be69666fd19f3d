"""Plain output for CI, logs and pipes: human lines on stderr, ``--json`` lines on stdout.

Both are folded from the engine's events by the same :class:`~trioseg.progress.Progress`
reducer the full-screen UI uses.  Progress lines are throttled to about one per stream
per ``interval`` seconds; warnings, failures and the summary are printed as they happen.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import attrs
import trio

from .events import (
    Event,
    HostLimit,
    JobFinished,
    JobStarted,
    Listing,
    MuxFinished,
    MuxProgress,
    MuxStarted,
    Notice,
    SegmentDone,
    SegmentFailed,
    SegmentRetry,
    Status,
    StreamFinished,
)
from .progress import Progress, StreamState

__all__ = [
    "FOLD_EVERY",
    "Reporter",
    "batch_lines",
    "batch_status",
    "consume_in_batches",
    "format_bytes",
    "format_duration",
    "summary_lines",
]


def format_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds + 0.5)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _name(st: StreamState) -> str:
    return f"{st.info.kind} {st.info.id}"


#: seconds a consumer lets events gather between folds while they keep coming
FOLD_EVERY = 0.02


async def consume_in_batches(
    receive: trio.MemoryReceiveChannel[Event],
    handle: Callable[[Event], None],
    every: float = FOLD_EVERY,
) -> None:
    """Call ``handle`` on every event, in order, until the channel is closed.

    After an event, whatever else is queued is handled at once; then the events get
    ``every`` seconds to gather.  Waking for each event would cost a task switch each
    (about one per event while downloading), and nobody reads progress faster.
    """
    async with receive:
        while True:
            try:
                event = await receive.receive()
            except trio.EndOfChannel:
                return
            handle(event)
            while True:
                try:
                    event = receive.receive_nowait()
                except trio.WouldBlock:
                    break
                except trio.EndOfChannel:
                    return
                handle(event)
            await trio.sleep(every)


@attrs.define
class Reporter:
    progress: Progress
    lines: TextIO | None
    json_out: TextIO | None
    retries: int = 0
    interval: float = 1.0
    #: in a batch: put before every line, and merged into every JSON object
    prefix: str = ""
    json_extra: dict[str, Any] = attrs.Factory(dict)
    #: where the human form of -F / --simulate goes (standard output by default)
    listing_out: TextIO | None = None
    _last: dict[str, float] = attrs.Factory(dict)

    async def consume(self, receive: trio.MemoryReceiveChannel[Event]) -> None:
        await consume_in_batches(receive, self.handle)

    def handle(self, event: Event) -> None:
        self.progress.apply(event)
        match event:
            case JobStarted():
                self._json(
                    {
                        "event": "start",
                        "manifest": event.manifest_url,
                        "title": event.title,
                        "concurrency": event.concurrency,
                        "streams": [attrs.asdict(s) for s in event.streams],
                    }
                )
                self._line(f"downloading {event.manifest_url}")
                for st in self.progress.streams.values():
                    self._line(f"  {_name(st)}: {st.info.label} ({st.total} segments)")
            case SegmentDone():
                self._maybe_progress(event.stream, event.at)
            case SegmentRetry():
                self._json(_event_json(event))
                st = self.progress.streams[event.stream]
                self._line(
                    f"warning: {_name(st)} segment {event.index}: {event.error}; "
                    f"retry {event.attempt} of {self.retries} in {event.delay:.1f} s "
                    f"({event.url})"
                )
            case SegmentFailed():
                self._json(_event_json(event))
                st = self.progress.streams[event.stream]
                self._line(
                    f"error: {_name(st)} segment {event.index} failed after "
                    f"{event.attempts} attempt(s): {event.error} ({event.url})"
                )
            case Listing():
                if self.json_out is not None:
                    self._json({"event": event.kind, **event.data})
                else:
                    print(event.text, file=self.listing_out or sys.stdout, flush=True)
            case HostLimit():
                self._json(_event_json(event))
                self._line(f"warning: host {event.host}: {event.reason}; limit {event.limit}")
            case Notice():
                self._json(_event_json(event))
                self._line(f"warning: {event.message}")
            case MuxStarted():
                self._json(_event_json(event))
                self._line(f"muxing {event.output}")
            case MuxProgress():
                last = self._last.get("\0mux")
                if last is None or event.at - last >= self.interval:
                    self._last["\0mux"] = event.at
                    self._json(_event_json(event))
                    self._line(f"muxing {event.fraction:.0%}")
            case MuxFinished():
                self._json(_event_json(event))
            case StreamFinished():
                pass
            case JobFinished():
                if self.progress.manifest_url is not None:
                    for stream in self.progress.streams:
                        self._print_progress(stream, event.at)
                    self._summary()
                self._json(self.progress.summary())
            case _:
                pass

    def _maybe_progress(self, stream: str, now: float) -> None:
        st = self.progress.streams[stream]
        last = self._last.get(stream)
        if last is None or now - last >= self.interval or st.done == st.total:
            self._print_progress(stream, now)

    def _print_progress(self, stream: str, now: float) -> None:
        if self._last.get(stream) == -1.0:
            return
        st = self.progress.streams[stream]
        self._last[stream] = -1.0 if st.done == st.total else now
        speed = st.speed(now)
        self._json(
            {
                "event": "progress",
                "stream": st.info.id,
                "segments_done": st.done,
                "segments_total": st.total,
                "failed": len(st.failed),
                "bytes": st.bytes_done,
                "speed": round(speed),
            }
        )
        pct = 100.0 * st.done / st.total if st.total else 100.0
        self._line(
            f"{_name(st)}: {st.done}/{st.total} segments {pct:3.0f}%  "
            f"{format_bytes(st.bytes_done)}  {format_bytes(speed)}/s  "
            f"ETA {format_duration(st.eta(now))}"
        )

    def _summary(self) -> None:
        for line in summary_lines(self.progress):
            self._line(line)

    def _line(self, text: str) -> None:
        if self.lines is not None:
            print(self.prefix + text, file=self.lines, flush=True)

    def _json(self, obj: dict[str, Any]) -> None:
        if self.json_out is not None:
            obj = {**obj, **self.json_extra} if self.json_extra else obj
            print(json.dumps(obj, separators=(",", ":")), file=self.json_out, flush=True)


def summary_lines(progress: Progress) -> list[str]:
    """The end-of-run summary shown by every front end (status, outputs, time, speed)."""
    elapsed = progress.elapsed()
    rate = progress.bytes_done / elapsed if elapsed > 0 else 0.0
    done = sum(s.done for s in progress.streams.values())
    total = sum(s.total for s in progress.streams.values())
    lines = [
        f"{progress.status}: {done}/{total} segments, {format_bytes(progress.bytes_done)} in "
        f"{elapsed:.2f} s ({format_bytes(rate)}/s)"
    ]
    lines += [f"  wrote {path}" for path in progress.outputs]
    if len(progress.hosts) > 1 or any(h.limit is not None for h in progress.hosts.values()):
        for host in sorted(progress.hosts.values(), key=lambda h: h.host):
            lines.append(
                f"  host {host.host}: {host.segments} segments, {format_bytes(host.bytes)}"
            )
    if progress.error:
        lines.append(f"  {progress.error}")
    return lines


def batch_status(progresses: Sequence[Progress]) -> Status:
    """The batch's status: complete when every job is, cancelled when any was, partial
    when some segments or jobs completed, failed otherwise (a job that never reported
    how it ended was stopped)."""
    statuses = [p.status or "cancelled" for p in progresses]
    if all(st == "complete" for st in statuses):
        return "complete"
    if any(st == "cancelled" for st in statuses):
        return "cancelled"
    if any(st in ("complete", "partial") for st in statuses):
        return "partial"
    return "failed"


def batch_lines(labels: Sequence[str], progresses: Sequence[Progress]) -> list[str]:
    """The batch's closing lines: how many jobs completed, then each one that did not."""
    total = len(labels)
    done = sum(p.status == "complete" for p in progresses)
    lines = [f"batch {batch_status(progresses)}: {done} of {total} downloads complete"]
    for n, (label, progress) in enumerate(zip(labels, progresses, strict=True), 1):
        if progress.status != "complete":
            error = f": {progress.error}" if progress.error else ""
            lines.append(f"  [{n}/{total}] {progress.status or 'cancelled'}: {label}{error}")
    return lines


def _event_json(event: Event) -> dict[str, Any]:
    data = attrs.asdict(event)
    data.pop("at", None)
    return {"event": event.name, **data}
