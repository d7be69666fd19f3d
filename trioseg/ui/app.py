"""The full-screen app: trio runs the job as a guest on Textual's asyncio loop.

One place starts trio (:meth:`TriosegApp.on_mount`).  Quitting, ``q``, Ctrl+C and the
signals SIGINT, SIGTERM and SIGHUP take the same path: the job is cancelled in trio
(a re-run resumes), the trio run is awaited, then the app exits with the job's exit
code.  :meth:`TriosegApp.on_unmount` does the same as a safety net.
"""

from __future__ import annotations

import asyncio
import math
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import outcome
import trio
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.events import Resize
from textual.message import Message
from textual.widgets import Footer

from ..engine import JobControl
from ..headless import summary_lines
from ..progress import Progress
from .bridge import Bridge, Job
from .segmap import RANK
from .widgets import FailedTable, LogPane, SegmentMap, StatusBar, StreamsView, SummaryView

__all__ = ["TriosegApp", "run_ui"]

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_CRASH = 1
#: terminal rows from which the log pane is shown from the start
TALL = 36
#: lines the log pane keeps
LOG_LINES = 1000

Command = Literal["quit", "restart"]


class ProgressChanged(Message):
    """Posted by the bridge when new events were folded; a newer one replaces a queued one."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProgressChanged)


class TriosegApp(App[int]):
    """Shows one download job; ``job`` is run inside trio (guest mode)."""

    CSS_PATH = "app.tcss"
    TITLE = "trioseg"
    ENABLE_COMMAND_PALETTE = False
    AUTO_FOCUS = None
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("r", "retry", "Retry failed"),
        Binding("p", "pause", "Pause/resume"),
        Binding("l", "toggle_log", "Log"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        job: Job,
        *,
        control_factory: Callable[[], JobControl] = JobControl,
        auto_exit: float | None = 1.0,
        max_fps: float = 10.0,
        live_clock: float | None = None,
    ) -> None:
        super().__init__()
        self.job = job
        #: seconds between ticks of trio's clock while the job runs, so speed, ETA and
        #: elapsed time move without events (None: the screen is a function of the events)
        self.live_clock = live_clock
        self.control_factory = control_factory
        self.auto_exit = auto_exit
        #: seconds between redraws at least: a burst of events costs one redraw
        self.min_interval = 1.0 / max_fps
        #: how many times the screen was redrawn from the progress
        self.draws = 0
        self.bridge = Bridge(notify=self._announce)
        #: the job's control of the current run (set in trio)
        self.control: JobControl | None = None
        #: how many times the job was started
        self.runs = 0
        #: the exit code of the last run of the job (None while it runs)
        self.code: int | None = None
        #: the trio run's exception, when it crashed
        self.crash: BaseException | None = None
        #: ``say`` lines, each with the run it belongs to and whether that run had finished
        self.said: list[tuple[str, int, bool]] = []
        self._token: trio.lowlevel.TrioToken | None = None
        self._commands: trio.MemorySendChannel[Command] | None = None
        self._quitting = False
        self._trio_done: asyncio.Future[None] | None = None
        self._signals: list[int] = []
        self._last_draw = -math.inf
        self._draw_timer: Any = None
        self._exit_timer: Any = None
        self._exiting = False

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

    def on_mount(self) -> None:
        self.query_one("#map").border_title = "segments"
        self.query_one("#failed").border_title = "failed segments"
        self.query_one("#log").border_title = "log"
        self.query_one("#summary").border_title = "summary"
        # a tall terminal has room for the log from the start
        self.query_one("#log").display = self.size.height >= TALL
        loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
            except (ValueError, RuntimeError, NotImplementedError):
                continue
            self._signals.append(signum)
        self._trio_done = loop.create_future()
        trio.lowlevel.start_guest_run(
            self._trio_main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            done_callback=self._on_trio_done,
            host_uses_signal_set_wakeup_fd=True,
        )
        self._draw()

    async def on_unmount(self) -> None:
        await self._stop_trio(None)
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            loop.remove_signal_handler(signum)
        self._signals = []

    # --- trio side ---------------------------------------------------------------------

    async def _trio_main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        send, receive = trio.open_memory_channel[Command](math.inf)
        self._commands = send
        if self.live_clock is not None:
            trio.lowlevel.spawn_system_task(self._tick, self.live_clock)
        while not self._quitting:
            control = self.control_factory()
            self.control = control
            self.code = None
            self.runs += 1
            code = await self.job(self.bridge, control, self.say)
            self.code = code
            self._on_job_done()
            if self._quitting or await receive.receive() == "quit":
                return
            self.bridge.restart()

    async def _tick(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            progress = self.progress
            if self.code is None and progress.started_at is not None and progress.status is None:
                self.bridge.tick(trio.current_time())

    def _stop_in_trio(self, signum: int | None) -> None:
        self._quitting = True
        if self.control is not None and self.code is None:
            self.control.cancel(signum)
        if self._commands is not None:
            self._commands.send_nowait("quit")

    def say(self, text: str) -> None:
        """Show an informational line (and print it after the app exits)."""
        self.said.append((text, self.runs, self.progress.status is not None))
        self.bridge.say(text)

    def _on_trio_done(self, result: outcome.Outcome[None]) -> None:
        if isinstance(result, outcome.Error):
            self.crash = result.error
        assert self._trio_done is not None
        if not self._trio_done.done():
            self._trio_done.set_result(None)
        self._token = None
        if not self._exiting and self.return_code is None:
            self._exiting = True
            self.exit(self.exit_code)

    # --- host side ---------------------------------------------------------------------

    @property
    def exit_code(self) -> int:
        """The process exit code: the last run's, or 1 when the engine crashed."""
        if self.crash is not None:
            return EXIT_CRASH
        return self.code if self.code is not None else 128 + signal.SIGINT

    def _in_trio(self, fn: Callable[..., object], *args: object) -> bool:
        token = self._token
        if token is None:
            return False
        try:
            token.run_sync_soon(fn, *args)
        except trio.RunFinishedError:
            return False
        return True

    def _on_signal(self, signum: int) -> None:
        self.run_worker(self._quit(signum if self.code is None else None), exclusive=True)

    async def _stop_trio(self, signum: int | None) -> None:
        if self._trio_done is None:
            return
        if not self._trio_done.done():
            if not self._in_trio(self._stop_in_trio, signum):
                # trio has not started the job yet: it will not
                self._quitting = True
            await asyncio.shield(self._trio_done)

    async def _quit(self, signum: int | None = None) -> None:
        await self._stop_trio(signum)
        if not self._exiting and self.return_code is None:
            self._exiting = True
            self.exit(self.exit_code)

    async def action_quit(self) -> None:
        await self._quit(None)

    def action_retry(self) -> None:
        if self.code is None:
            self._in_trio(self._retry_in_trio)
        elif self.progress.status in ("partial", "failed") and self._commands is not None:
            if self._exit_timer is not None:
                self._exit_timer.stop()
                self._exit_timer = None
            self.say("restarting the job: only the missing segments are fetched")
            self._in_trio(self._commands.send_nowait, "restart")

    def _retry_in_trio(self) -> None:
        if self.control is None:
            return
        queued = self.control.retry_failed()
        self.bridge.say(
            f"retrying {queued} failed segment(s) now" if queued else "no failed segment to retry"
        )

    def action_pause(self) -> None:
        if self.code is None and self.control is not None:
            self._in_trio(self.control.toggle_pause)

    def action_toggle_log(self) -> None:
        log = self.query_one(LogPane)
        log.display = not log.display
        self.call_after_refresh(log.flush)

    def _on_job_done(self) -> None:
        progress = self.progress
        self.bridge.changed()
        if self._quitting or self.auto_exit is None:
            return
        if progress.status == "complete" or progress.manifest_url is None:
            self._exit_timer = self.set_timer(self.auto_exit, self._auto_quit)

    async def _auto_quit(self) -> None:
        self._exit_timer = None
        await self._quit(None)

    # --- drawing -------------------------------------------------------------------------

    def _announce(self) -> None:
        self.post_message(ProgressChanged())

    def on_progress_changed(self, message: ProgressChanged) -> None:
        if self._draw_timer is not None:
            return
        wait = self._last_draw + self.min_interval - time.monotonic()
        if wait > 0:
            self._draw_timer = self.set_timer(wait, self._draw)
        else:
            self._draw()

    def on_resize(self, event: Resize) -> None:
        self.call_after_refresh(self._draw)

    def _draw(self) -> None:
        self._draw_timer = None
        self._last_draw = time.monotonic()
        self.draws += 1
        lines = self.bridge.drawn()
        if not self.is_running or self._exiting:
            return
        progress = self.progress
        now = self.bridge.now
        states = self.bridge.states
        status = self.query_one(StatusBar)
        status.running = self._token is not None
        status.show(progress, now, states)
        self.query_one(StreamsView).show(progress, now, states)
        self.query_one(SegmentMap).show(progress, now, states)
        failed = self.query_one(FailedTable)
        failed.display = any(
            states.of(st).count(RANK["failed"]) for st in progress.streams.values()
        )
        failed.sync(progress, states.failures)
        summary = self.query_one(SummaryView)
        summary.closing = self._exit_timer is not None
        summary.display = self.code is not None and progress.status is not None
        summary.show(progress)
        self.query_one(LogPane).add(lines)


def run_ui(job: Job) -> int:
    """Run ``job`` under the full-screen UI; returns its exit code.

    After the app closes, the summary and the informational lines are printed on stderr
    so they stay readable.
    """
    app = TriosegApp(job, live_clock=0.5)
    app.run()
    out = sys.stderr
    progress = app.progress
    if app.return_code:
        # the app itself failed; Textual has printed why
        return EXIT_CRASH
    if app.crash is not None:
        error = app.crash
        print(
            f"trioseg: error: internal error: {type(error).__name__}: {error}".rstrip(": "),
            file=out,
        )
        return EXIT_CRASH
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
