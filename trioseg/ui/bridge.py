"""The bridge from a trio job to the Textual app.

:class:`Bridge` is the job's :class:`~trioseg.events.EventConsumer`: in trio it folds
every event into a :class:`~trioseg.progress.Progress` (the same reducer as the headless
output) and collects log lines; it tells the app that something changed at most once
until the app has drawn it, so any burst of events costs one redraw.  Guest mode runs
trio on the app's thread, so the app reads the same objects when it draws.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Awaitable, Callable, Iterable, Sequence

import attrs
import trio
import trio.testing

from ..engine import JobControl
from ..events import (
    Event,
    EventConsumer,
    HostLimit,
    JobFinished,
    JobPaused,
    JobStarted,
    MuxProgress,
    MuxStarted,
    Notice,
    SegmentDone,
    SegmentFailed,
    SegmentRetry,
    SegmentStarted,
    StreamGrew,
)
from ..headless import consume_in_batches, summary_lines
from ..progress import Progress
from .segmap import SegmentStates

__all__ = ["Batch", "Bridge", "Job", "Say", "log_line", "replay", "replay_batch"]

Say = Callable[[str], None]


def _noop() -> None:
    pass


@attrs.define(eq=False)
class Bridge:
    """Folds a job's events in trio; ``notify`` is called when a redraw is due."""

    notify: Callable[[], None] = _noop
    progress: Progress = attrs.Factory(Progress)
    #: every segment's state, kept as arrays for drawing
    states: SegmentStates = attrs.Factory(SegmentStates)
    #: events folded since the last :meth:`restart`
    events: int = 0
    #: trio's clock at the last :meth:`tick` (0 when the app keeps no live clock)
    clock: float = 0.0
    _log: list[str] = attrs.Factory(list)
    _pending: bool = False

    @property
    def pending(self) -> bool:
        """True while a change has been announced and not yet drawn."""
        return self._pending

    async def consume(self, receive: trio.MemoryReceiveChannel[Event]) -> None:
        await consume_in_batches(receive, self.apply)

    def apply(self, event: Event) -> None:
        progress = self.progress
        progress.apply(event)
        self.states.update(progress, event)
        self.events += 1
        if type(event) not in _QUIET:
            self._log += log_line(progress, event)
        self.changed()

    @property
    def now(self) -> float:
        """The time the screen shows: the latest event's, or the live clock if later."""
        return max(self.progress.latest, self.clock)

    def tick(self, now: float) -> None:
        """Advance the live clock (speed, ETA and elapsed time move without events)."""
        self.clock = now
        self.changed()

    def say(self, text: str) -> None:
        self._log.append(text)
        self.changed()

    def changed(self) -> None:
        if not self._pending:
            self._pending = True
            self.notify()

    def drawn(self) -> list[str]:
        """Acknowledge a redraw; returns the log lines added since the previous one."""
        self._pending = False
        lines, self._log = self._log, []
        return lines

    def restart(self) -> None:
        """Start folding a new run of the job from scratch (the log goes on)."""
        self.progress = Progress()
        self.states = SegmentStates()
        self.events = 0
        self.clock = 0.0
        self.changed()


#: events that never make a log line: most events are these, two a segment
_QUIET = frozenset({SegmentStarted, SegmentDone, StreamGrew, MuxProgress})


def _stream_name(progress: Progress, stream: str) -> str:
    st = progress.streams.get(stream)
    return f"{st.info.kind} {stream}" if st is not None else stream


def log_line(progress: Progress, event: Event) -> list[str]:
    """The log pane's lines for one event (already folded into ``progress``)."""
    match event:
        case JobStarted():
            return [f"downloading {event.manifest_url}"]
        case SegmentRetry():
            return [
                f"retry: {_stream_name(progress, event.stream)} segment {event.index}: "
                f"{event.error}; attempt {event.attempt + 1} in {event.delay:.1f} s "
                f"({event.url})"
            ]
        case SegmentFailed():
            return [
                f"error: {_stream_name(progress, event.stream)} segment {event.index} failed "
                f"after {event.attempts} attempt(s): {event.error} ({event.url})"
            ]
        case Notice():
            return [f"warning: {event.message}"]
        case HostLimit():
            return [f"warning: host {event.host}: {event.reason}; limit {event.limit}"]
        case JobPaused():
            return ["paused: no new segment starts" if event.paused else "resumed"]
        case MuxStarted():
            return [f"muxing {event.output}"]
        case JobFinished():
            if progress.manifest_url is None:
                return [f"error: {event.error}"] if event.error else []
            return summary_lines(progress)
        case _:
            return []


#: what the CLI hands to :func:`trioseg.ui.run_ui`: runs one download, returns the exit code
Job = Callable[[EventConsumer, JobControl, Say], Awaitable[int]]


def replay(
    events: Iterable[Event],
    *,
    code: int | None = None,
    say: Sequence[str] = (),
) -> Job:
    """A job that replays ``events`` (for tests and screenshots).

    With ``code`` None the job then waits, like a running download, until it is cancelled
    (returning 128 + the signal, as the CLI does); otherwise it returns ``code``.
    Pause commands echo :class:`JobPaused` events, as the engine does.
    """
    script = list(events)
    last = max((event.at for event in script), default=0.0)

    async def job(consumer: EventConsumer, control: JobControl, say_line: Say) -> int:
        send, receive = trio.open_memory_channel[Event](math.inf)
        control.emit = send.send_nowait
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer.consume, receive)
            with send:
                for line in say:
                    say_line(line)
                for event in script:
                    send.send_nowait(event)
                if code is None:
                    with control.scope:
                        await trio.sleep_forever()
                    send.send_nowait(JobFinished("cancelled", (), at=last))
        if code is not None:
            return code
        return 128 + (control.signal or signal.SIGINT)

    return job


#: what the CLI hands to :func:`trioseg.ui.run_ui_batch`: runs every job, each with its
#: consumer and control, and returns the batch's exit code
Batch = Callable[[Sequence[EventConsumer], Sequence[JobControl], Say], Awaitable[int]]


def replay_batch(
    scripts: Sequence[Iterable[Event]],
    codes: Sequence[int | None] | None = None,
    *,
    say: Sequence[str] = (),
) -> Batch:
    """A batch whose jobs replay ``scripts`` (for tests and screenshots).

    Job ``n`` behaves as :func:`replay` with ``codes[n]`` (None: it waits until
    cancelled).  Each job starts once the previous one's events are folded, so the log
    lists the jobs' lines in order.  Returns 128 + the signal when any job was cancelled,
    0 when every job returned 0, else 1.
    """
    jobs = [list(script) for script in scripts]
    job_codes = list(codes) if codes is not None else [None] * len(jobs)

    async def batch(
        consumers: Sequence[EventConsumer], controls: Sequence[JobControl], say_line: Say
    ) -> int:
        results: list[int] = [1] * len(jobs)
        for line in say:
            say_line(line)

        async def one(n: int) -> None:
            results[n] = await replay(jobs[n], code=job_codes[n])(
                consumers[n], controls[n], say_line
            )

        async with trio.open_nursery() as nursery:
            for n in range(len(jobs)):
                nursery.start_soon(one, n)
                await trio.testing.wait_all_tasks_blocked()
        stopped = [c.signal or signal.SIGINT for c in controls if c.scope.cancel_called]
        if stopped:
            return 128 + stopped[0]
        return 0 if all(code == 0 for code in results) else 1

    return batch
