"""The part every trioseg app shares: trio as a guest on Textual's asyncio loop.

One place starts trio (:meth:`GuestApp.on_mount`; subclasses set themselves up in
:meth:`GuestApp.prepare`, since Textual calls ``on_mount`` of every class).  Quitting,
``q``, Ctrl+C and the signals SIGINT, SIGTERM and SIGHUP take the same path: the work is
cancelled in trio (:meth:`GuestApp.stop_in_trio`), the trio run is awaited, then the app
exits with the work's exit code.  :meth:`GuestApp.on_unmount` does the same as a safety
net.  Redraws are coalesced: a burst of :class:`ProgressChanged` messages costs one, and
while the download keeps the CPU busy the screen is redrawn less often.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import gc
import math
import signal
import sys
import time
from collections.abc import Callable
from pathlib import PurePath
from typing import Any, ClassVar

import outcome
import trio
from textual.app import App
from textual.binding import Binding, BindingType
from textual.events import Event, Key, Resize
from textual.message import Message
from textual.message_pump import _MessagePumpMeta

from ..engine import JobControl

__all__ = [
    "EXIT_CRASH",
    "SIGNALS",
    "GuestApp",
    "ProgressChanged",
    "TickBatcher",
    "set_paused_quietly",
]

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_CRASH = 1
#: seconds of trio ticks run back to back before the host loop gets a pass (keys and
#: timers wait at most this long; each pass costs the download a loop iteration)
TICK_BUDGET = 0.008
#: the share of the time trio has work (its ticks run, or wait for the CPU or for a pass
#: of the host loop) from which the download counts as busy: its speed is then bound by
#: the CPU, and every redraw costs it time
BUSY_LOAD = 0.75
#: seconds over which the load is measured at least
LOAD_SPAN = 0.05
#: redraws a second at most while the download is busy
BUSY_FPS = 1.0
#: seconds after a key press during which the screen is redrawn at the full rate, busy or
#: not, so that what the key did shows at once
PROMPT_SECONDS = 1.0
#: seconds the work waits at most for the app's first frame
FIRST_FRAME_WAIT = 1.0


def set_paused_quietly(control: JobControl, paused: bool) -> None:
    """Pause or resume a job's fetching, in trio; a job that has just ended (its events
    channel closed) has nothing left to pause."""
    with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
        control.set_paused(paused)


class TickBatcher:
    """Runs trio's guest ticks back to back for up to ``budget`` seconds per host pass.

    A busy download makes a trio tick for every batch of ready tasks (about two per
    segment), and each would otherwise cost a pass of the asyncio loop: a ``select``
    call, the ready queue and Textual's own bookkeeping.  Here a tick that asks for the
    next one from inside a tick runs it at once, until the budget is spent; then the
    host loop gets its turn (keys, timers, drawing), so the app stays responsive.
    :attr:`busy` adds up the time the ticks took, and :meth:`idle` the time trio waited
    for I/O with nothing to run: from the latter the app tells whether the download is
    held back by the CPU.
    """

    def __init__(
        self,
        call_soon: Callable[[Callable[[], object]], object],
        budget: float = TICK_BUDGET,
        clock: Callable[[], float] = time.perf_counter,
        call_soon_threadsafe: Callable[[Callable[[], object]], object] | None = None,
    ) -> None:
        self._call_soon_threadsafe = call_soon_threadsafe or call_soon
        self._call_soon = call_soon
        self._budget = budget
        self._clock = clock
        self._running = False
        self._next: Callable[[], object] | None = None
        #: passes of the host loop used, and ticks run (for tests)
        self.passes = 0
        self.ticks = 0
        #: seconds spent running ticks, by ``clock``
        self.busy = 0.0
        self._idle = 0.0
        #: when trio last went to wait for I/O (None: it has work, or it has ended)
        self._idle_since: float | None = None

    def soon(self, tick: Callable[[], object]) -> None:
        """trio's ``run_sync_soon_not_threadsafe``."""
        if self._running:
            self._next = tick
        else:
            self._call_soon(functools.partial(self._run, tick))

    def soon_threadsafe(self, tick: Callable[[], object]) -> None:
        """trio's ``run_sync_soon_threadsafe``: the tick after trio waited for I/O in its
        own thread (the ticks it asks for then run in the same pass)."""
        self._call_soon_threadsafe(functools.partial(self._wake, tick, self._clock()))

    def idle(self, now: float) -> float:
        """Seconds trio has waited for I/O with nothing to run, up to ``now``.

        Time trio spends ready but not running (waiting for the host loop's next pass,
        or for the CPU when other processes have it) is not idle: a download that the
        CPU holds back is busy even when its ticks take a small share of the time.
        """
        since = self._idle_since
        return self._idle + (max(0.0, now - since) if since is not None else 0.0)

    def _wake(self, tick: Callable[[], object], woken: float) -> None:
        # trio's I/O thread delivered at ``woken``: the wait that began when a pass
        # ended without a next tick is over
        since, self._idle_since = self._idle_since, None
        if since is not None:
            self._idle += max(0.0, woken - since)
        self._run(tick)

    def _run(self, tick: Callable[[], object]) -> None:
        self.passes += 1
        start = self._clock()
        deadline = start + self._budget
        self._running = True
        try:
            while True:
                self.ticks += 1
                tick()
                following, self._next = self._next, None
                if following is None:
                    return
                if self._clock() >= deadline:
                    self._next = following  # the next pass of the host loop runs it
                    return
                tick = following
        finally:
            self._running = False
            end = self._clock()
            self.busy += end - start
            # a tick left for the next pass, or asked for by a tick that then raised:
            # trio waits for it either way
            following, self._next = self._next, None
            if following is not None:
                self._call_soon(functools.partial(self._run, following))
            else:
                # trio asked for no next tick: it waits for I/O in its own thread
                self._idle_since = end


