"""The full-screen app for a batch: a job list, and the selected job as the single view
shows it (streams, segment map, failed segments).

Trio runs the batch as a guest (see :mod:`.guest`) with one consumer and one
:class:`~trioseg.engine.JobControl` per job.  ``q``, Ctrl+C and the signals cancel every
job (a re-run resumes); ``p`` pauses or resumes them all; ``r`` retries the selected
job's failed segments now; up/down (or ``k``/``j``) select a job; ``l`` shows the log,
where every job's lines carry its number.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import ClassVar

import trio
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer

from ..engine import JobControl
from ..headless import summary_lines
from ..progress import Progress
from .app import LOG_LINES, TALL
from .bridge import Batch, Bridge
from .guest import EXIT_CRASH, GuestApp, set_paused_quietly
from .jobs import (
    TextView,
    batch_lines,
    render_batch_status,
    render_batch_summary,
    render_job_line,
    render_jobs,
)
from .segmap import RANK
from .widgets import FailedTable, LogPane, SegmentMap, StreamsView, title_panes

__all__ = ["Batch", "BatchApp", "run_ui_batch"]

#: rows the job list takes at most
LIST_ROWS = 10
#: the segment map's height at least (borders included)
MAP_ROWS = 4
#: the failed table's height at least and at most, when shown (borders included)
FAILED_ROWS = (5, 8)
#: the log's height at least, when shown
LOG_ROWS = 5


class BatchApp(GuestApp):
    """Shows a batch of downloads; ``batch`` is run inside trio (guest mode)."""

    CSS_PATH: ClassVar[str | list[str | PurePath]] = ["app.tcss", "batch.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "select(1)", "Next job", key_display="↓/j"),
        Binding("up,k", "select(-1)", "Previous", key_display="↑/k"),
        Binding("r", "retry", "Retry failed"),
        Binding("p", "pause", "Pause"),
        Binding("l", "toggle_log", "Log"),
    ]

    def __init__(
        self,
        batch: Batch,
        labels: Sequence[str],
        *,
        control_factory: Callable[[], JobControl] = JobControl,
        auto_exit: float | None = 1.0,
        max_fps: float = 5.0,
        live_clock: float | None = None,
    ) -> None:
        super().__init__(auto_exit=auto_exit, max_fps=max_fps, live_clock=live_clock)
        self.batch = batch
        self.labels = tuple(labels)
        self.control_factory = control_factory
        #: one bridge (the job's consumer) per job, in order
        self.bridges = [Bridge(notify=self.announce) for _ in self.labels]
        #: one control per job (set in trio)
        self.controls: list[JobControl] = []
        #: the index of the job shown below the list
        self.selected = 0
        #: True while every job's fetching is paused
        self.paused = False
        #: ``say`` lines (printed again after the app exits)
        self.said: list[str] = []
        #: trio's clock at the last tick (0 when the app keeps no live clock)
        self.clock = 0.0
        self._lines: list[str] = []
        self._stopped: trio.Event | None = None

    @property
    def progresses(self) -> list[Progress]:
        return [bridge.progress for bridge in self.bridges]

    @property
    def now(self) -> float:
        """The time the screen shows: the latest event's, or the live clock if later."""
        return max([self.clock, *(bridge.now for bridge in self.bridges)])

    def compose(self) -> ComposeResult:
        progress = self.bridges[0].progress if self.bridges else Progress()
        yield TextView(id="status")
        yield TextView(id="jobs")
        with Vertical(id="body"):
            yield TextView(id="job")
            yield StreamsView(progress, id="streams")
            yield SegmentMap(progress, id="map")
            yield FailedTable(id="failed")
            yield LogPane(id="log", max_lines=LOG_LINES)
            yield TextView(id="summary")
        yield Footer()

    def prepare(self) -> None:
        title_panes(self)

    # --- trio side ---------------------------------------------------------------------

    async def trio_main(self) -> None:
        self._stopped = stopped = trio.Event()
        self.controls = [self.control_factory() for _ in self.labels]
        if self.quitting:
            return
        if self.live_clock is not None:
            trio.lowlevel.spawn_system_task(self._tick, self.live_clock)
        self.code = await self.batch(self.bridges, self.controls, self.say)
        self.announce()
        if self.code == 0:
            self.exit_soon()
        await stopped.wait()

    async def _tick(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            if self.code is None and any(
                p.started_at is not None and p.status is None for p in self.progresses
            ):
                self.clock = trio.current_time()
                self.announce()

    def stop_in_trio(self, signum: int | None) -> None:
        if self.code is None:
            for control in self.controls:
                control.cancel(signum)
        if self._stopped is not None:
            self._stopped.set()

    def say(self, text: str) -> None:
        """Show an informational line (and print it after the app exits)."""
        self.said.append(text)
        self._lines.append(text)
        self.announce()

    def _prefix(self, index: int) -> str:
        return f"[{index + 1}/{len(self.labels)}] "

    def _retry_in_trio(self, index: int) -> None:
        if index >= len(self.controls):
            return
        queued = self.controls[index].retry_failed()
        progress = self.bridges[index].progress
        if queued:
            line = f"retrying {queued} failed segment(s) now"
        elif progress.status in ("partial", "failed"):
            line = (
                f"the job has ended {progress.status}: running the same command again "
                "fetches only what is missing"
            )
        else:
            line = "no failed segment to retry"
        self._lines.append(self._prefix(index) + line)
        self.announce()

    def _pause_in_trio(self, paused: bool) -> None:
        for control in self.controls:
            set_paused_quietly(control, paused)

    # --- keys --------------------------------------------------------------------------

    def action_select(self, delta: int) -> None:
        selected = min(max(0, self.selected + delta), len(self.labels) - 1)
        if selected != self.selected:
            self.selected = selected
            self._draw()

    def action_retry(self) -> None:
        self.in_trio(self._retry_in_trio, self.selected)

    def action_pause(self) -> None:
        if self.code is None and self.in_trio(self._pause_in_trio, not self.paused):
            self.paused = not self.paused
            self._draw()

    def action_toggle_log(self) -> None:
        log = self.query_one(LogPane)
        log.display = not log.display
        self._draw()
        self.call_after_refresh(log.flush)

    # --- drawing -------------------------------------------------------------------------

    def redraw(self) -> None:
        lines, self._lines = self._lines, []
        for index, bridge in enumerate(self.bridges):
            lines += [self._prefix(index) + line for line in bridge.drawn()]
        if not self.drawable or not self.bridges:
            return
        now = self.now
        progresses = self.progresses
        jobs = list(zip(self.labels, progresses, strict=True))
        selected = self.selected
        bridge = self.bridges[selected]
        progress, states = bridge.progress, bridge.states
        paused = self.paused and self.code is None
        running = self.running
        all_states = [b.states for b in self.bridges]
        self.query_one("#status", TextView).show(
            lambda w, h: render_batch_status(progresses, w, running, now, all_states, paused)
        )
        number, total, label = selected + 1, len(self.labels), self.labels[selected]
        self.query_one("#job", TextView).show(
            lambda w, h: render_job_line(number, total, label, progress, w, now, states, paused)
        )
        log = self.query_one(LogPane)
        # a short terminal has no room for everything: the log takes the place of the
        # map and the summary while it is shown
        crowded = log.display and self.size.height < TALL
        streams = self.query_one(StreamsView)
        streams.show(progress, now, states)
        segmap = self.query_one(SegmentMap)
        segmap.display = not crowded
        segmap.show(progress, now, states)
        failed = self.query_one(FailedTable)
        failed.display = any(
            states.of(st).count(RANK["failed"]) for st in progress.streams.values()
        )
        failed.sync(progress, states.failures)
        summary = self.query_one("#summary", TextView)
        ended = self.code is not None and all(p.status is not None for p in progresses)
        closing = batch_lines(self.labels, progresses)[:1] if ended else []
        leaving = self.closing
        summary.display = (ended or progress.status is not None) and not crowded
        summary.show(lambda w, h: render_batch_summary(number, total, progress, closing, leaving))
        self._fit(len(jobs), streams, summary, failed.display, crowded)
        self.query_one("#jobs", TextView).show(
            lambda w, h: render_jobs(jobs, w, h, selected, now, paused)
        )
        log.add(lines)

    def _fit(
        self,
        jobs: int,
        streams: StreamsView,
        summary: TextView,
        failed: bool,
        crowded: bool,
    ) -> None:
        """Share the rows: the list gets what the selected job's panes leave, at least two
        rows, at most :data:`LIST_ROWS`; the failed table what the list leaves."""
        size = self.size
        used = 3 + streams.get_content_height(size, size, max(0, size.width - 2))
        if summary.display:
            used += summary.get_content_height(size, size, max(0, size.width - 4)) + 2
        used += LOG_ROWS if self.query_one(LogPane).display else 0
        free = size.height - used - (0 if crowded else MAP_ROWS)
        low, high = FAILED_ROWS
        rows = min(jobs, LIST_ROWS, max(2, free - (low if failed else 0)))
        jobs_view = self.query_one("#jobs")
        if jobs_view.styles.height is None or jobs_view.styles.height.value != rows:
            jobs_view.styles.height = rows
        table = self.query_one(FailedTable)
        most = min(high, max(low, free - rows))
        if table.styles.max_height is None or table.styles.max_height.value != most:
            table.styles.max_height = most


def run_ui_batch(batch: Batch, labels: Sequence[str]) -> int:
    """Run ``batch`` under the full-screen UI; returns its exit code.

    After the app closes, the informational lines, every job's summary and the batch's
    closing lines are printed on stderr so they stay readable.
    """
    app = BatchApp(batch, labels, live_clock=0.5)
    if app.run_from_cli() is not None:
        return EXIT_CRASH
    out = sys.stderr
    for text in app.said:
        print(text, file=out)
    progresses = app.progresses
    total = len(app.labels)
    for n, progress in enumerate(progresses, 1):
        if progress.manifest_url is not None and progress.status is not None:
            for line in summary_lines(progress):
                print(f"[{n}/{total}] {line}", file=out)
    for line in batch_lines(app.labels, progresses):
        print(line, file=out)
    return app.exit_code
