"""The full-screen app for one download: trio runs the job as a guest (see :mod:`.guest`).

Quitting cancels the job (a re-run resumes); after a partial or failed end, ``r`` runs
the job again, fetching only what is missing.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable
from typing import ClassVar, Literal

import trio
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer

from ..engine import JobControl
from ..headless import summary_lines
from ..progress import Progress
from .bridge import Bridge, Job
from .guest import EXIT_CRASH, GuestApp
from .segmap import RANK
from .widgets import (
    TALL,
    FailedTable,
    LogPane,
    SegmentMap,
    StatusBar,
    StreamsView,
    SummaryView,
    title_panes,
)

__all__ = ["LOG_LINES", "TALL", "TriosegApp", "run_ui"]

#: lines the log pane keeps
LOG_LINES = 1000

Command = Literal["quit", "restart"]


class TriosegApp(GuestApp):
    """Shows one download job; ``job`` is run inside trio (guest mode)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry failed"),
        Binding("p", "pause", "Pause/resume"),
        Binding("l", "toggle_log", "Log"),
    ]

    def __init__(
        self,
        job: Job,
        *,
        control_factory: Callable[[], JobControl] = JobControl,
        auto_exit: float | None = 1.0,
        max_fps: float = 5.0,
        live_clock: float | None = None,
    ) -> None:
        super().__init__(auto_exit=auto_exit, max_fps=max_fps, live_clock=live_clock)
        self.job = job
        self.control_factory = control_factory
        self.bridge = Bridge(notify=self.announce)
        #: the job's control of the current run (set in trio)
        self.control: JobControl | None = None
        #: how many times the job was started
        self.runs = 0
        #: ``say`` lines, each with the run it belongs to and whether that run had finished
        self.said: list[tuple[str, int, bool]] = []
        self._commands: trio.MemorySendChannel[Command] | None = None

    @property
    def progress(self) -> Progress:
        return self.bridge.progress

    def compose(self) -> ComposeResult:
        progress = self.progress
        yield StatusBar(progress, id="status")
        with Vertical(id="body"):
            yield StreamsView(progress, id="streams")
            yield SegmentMap(progress, id="map")
            yield FailedTable(id="failed")
            yield LogPane(id="log", max_lines=LOG_LINES)
            yield SummaryView(progress, id="summary")
        yield Footer()

    def prepare(self) -> None:
        title_panes(self)

    # --- trio side ---------------------------------------------------------------------

    async def trio_main(self) -> None:
        send, receive = trio.open_memory_channel[Command](math.inf)
        self._commands = send
        if self.live_clock is not None:
            trio.lowlevel.spawn_system_task(self._tick, self.live_clock)
        while not self.quitting:
            control = self.control_factory()
            self.control = control
            self.code = None
            self.runs += 1
            code = await self.job(self.bridge, control, self.say)
            self.code = code
            self._on_job_done()
            if self.quitting or await receive.receive() == "quit":
                return
            self.bridge.restart()

    async def _tick(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            progress = self.progress
            if self.code is None and progress.started_at is not None and progress.status is None:
                self.bridge.tick(trio.current_time())

    def stop_in_trio(self, signum: int | None) -> None:
        if self.control is not None and self.code is None:
            self.control.cancel(signum)
        if self._commands is not None:
            self._commands.send_nowait("quit")

    def say(self, text: str) -> None:
        """Show an informational line (and print it after the app exits)."""
        self.said.append((text, self.runs, self.progress.status is not None))
        self.bridge.say(text)

    # --- host side ---------------------------------------------------------------------

    def action_retry(self) -> None:
        if self.code is None:
            self.in_trio(self._retry_in_trio)
        elif self.progress.status in ("partial", "failed") and self._commands is not None:
            self.stay()
            self.say("restarting the job: only the missing segments are fetched")
            self.in_trio(self._commands.send_nowait, "restart")

    def _retry_in_trio(self) -> None:
        if self.control is None:
            return
        queued = self.control.retry_failed()
        self.bridge.say(
            f"retrying {queued} failed segment(s) now" if queued else "no failed segment to retry"
        )

    def action_pause(self) -> None:
        if self.code is None and self.control is not None:
            self.in_trio(self._toggle_pause_in_trio, self.control)

    def _toggle_pause_in_trio(self, control: JobControl) -> None:
        # a job that has just ended (its events channel closed) has nothing to pause
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            control.toggle_pause()

    def action_toggle_log(self) -> None:
        log = self.query_one(LogPane)
        log.display = not log.display
        self.call_after_refresh(log.flush)

    def _on_job_done(self) -> None:
        progress = self.progress
        self.bridge.changed()
        if progress.status == "complete" or progress.manifest_url is None:
            self.exit_soon()

    # --- drawing -------------------------------------------------------------------------

    def redraw(self) -> None:
        lines = self.bridge.drawn()
        if not self.drawable:
            return
        progress = self.progress
        now = self.bridge.now
        states = self.bridge.states
        status = self.query_one(StatusBar)
        status.running = self.running
        status.show(progress, now, states)
        self.query_one(StreamsView).show(progress, now, states)
        self.query_one(SegmentMap).show(progress, now, states)
        failed = self.query_one(FailedTable)
        failed.display = any(
            states.of(st).count(RANK["failed"]) for st in progress.streams.values()
        )
        failed.sync(progress, states.failures)
        summary = self.query_one(SummaryView)
        summary.closing = self.closing
        summary.display = self.code is not None and progress.status is not None
        summary.show(progress)
        self.query_one(LogPane).add(lines)


def run_ui(job: Job) -> int:
    """Run ``job`` under the full-screen UI; returns its exit code.

    After the app closes, the summary and the informational lines are printed on stderr
    so they stay readable.
    """
    app = TriosegApp(job, live_clock=0.5)
    if app.run_from_cli() is not None:
        return EXIT_CRASH
    out = sys.stderr
    progress = app.progress
    last = [after and run == app.runs for _, run, after in app.said]
    for (text, _, _), later in zip(app.said, last, strict=True):
        if not later:
            print(text, file=out)
    if progress.manifest_url is not None and progress.status is not None:
        for line in summary_lines(progress):
            print(line, file=out)
    for (text, _, _), later in zip(app.said, last, strict=True):
        if later:
            print(text, file=out)
    if progress.error and progress.manifest_url is None:
        print(f"trioseg: error: {progress.error}", file=out)
    return app.exit_code