class ProgressChanged(Message):
    """Posted when new events were folded; a newer one replaces a queued one."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProgressChanged)


class _AbstractAppMeta(_MessagePumpMeta, abc.ABCMeta):
    """Textual's metaclass with abstract-method checks."""


class GuestApp(App[int], metaclass=_AbstractAppMeta):
    """Runs :meth:`trio_main` inside trio (guest mode) while the app is mounted."""

    CSS_PATH: ClassVar[str | list[str | PurePath]] = "app.tcss"
    #: quitting; a subclass's own keys are listed after these
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]
    TITLE = "trioseg"
    ENABLE_COMMAND_PALETTE = False
    AUTO_FOCUS = None

    def __init__(
        self,
        *,
        auto_exit: float | None = 1.0,
        max_fps: float = 5.0,
        live_clock: float | None = None,
        freeze_gc: bool = False,
    ) -> None:
        super().__init__()
        #: move the app's own objects out of the cycle collector's way once it is
        #: mounted (the command line does; tests that run many apps do not)
        self.freeze_gc = freeze_gc
        #: seconds between ticks of trio's clock while the work runs, so speed, ETA and
        #: elapsed time move without events (None: the screen is a function of the events)
        self.live_clock = live_clock
        #: seconds after a successful end before the app closes by itself (None: never)
        self.auto_exit = auto_exit
        #: seconds between redraws at least: a burst of events costs one redraw
        self.min_interval = 1.0 / max_fps
        #: the clock of trio's ticks and of :attr:`load`
        self.tick_clock: Callable[[], float] = time.perf_counter
        #: the clock that spaces the redraws (and times a key's full-rate second)
        self.draw_clock: Callable[[], float] = time.monotonic
        #: the share of the time between the last two redraws that trio had work to do
        #: (it was not waiting for I/O)
        self.load = 0.0
        self._ticks: TickBatcher | None = None
        self._load_mark = (0.0, 0.0)
        #: how many times the screen was redrawn from the progress
        self.draws = 0
        #: the exit code of the work (None while it runs)
        self.code: int | None = None
        #: the trio run's exception, when it crashed
        self.crash: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._quitting = False
        self._trio_done: asyncio.Future[None] | None = None
        self._first_frame = trio.Event()
        self._framed = False
        self._signals: list[int] = []
        self._last_draw = -math.inf
        self._prompt_until = -math.inf
        self._draw_timer: Any = None
        self._exit_timer: Any = None
        self._exiting = False

    # --- what a subclass provides ----------------------------------------------------

    def prepare(self) -> None:
        """Set the widgets up, before trio starts."""

    @abc.abstractmethod
    async def trio_main(self) -> None:
        """The work, in trio; returns when the app should exit."""

    @abc.abstractmethod
    def stop_in_trio(self, signum: int | None) -> None:
        """In trio: cancel the work (``signum`` is the signal that asked, if one did)."""

    @abc.abstractmethod
    def redraw(self) -> None:
        """Draw the screen from the current progress."""

    def run_from_cli(self) -> int | None:
        """Run the app for the command line; returns :data:`EXIT_CRASH` when the app
        failed (Textual has printed why) or the work crashed (said here, in one line),
        else None (the caller prints what the work left to say)."""
        self.freeze_gc = True
        self.run()
        if self.return_code:
            return EXIT_CRASH
        if self.crash is not None:
            error = self.crash
            message = f"trioseg: error: internal error: {type(error).__name__}: {error}"
            print(message.rstrip(": "), file=sys.stderr)
            return EXIT_CRASH
        return None

    # --- the trio run ------------------------------------------------------------------

    def on_mount(self) -> None:
        self.prepare()
        loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
            except (ValueError, RuntimeError, NotImplementedError):
                continue
            self._signals.append(signum)
        self._trio_done = loop.create_future()
        # from the loop's own thread a plain call_soon is enough (no self-pipe write),
        # and runs of ticks share one pass of the loop
        self._ticks = TickBatcher(
            loop.call_soon, clock=self.tick_clock, call_soon_threadsafe=loop.call_soon_threadsafe
        )
        self._load_mark = (self.tick_clock(), 0.0)
        trio.lowlevel.start_guest_run(
            self._trio_main,
            run_sync_soon_threadsafe=self._ticks.soon_threadsafe,
            run_sync_soon_not_threadsafe=self._ticks.soon,
            done_callback=self._on_trio_done,
            host_uses_signal_set_wakeup_fd=True,
        )
        self._draw()
        self.call_after_refresh(self._on_first_frame)

    async def on_unmount(self) -> None:
        await self._stop_trio(None)
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            loop.remove_signal_handler(signum)
        self._signals = []

    async def _trio_main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        # the work starts once the first frame is on the screen: laying the screen out
        # takes tens of milliseconds, which would otherwise be taken from the download
        if not self._framed:  # the frame may have come before trio's first tick
            with trio.move_on_after(FIRST_FRAME_WAIT):
                await self._first_frame.wait()
        if self.freeze_gc:
            # the app's widgets, styles and driver live until it closes: keep them out
            # of the collections the download's allocations trigger (see cli.tune_gc)
            gc.freeze()
        await self.trio_main()

    def _on_first_frame(self) -> None:
        self._framed = True
        self.in_trio(self._first_frame.set)

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

    @property
    def running(self) -> bool:
        """True while trio runs."""
        return self._token is not None

    @property
    def quitting(self) -> bool:
        return self._quitting

    @property
    def exit_code(self) -> int:
        """The process exit code: the work's, or 1 when the engine crashed."""
        if self.crash is not None:
            return EXIT_CRASH
        return self.code if self.code is not None else 128 + signal.SIGINT

    def in_trio(self, fn: Callable[..., object], *args: object) -> bool:
        """Call ``fn(*args)`` in trio's thread soon; False when trio has finished."""
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

    def _stop(self, signum: int | None) -> None:
        self._quitting = True
        self._first_frame.set()  # nothing to wait for
        self.stop_in_trio(signum)

    async def _stop_trio(self, signum: int | None) -> None:
        if self._trio_done is None:
            return
        if not self._trio_done.done():
            if not self.in_trio(self._stop, signum):
                # trio has not started the work yet: it will not
                self._quitting = True
            await asyncio.shield(self._trio_done)

    async def _quit(self, signum: int | None = None) -> None:
        await self._stop_trio(signum)
        if not self._exiting and self.return_code is None:
            self._exiting = True
            self.exit(self.exit_code)

    async def action_quit(self) -> None:
        await self._quit(None)

    def exit_soon(self) -> None:
        """Close the app after :attr:`auto_exit` seconds (unless it is None)."""
        if self.auto_exit is not None and not self._quitting:
            self._exit_timer = self.set_timer(self.auto_exit, self._auto_quit)

    def stay(self) -> None:
        """Cancel a pending :meth:`exit_soon`."""
        if self._exit_timer is not None:
            self._exit_timer.stop()
            self._exit_timer = None

    @property
    def closing(self) -> bool:
        """True while the app is about to close by itself."""
        return self._exit_timer is not None

    async def _auto_quit(self) -> None:
        self._exit_timer = None
        await self._quit(None)

    # --- drawing -------------------------------------------------------------------------

    def announce(self) -> None:
        """Ask for a redraw (from trio or the app: guest mode shares the thread)."""
        self.post_message(ProgressChanged())

    @property
    def frame_interval(self) -> float:
        """Seconds from one redraw to the next at least.

        While trio has work most of the time (:data:`BUSY_LOAD`: it rarely waits for
        I/O), the download's speed is bound by the CPU and each redraw (a few
        milliseconds) is taken from it: the screen is then redrawn :data:`BUSY_FPS` times a
        second at most, except for :data:`PROMPT_SECONDS` after a key press.
        """
        if self.load >= BUSY_LOAD and self.draw_clock() >= self._prompt_until:
            return max(self.min_interval, 1.0 / BUSY_FPS)
        return self.min_interval

    async def on_event(self, event: Event) -> None:
        if isinstance(event, Key):
            # the user is watching what the key does: draw at the full rate for a while
            self._prompt_until = self.draw_clock() + PROMPT_SECONDS
            if self._draw_timer is not None:
                # a redraw already waits for the busy interval: bring it forward
                self._draw_timer.stop()
                self._draw_timer = None
                self._schedule_draw()
        await super().on_event(event)

    def on_progress_changed(self, message: ProgressChanged) -> None:
        if self._draw_timer is None:
            self._schedule_draw()

    def _schedule_draw(self) -> None:
        wait = self._last_draw + self.frame_interval - self.draw_clock()
        if wait > 0:
            self._draw_timer = self.set_timer(wait, self._draw)
        else:
            self._draw()

    def on_resize(self, event: Resize) -> None:
        self.call_after_refresh(self._draw)

    @property
    def drawable(self) -> bool:
        return self.is_running and not self._exiting

    def _draw(self) -> None:
        # a draw outside the timer (mount, resize) ends the pending one: two timers alive
        # at once would each start a chain of their own and double the redraw rate
        timer, self._draw_timer = self._draw_timer, None
        if timer is not None:
            timer.stop()
        self._last_draw = self.draw_clock()
        self._measure_load()
        self.draws += 1
        self.redraw()

    def _measure_load(self) -> None:
        if self._ticks is None:
            return
        now = self.tick_clock()
        then, before = self._load_mark
        if now - then < LOAD_SPAN:
            return  # too short to tell (a redraw just after another, or at mount)
        idle = self._ticks.idle(now)
        self.load = min(1.0, max(0.0, 1.0 - (idle - before) / (now - then)))
        self._load_mark = (now, idle)
