"""The full-screen UI, driven by Pilot (asyncio) with scripted events and a real origin."""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from conftest import rel
from make_screenshots import (
    BATCH_LABELS,
    batch_mid_download,
    finished,
    mid_download,
    partial,
    settle,
    settle_batch,
    with_failures,
)
from rich.text import Text
from textual.app import App

from trioseg.cli import Options, download, download_batch
from trioseg.engine import JobControl
from trioseg.events import (
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
    Status,
    StreamGrew,
    StreamInfo,
)
from trioseg.media import DashContent
from trioseg.origin import Fault, FaultPlan, open_origin
from trioseg.progress import Progress
from trioseg.ui import (
    BatchApp,
    Bridge,
    Say,
    TriosegApp,
    guest,
    replay,
    replay_batch,
    run_ui,
    run_ui_batch,
)
from trioseg.ui import bridge as bridge_module
from trioseg.ui.batch import LIST_ROWS
from trioseg.ui.bridge import log_line
from trioseg.ui.guest import BUSY_FPS
from trioseg.ui.jobs import (
    TextView,
    batch_lines,
    batch_status,
    list_window,
    render_batch_status,
    render_jobs,
)
from trioseg.ui.segmap import SegmentStates, cells_of, states_of
from trioseg.ui.widgets import (
    GLYPHS,
    FailedTable,
    LogPane,
    SegmentMap,
    StatusBar,
    StreamsView,
    SummaryView,
    failed_columns,
    render_map,
    render_status,
    render_streams,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@attrs.define(eq=False)
class RecordingControl(JobControl):
    calls: list[tuple[str, object]] = attrs.Factory(list)
    retry_result: int = 2

    def cancel(self, signum: int | None = None) -> None:
        self.calls.append(("cancel", signum))
        super().cancel(signum)

    def toggle_pause(self) -> None:
        self.calls.append(("toggle_pause", None))
        super().toggle_pause()

    def retry_failed(self) -> int:
        self.calls.append(("retry_failed", None))
        return self.retry_result


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


class DrawTimers:
    """The redraw timers an app sets: their delays, and the most alive at once."""

    def __init__(self, app: TriosegApp) -> None:
        self.delays: list[float] = []
        self.most_alive = 0
        alive: set[int] = set()
        real = app.set_timer

        def set_timer(delay: float, callback: Any = None, **kwargs: Any) -> Any:
            if callback != app._draw:
                return real(delay, callback, **kwargs)
            key = len(self.delays)
            self.delays.append(delay)

            def fire() -> None:
                alive.discard(key)
                callback()

            timer = real(delay, fire, **kwargs)
            stop = timer.stop

            def stopped() -> None:
                alive.discard(key)
                stop()

            timer.stop = stopped  # type: ignore[method-assign]
            alive.add(key)
            self.most_alive = max(self.most_alive, len(alive))
            return timer

        app.set_timer = set_timer  # type: ignore[method-assign]


def plain(widget: Any) -> str:
    rendered = widget.render()
    assert isinstance(rendered, Text)
    return rendered.plain


def rows(table: FailedTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def app_with(
    events: list[Event], code: int | None = None, **kwargs: Any
) -> tuple[TriosegApp, list[RecordingControl]]:
    controls: list[RecordingControl] = []

    def factory() -> RecordingControl:
        controls.append(RecordingControl())
        return controls[-1]

    kwargs.setdefault("auto_exit", None)
    app = TriosegApp(replay(events, code=code), control_factory=factory, **kwargs)
    return app, controls


def stream_events(total: int, states: dict[int, str], *, concurrency: int = 4) -> list[Event]:
    info = StreamInfo("v", "video", "640x360 avc1 900 kb/s", total, None)
    events: list[Event] = [JobStarted("http://x/m.mpd", None, (info,), concurrency, at=1.0)]
    for index, state in states.items():
        events.append(SegmentStarted("v", index, 1, at=2.0))
        if state == "done":
            events.append(SegmentDone("v", index, 1000, at=3.0))
        elif state == "retrying":
            events.append(SegmentRetry("v", index, f"http://x/{index}", 1, "HTTP 503", 1.0, at=3.0))
        elif state == "failed":
            events.append(SegmentFailed("v", index, f"http://x/{index}", "HTTP 404", 1, at=3.0))
    return events


def folded(events: list[Event]) -> Progress:
    progress = Progress()
    for event in events:
        progress.apply(event)
    return progress


# --- the pure drawing ---------------------------------------------------------------


def test_map_of_ten_segments_has_one_cell_each() -> None:
    states = {0: "done", 1: "done", 2: "in_flight", 3: "retrying", 4: "failed"}
    progress = folded(stream_events(10, states))
    cells, per = cells_of(states_of(progress.streams["v"]), 70)
    assert per == 1
    assert cells == ["done", "done", "in_flight", "retrying", "failed"] + ["waiting"] * 5
    first = render_map(progress, 40, 5).plain.splitlines()[0]
    assert first == "video  " + "██▒!X·····"


def test_map_of_20000_segments_buckets_and_the_worst_state_wins() -> None:
    states = {i: "done" for i in range(5000)}
    states[130] = "failed"
    states[2000] = "in_flight"
    states[4000] = "retrying"
    progress = folded(stream_events(20_000, states))
    cells, per = cells_of(states_of(progress.streams["v"]), 200)
    assert per == 100 and len(cells) == 200
    assert cells[1] == "failed"
    assert cells[20] == "in_flight"
    assert cells[40] == "retrying"
    assert cells[0] == cells[49] == "done"
    assert cells[50:] == ["waiting"] * 150
    text = render_map(progress, 107, 3).plain.splitlines()
    assert len(text) == 3
    assert [len(line) for line in text[:2]] == [107, 107]
    assert text[2].endswith("1 cell = 100 segments")


def test_partly_started_cell_is_waiting_not_done() -> None:
    progress = folded(stream_events(20, {0: "done"}))
    cells, per = cells_of(states_of(progress.streams["v"]), 10)
    assert per == 2 and cells[0] == "waiting"


def test_screen_is_a_function_of_the_set_of_events() -> None:
    events = with_failures()
    screens = set()
    for seed in range(5):
        shuffled = [events[0], *random.Random(seed).sample(events[1:], len(events) - 1)]
        progress = Progress()
        states = SegmentStates()
        for event in shuffled:
            progress.apply(event)
            states.update(progress, event)
        assert states.by_stream == {sid: states_of(st) for sid, st in progress.streams.items()}
        screens.add(
            (
                render_status(progress, 78, True, states=states).plain,
                render_streams(progress, 78, states=states).plain,
                render_map(progress, 78, 8, states=states).plain,
            )
        )
    assert len(screens) == 1


def test_the_bridge_logs_each_events_line_and_the_quiet_events_make_none() -> None:
    events = [*with_failures(), Notice("a warning", at=99.0)]
    bridge, progress, expected = Bridge(), Progress(), []
    for event in events:
        bridge.apply(event)
        progress.apply(event)
        expected += log_line(progress, event)
    assert any(line.startswith("error: ") for line in expected)
    assert bridge.drawn() == expected
    quiet = [
        SegmentStarted("v", 0, 0),
        SegmentDone("v", 0, 10),
        StreamGrew("v", 20),
        MuxProgress("out.mp4", 0.5),
    ]
    assert {type(event) for event in quiet} == bridge_module._QUIET
    for event in quiet:
        assert log_line(progress, event) == []


def test_glyphs_are_distinct_without_colour() -> None:
    assert len(set(GLYPHS.values())) == len(GLYPHS) == 5


def test_stream_rows_fit_the_width() -> None:
    progress = folded(mid_download())
    for width in (78, 98, 118):
        lines = render_streams(progress, width).plain.splitlines()
        assert lines and all(len(line) <= width for line in lines)
    narrow = render_streams(progress, 78).plain
    assert "64/151  42%" in narrow and "80/151  52%" in narrow
    assert "5 conn" in narrow and "3 conn" in narrow


def test_failed_columns_have_fixed_widths() -> None:
    assert failed_columns(78) == failed_columns(78)
    assert sum(failed_columns(78)) + 10 <= 78
    assert failed_columns(118)[2] > failed_columns(78)[2]


def test_bridge_coalesces_until_drawn() -> None:
    notified: list[int] = []
    bridge = Bridge(notify=lambda: notified.append(1))
    for event in mid_download():
        bridge.apply(event)
    assert len(notified) == 1 and bridge.pending
    bridge.say("hello")
    lines = bridge.drawn()
    assert lines[0].startswith("downloading ") and lines[-1] == "hello"
    assert not bridge.pending
    bridge.apply(Notice("failover", at=200.0))
    bridge.apply(HostLimit("cdn.example.com", 4, "HTTP 429", at=201.0))
    assert len(notified) == 2
    assert bridge.drawn() == [
        "warning: failover",
        "warning: host cdn.example.com: HTTP 429; limit 4",
    ]


# --- the app with scripted events ---------------------------------------------------


async def test_bars_counts_and_status() -> None:
    events = mid_download()
    app, _ = app_with(events)
    async with app.run_test(size=(80, 24)):
        await settle(app, len(events))
        streams = plain(app.query_one(StreamsView))
        assert "1280x720 avc1.64001f 2.50 Mb/s" in streams
        assert "64/151  42%" in streams and "80/151  52%" in streams
        assert "40.0 MB" in streams
        assert "2.6 MB/s" in streams
        status = plain(app.query_one(StatusBar))
        assert "Big Buck Bunny" in status and "downloading" in status
        assert "8/8 conn" in status and "0:16" in status
        assert not app.query_one(FailedTable).display
        assert not app.query_one(SummaryView).display


async def test_map_in_the_app_for_10_and_20000_segments() -> None:
    small = stream_events(10, {0: "done", 1: "failed", 2: "in_flight"})
    app, _ = app_with(small)
    async with app.run_test(size=(80, 24)):
        await settle(app, len(small))
        lines = plain(app.query_one(SegmentMap)).splitlines()
        assert lines[0] == "video  █X▒·······"
    states = {i: "done" for i in range(10_000)}
    states[12_345] = "failed"
    big = stream_events(20_000, states)
    app, _ = app_with(big)
    async with app.run_test(size=(80, 24)):
        await settle(app, len(big))
        widget = app.query_one(SegmentMap)
        lines = plain(widget).splitlines()
        assert len(lines) == widget.content_size.height
        assert lines[0].startswith("video  ███")
        assert "X" in "".join(lines[:-1])
        assert "cell =" in lines[-1]


async def test_a_burst_of_events_costs_few_redraws() -> None:
    events = stream_events(20_000, dict.fromkeys(range(20_000), "done"))
    app, _ = app_with(events)
    async with app.run_test(size=(80, 24)):
        await settle(app, len(events))
        assert app.draws <= 5
        assert "20000/20000 100%" in plain(app.query_one(StreamsView))


async def test_a_draw_outside_the_timer_keeps_the_redraw_rate() -> None:
    # a resize draws at once; the redraw that was waiting must not start a second chain
    # of timers (that doubled the redraw rate for the rest of the run)
    events = stream_events(10, {})
    app, _ = app_with(events, max_fps=10.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, len(events))
        app.min_interval = 10.0  # from here a waiting redraw waits 10 s
        timers = DrawTimers(app)
        app._draw()
        app.announce()
        await until(lambda: len(timers.delays) == 1)
        drawn = app.draws
        await pilot.resize_terminal(100, 30)
        await until(lambda: app.draws > drawn)
        app.announce()
        await until(lambda: len(timers.delays) == 2)
        assert timers.delays[1] > 9.0
        assert timers.most_alive == 1


def busy_app() -> tuple[TriosegApp, list[float], list[float]]:
    """An app whose clocks the test moves: trio's ticks' (``now``) and the redraws'."""
    app, _ = app_with(stream_events(10, {}), max_fps=10.0)
    now, clock = [0.0], [1000.0]
    app.tick_clock = lambda: now[0]
    app.draw_clock = lambda: clock[0]
    return app, now, clock


async def draw_busy(app: TriosegApp, now: list[float]) -> None:
    """Redraw after trio's ticks took 0.09 s of the 0.1 s since the previous redraw."""
    app._draw()

    def busy() -> None:
        now[0] += 0.09  # inside one of trio's ticks

    assert app.in_trio(busy)
    await until(lambda: now[0] > 0.0)
    now[0] += 0.01  # and 0.01 s in the app
    app._draw()


async def test_a_busy_download_is_redrawn_less_often() -> None:
    # while trio has work most of the time (here it waits for I/O only during the app's
    # 0.01 s) the download is bound by the CPU: the screen is then redrawn BUSY_FPS times
    # a second, not max_fps
    app, now, clock = busy_app()
    async with app.run_test(size=(80, 24)):
        await settle(app, 1)  # its one event, JobStarted
        timers = DrawTimers(app)
        await draw_busy(app, now)
        assert app.load == pytest.approx(0.9)
        assert app.frame_interval == pytest.approx(1 / BUSY_FPS)
        app.announce()  # a change just after a redraw waits for the busy interval
        await until(lambda: len(timers.delays) == 1)
        assert timers.delays[0] == pytest.approx(1 / BUSY_FPS)
        now[0] += 10.0  # ten seconds in the app: trio is idle
        app._draw()
        assert app.load < 0.01
        assert app.frame_interval == pytest.approx(0.1)
        app.announce()
        await until(lambda: len(timers.delays) == 2)
        assert timers.delays[1] == pytest.approx(0.1)
        # a change that comes after the interval is drawn at once
        app._draw()
        clock[0] += 0.25
        drawn = app.draws
        app.announce()
        await until(lambda: app.draws > drawn)
        assert len(timers.delays) == 2
        assert timers.most_alive == 1


async def test_a_download_the_cpu_holds_back_counts_as_busy() -> None:
    # trio's ticks take a quarter of the time; the rest goes to other work (other
    # processes, the host loop) while trio has work waiting: it never waits for I/O, so
    # its speed is bound by the CPU and the screen is redrawn at the busy rate
    app, now, _ = busy_app()
    async with app.run_test(size=(80, 24)):
        await settle(app, 1)
        app._draw()

        done: list[bool] = []

        async def contended() -> None:
            loop = asyncio.get_running_loop()  # the host's: trio is its guest
            for _ in range(10):
                now[0] += 0.01  # in trio's tick
                loop.call_soon(lambda: now.__setitem__(0, now[0] + 0.03))  # not trio's
                await trio.lowlevel.checkpoint()  # runnable again at once
            done.append(True)

        assert app.in_trio(trio.lowlevel.spawn_system_task, contended)
        await until(lambda: done)
        assert now[0] == pytest.approx(0.4)
        app._draw()
        assert app.load > 0.95
        assert app.frame_interval == pytest.approx(1 / BUSY_FPS)


async def test_the_work_starts_once_the_first_frame_is_laid_out() -> None:
    # laying the screen out takes tens of milliseconds: it happens before the download
    # starts rather than while it runs
    seen: list[tuple[int, int]] = []

    async def job(consumer: Any, control: JobControl, say: Any) -> int:
        seen.append(tuple(app.query_one(StatusBar).size))  # type: ignore[arg-type]
        return 0

    app = TriosegApp(job, auto_exit=None)
    async with app.run_test(size=(80, 24)):
        await until(lambda: app.code is not None)
    assert seen and seen[0][0] > 0  # the status bar has its width: the screen is laid out


async def test_a_first_frame_before_trio_runs_does_not_hold_the_work_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the frame can come before trio's first tick, when there is no trio to tell yet:
    # the work must not then wait for a signal that could not be sent
    monkeypatch.setattr(guest, "FIRST_FRAME_WAIT", 60.0)
    started: list[bool] = []

    async def job(consumer: Any, control: JobControl, say: Any) -> int:
        started.append(True)
        return 0

    app = TriosegApp(job, auto_exit=None)
    start_guest_run = trio.lowlevel.start_guest_run

    def frame_first(*args: Any, **kwargs: Any) -> None:
        app._on_first_frame()  # trio has not started: it cannot be told
        start_guest_run(*args, **kwargs)

    call_after_refresh = app.call_after_refresh

    def after_refresh(callback: Callable[..., object], *args: Any) -> bool:
        if callback == app._on_first_frame:
            return True  # the frame came already, above
        return call_after_refresh(callback, *args)

    monkeypatch.setattr(trio.lowlevel, "start_guest_run", frame_first)
    app.call_after_refresh = after_refresh  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)):
        await until(lambda: app.code is not None, timeout=5.0)
    assert started


async def test_quitting_before_the_first_frame_starts_no_work() -> None:
    started: list[bool] = []

    async def job(consumer: Any, control: JobControl, say: Any) -> int:
        started.append(True)
        return 0

    app = TriosegApp(job, auto_exit=None)
    app.call_later(app.in_trio, app._stop, None)  # before the first refresh
    async with app.run_test(size=(80, 24)):
        await until(lambda: not app.running)
    assert not started
    assert app.exit_code == 128 + signal.SIGINT


async def test_a_key_brings_the_full_redraw_rate_back_while_busy() -> None:
    # what a key does (pause, retry, the log) shows at once, even while a busy download
    # keeps the screen at BUSY_FPS: a redraw waiting for the busy interval comes forward
    app, now, clock = busy_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, 1)  # its one event, JobStarted
        timers = DrawTimers(app)
        await draw_busy(app, now)
        assert app.frame_interval == pytest.approx(1 / BUSY_FPS)
        app.announce()
        await until(lambda: len(timers.delays) == 1)
        assert timers.delays[0] == pytest.approx(1 / BUSY_FPS)
        await pilot.press("z")  # any key
        assert app.frame_interval == pytest.approx(0.1)
        # the waiting redraw is stopped and set again at the full rate's interval
        await until(lambda: len(timers.delays) >= 2)
        assert timers.delays[1:] == pytest.approx([0.1] * (len(timers.delays) - 1))
        assert timers.most_alive == 1
        clock[0] += guest.PROMPT_SECONDS  # the key's second is over
        assert app.frame_interval == pytest.approx(1 / BUSY_FPS)


async def test_no_color_draws_the_map_without_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    states = {0: "done", 1: "failed", 2: "in_flight", 3: "retrying"}
    events = stream_events(10, states)
    fills: dict[bool, set[str]] = {}
    monkeypatch.delenv("NO_COLOR", raising=False)
    for no_color in (False, True):
        if no_color:
            monkeypatch.setenv("NO_COLOR", "1")
        app, _ = app_with(events)
        async with app.run_test(size=(80, 24)):
            await settle(app, len(events))
            svg = app.export_screenshot()
            # the glyphs tell the states apart without colour
            assert plain(app.query_one(SegmentMap)).startswith("video  █X▒!")
        colours = set(re.findall(r"fill: (#[0-9a-f]{6})", svg))
        rgb = {c: [int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colours}
        fills[no_color] = {c for c, v in rgb.items() if max(v) - min(v) > 16}  # not grey
    assert fills[False]  # the map's states have their colours ...
    assert fills[True] == set()  # ... and with NO_COLOR only greys are left


async def test_a_screen_drawn_step_by_step_equals_one_drawn_at_once() -> None:
    # each redraw repaints only the lines that changed: the lines the screen keeps
    # (Textual's cache of each widget's lines) must be what a full drawing shows
    states: dict[int, str] = {i: "done" for i in range(1500)}
    states.update({i: "in_flight" for i in range(1500, 1520)})
    states.update({7: "failed", 901: "retrying", 1999: "failed"})
    events = stream_events(2000, states)
    shown: list[dict[str, list[str]]] = []
    for steps in (0, 9):
        # first every event at once (the first drawing is whole), then in nine steps
        app, _ = app_with(events if steps == 0 else events[:1])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, len(events) if steps == 0 else 1)
            rest = events[1:]
            for n in range(steps):
                for event in rest[n * len(rest) // steps : (n + 1) * len(rest) // steps]:
                    app.bridge.apply(event)
                app.bridge.drawn()
                app.redraw()
                await pilot.pause()
            await pilot.pause()  # the failed table's layout, once it shows
            shown.append(
                {
                    type(w).__name__: [list(line) for line in w.render_lines(w.outer_size.region)]
                    for w in (
                        app.query_one(StatusBar),
                        app.query_one(StreamsView),
                        app.query_one(SegmentMap),
                    )
                }
            )
    assert "X" in "".join(seg.text for line in shown[0]["SegmentMap"] for seg in line)
    assert shown[0] == shown[1]


async def test_selected_text_is_highlighted() -> None:
    events = stream_events(10, {0: "done"})
    app, _ = app_with(events)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, len(events))
        status = app.query_one(StatusBar)
        region = status.outer_size.region
        before = [list(line) for line in status.render_lines(region)]
        status.text_select_all()
        await pilot.pause()
        after = [list(line) for line in status.render_lines(region)]
        assert "".join(s.text for s in after[0]) == "".join(s.text for s in before[0])
        backgrounds = {
            s.style.bgcolor for line in after for s in line if s.style and s.text.strip()
        }
        assert backgrounds != {
            s.style.bgcolor for line in before for s in line if s.style and s.text.strip()
        }


async def test_failed_table_lists_failures_in_order() -> None:
    events = with_failures()
    app, _ = app_with(events)
    async with app.run_test(size=(80, 24)):
        await settle(app, len(events))
        table = app.query_one(FailedTable)
        assert table.display
        got = rows(table)
        assert [(r[0], r[1].strip(), r[3], r[4].strip()) for r in got] == [
            ("video v720", "40", "HTTP 404", "1"),
            ("video v720", "41", "HTTP 404", "1"),
            ("audio a-en", "12", "timed out: no b…", "11"),
        ]
        assert got[0][2].startswith("…") and got[0][2].endswith("v720/seg-00040.m4s")
        # a retried segment that completes leaves the table
        app.bridge.apply(SegmentStarted("v720", 40, 2, at=117.0))
        app.bridge.apply(SegmentDone("v720", 40, 1000, at=117.5))
        await until(lambda: len(rows(table)) == 2)


async def test_failed_table_stays_bounded() -> None:
    events = stream_events(20_000, dict.fromkeys(range(1, 20_000, 2), "failed"))
    app, _ = app_with(events)
    async with app.run_test(size=(80, 24)):
        await settle(app, len(events))
        table = app.query_one(FailedTable)
        assert table.row_count == FailedTable.LIMIT + 1
        assert rows(table)[0][1].strip() == "1"
        assert rows(table)[-1][2] == f"… and {10_000 - FailedTable.LIMIT} more (see the log)"


async def test_q_cancels_the_job_and_exits_130() -> None:
    app, controls = app_with(mid_download())
    async with app.run_test() as pilot:
        await until(lambda: controls and app.bridge.events)
        await pilot.press("q")
        await until(lambda: app.return_value is not None)
    assert controls[0].calls == [("cancel", None)]
    assert app.return_value == 130
    assert app.progress.status == "cancelled"


async def test_closing_the_app_cancels_the_job() -> None:
    app, controls = app_with(mid_download())
    async with app.run_test():
        await until(lambda: controls and app.bridge.events)
    assert controls[0].calls == [("cancel", None)]
    assert app.progress.status == "cancelled"


async def test_quit_at_once_never_starts_the_job() -> None:
    app, controls = app_with(mid_download())
    async with app.run_test() as pilot:
        await pilot.press("q")
        await until(lambda: app.return_value is not None)
    assert app.return_value == 130
    assert len(controls) <= 1


async def test_ctrl_c_behaves_like_q() -> None:
    app, controls = app_with(mid_download())
    async with app.run_test() as pilot:
        await until(lambda: controls and app.bridge.events)
        await pilot.press("ctrl+c")
        await until(lambda: app.return_value is not None)
    assert controls[0].calls == [("cancel", None)]
    assert app.return_value == 130


async def test_sigterm_cancels_with_143() -> None:
    app, controls = app_with(mid_download())
    async with app.run_test():
        await until(lambda: controls and app.bridge.events)
        os.kill(os.getpid(), signal.SIGTERM)
        await until(lambda: app.return_value is not None)
    assert controls[0].calls == [("cancel", signal.SIGTERM)]
    assert app.return_value == 128 + signal.SIGTERM


async def test_p_pauses_and_resumes() -> None:
    app, controls = app_with(mid_download())
    async with app.run_test() as pilot:
        await until(lambda: controls and app.bridge.events)
        await pilot.press("p")
        await until(lambda: "PAUSED" in plain(app.query_one(StatusBar)))
        assert controls[0].paused
        await pilot.press("p")
        await until(lambda: "downloading" in plain(app.query_one(StatusBar)))
    assert [c for c, _ in controls[0].calls[:2]] == ["toggle_pause", "toggle_pause"]


async def test_r_retries_failed_segments_now() -> None:
    events = with_failures()
    app, controls = app_with(events)
    async with app.run_test() as pilot:
        await settle(app, len(events))
        app.query_one(LogPane).display = True
        await pilot.press("r")
        await until(lambda: ("retry_failed", None) in controls[0].calls)
        await until(lambda: not app.bridge.pending and app.query_one(LogPane).lines)
        assert "retrying 2 failed segment(s) now" in [
            line.text for line in app.query_one(LogPane).lines
        ]
    assert len(controls) == 1


async def test_l_toggles_the_log() -> None:
    events = with_failures()
    app, _ = app_with(events)
    async with app.run_test() as pilot:
        await settle(app, len(events))
        log = app.query_one(LogPane)
        assert not log.display
        await pilot.press("l")
        assert log.display
        await until(lambda: len(log.lines) > 3)
        text = [line.text for line in log.lines]
        assert any(t.startswith("retry: video v720 segment 66: HTTP 503") for t in text)
        assert any(t.startswith("error: audio a-en segment 12 failed after 11") for t in text)
        assert any(t.startswith("warning: v720: BaseURL") for t in text)
        await pilot.press("l")
        assert not log.display


async def test_complete_job_exits_by_itself_with_0() -> None:
    events = finished()
    app, _ = app_with(events, code=0, auto_exit=0.05)
    async with app.run_test():
        await until(lambda: app.return_value is not None)
    assert app.return_value == 0
    assert app.progress.status == "complete"


async def test_partial_job_stays_and_r_runs_it_again() -> None:
    calls: list[int] = []
    first = partial()

    async def job(consumer: EventConsumer, control: JobControl, say: Say) -> int:
        calls.append(1)
        if len(calls) == 1:
            return await replay(first, code=1)(consumer, control, say)
        events = [*finished(), Notice("second run", at=300.0)]
        return await replay(events, code=0)(consumer, control, say)

    app = TriosegApp(job, auto_exit=0.05)
    async with app.run_test() as pilot:
        await settle(app, len(first))
        await until(lambda: app.code == 1)
        await asyncio.sleep(0.15)
        assert app.return_value is None
        summary = app.query_one(SummaryView)
        assert summary.display and "press r" in plain(summary)
        assert len(rows(app.query_one(FailedTable))) == 2
        await pilot.press("r")
        await until(lambda: app.return_value is not None)
    assert calls == [1, 1]
    assert app.return_value == 0
    assert app.progress.status == "complete" and app.progress.notices == ["second run"]


async def test_q_after_a_partial_job_keeps_its_exit_code() -> None:
    app, controls = app_with(partial(), code=1)
    async with app.run_test() as pilot:
        await until(lambda: app.code == 1)
        await pilot.press("q")
        await until(lambda: app.return_value is not None)
    assert app.return_value == 1
    assert controls[0].calls == []


async def test_engine_crash_ends_the_ui_with_exit_code_1() -> None:
    async def job(consumer: EventConsumer, control: JobControl, say: Say) -> int:
        await trio.sleep(0.01)
        raise RuntimeError("boom")

    app = TriosegApp(job)
    async with app.run_test():
        await until(lambda: app.return_value is not None)
    assert app.return_value == 1
    assert isinstance(app.crash, RuntimeError)


async def test_live_clock_moves_the_elapsed_time_without_events() -> None:
    async def job(consumer: EventConsumer, control: JobControl, say: Say) -> int:
        send, receive = trio.open_memory_channel[Event](math.inf)
        info = StreamInfo("v", "video", "", 10, None)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer.consume, receive)
            with send:
                send.send_nowait(
                    JobStarted("http://x/m.mpd", None, (info,), 4, trio.current_time())
                )
                with control.scope:
                    await trio.sleep_forever()
        return 130

    app = TriosegApp(job, live_clock=0.05, auto_exit=None)
    async with app.run_test():
        await until(lambda: app.progress.started_at is not None)
        assert plain(app.query_one(StatusBar)).endswith(" 0:00")
        await until(lambda: plain(app.query_one(StatusBar)).endswith(" 0:01"))
        assert app.progress.latest == app.progress.started_at


@pytest.fixture
def headless_ui(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run_ui`` without a terminal, closing soon after the job ends."""

    def headless_run(self: TriosegApp) -> int | None:
        self.auto_exit = 0.01
        return App.run(self, headless=True, size=(80, 24))

    monkeypatch.setattr(TriosegApp, "run", headless_run)


@pytest.mark.usefixtures("headless_ui")
def test_run_ui_prints_the_summary_after_the_app(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_ui(replay(finished(), code=0, say=["demo: serving"]))
    err = capsys.readouterr().err.splitlines()
    assert code == 0
    assert err == [
        "demo: serving",
        "complete: 302/302 segments, 99.2 MB in 38.00 s (2.6 MB/s)",
        "  wrote /home/user/videos/Big Buck Bunny.mp4",
    ]


@pytest.mark.usefixtures("headless_ui")
def test_run_ui_prints_a_usage_error_like_the_plain_cli(
    capsys: pytest.CaptureFixture[str],
) -> None:
    events: list[Event] = [JobFinished("failed", (), "output exists: x.mp4", at=1.0)]
    assert run_ui(replay(events, code=2)) == 2
    assert capsys.readouterr().err == "trioseg: error: output exists: x.mp4\n"


@pytest.mark.usefixtures("headless_ui")
def test_run_ui_reports_a_crash_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    async def job(consumer: EventConsumer, control: JobControl, say: Say) -> int:
        raise RuntimeError("boom")

    assert run_ui(job) == 1
    assert capsys.readouterr().err == "trioseg: error: internal error: RuntimeError: boom\n"


# --- against the real origin --------------------------------------------------------


async def test_real_origin_failure_shows_in_the_table_and_r_fetches_it(
    dash_factory: Callable[..., DashContent], tmp_path: Path
) -> None:
    content = dash_factory(duration=6.0)
    video = content.by_kind("video")[0]
    missing = rel(content, video.segments[2])
    faults = FaultPlan()
    faults.add(missing, Fault.http_status(404))
    requests: list[str] = []

    async def job(consumer: EventConsumer, control: JobControl, say: Say) -> int:
        async with open_origin(content.root, faults=faults) as origin:
            url = origin.url(rel(content, content.manifest))
            opts = Options(
                url=url,
                output=tmp_path / "m.mp4",
                concurrency=4,
                retries=2,
                timeout=5.0,
                mux=True,
                force=False,
                json=False,
            )
            before = len(origin.requests)
            code = await download(opts, consumer, control, watch_signals=False)
            requests[:] = [r.path for r in origin.requests[before:]]
            return code

    app = TriosegApp(job, auto_exit=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: app.code is not None, timeout=30)
        assert app.code == 1 and app.progress.status == "partial"
        await until(lambda: not app.bridge.pending)
        (row,) = rows(app.query_one(FailedTable))
        assert row[0].startswith("video ")
        assert row[1].strip() == "3"
        assert row[2].endswith(missing.rsplit("/", 1)[-1])
        assert row[3] == "HTTP 404" and row[4].strip() == "1"
        assert "X" in plain(app.query_one(SegmentMap))
        await pilot.press("r")
        await until(lambda: app.return_value is not None, timeout=30)
    assert app.return_value == 0
    assert sorted(requests) == sorted([rel(content, content.manifest), missing])
    assert (tmp_path / "m.mp4").exists()


# --- a batch ------------------------------------------------------------------------


def job_events(
    url: str, total: int, done: int, *, at: float = 1.0, status: Status | None = None
) -> list[Event]:
    """One job of one video stream: ``done`` of ``total`` segments, then ``status``."""
    info = StreamInfo("v", "video", f"{url.rsplit('/', 1)[-1]} avc1", total, None)
    events: list[Event] = [JobStarted(url, None, (info,), 4, at=at)]
    for index in range(done):
        events.append(SegmentStarted("v", index, 1, at=at + index))
        events.append(SegmentDone("v", index, 1000, at=at + index + 0.5))
    if status is not None:
        outputs = (f"/out/{url.rsplit('/', 1)[-1]}.mp4",) if status == "complete" else ()
        error = None if status == "complete" else f"{total - done} segment(s) failed"
        events.append(JobFinished(status, outputs, error, at=at + done + 1))
    return events


def batch_with(
    scripts: list[list[Event]],
    codes: list[int | None] | None = None,
    labels: tuple[str, ...] | None = None,
    **kwargs: Any,
) -> tuple[BatchApp, list[RecordingControl]]:
    controls: list[RecordingControl] = []

    def factory() -> RecordingControl:
        controls.append(RecordingControl())
        return controls[-1]

    kwargs.setdefault("auto_exit", None)
    labels = labels or tuple(f"http://h{n}.test/m{n}.mpd" for n in range(1, len(scripts) + 1))
    app = BatchApp(replay_batch(scripts, codes), labels, control_factory=factory, **kwargs)
    return app, controls


def view(app: BatchApp, name: str) -> str:
    return plain(app.query_one(f"#{name}", TextView))


def test_job_rows_show_each_state_and_fit() -> None:
    url = "http://h.test/a/very/long/path/to/the/manifest.mpd"
    started = job_events(url, 10, 4)
    cases: dict[str, list[Event]] = {
        "waiting": [],
        "downloading  40%": started,
        "paused       40%": [*started, JobPaused(True, at=9.0)],
        "muxing       40%": [*started, MuxStarted("/out/x.mp4", at=9.0)],
        "complete": job_events(url, 10, 10, status="complete"),
        "partial": job_events(url, 10, 8, status="partial"),
        "failed": [JobFinished("failed", (), "HTTP 404", at=1.0)],
        "cancelled": [*started, JobFinished("cancelled", (), at=9.0)],
    }
    jobs = [(url, folded(events)) for events in cases.values()]
    for width in (78, 118):
        text = render_jobs(jobs, width, len(jobs), 1, now=5.0).plain.splitlines()
        assert len(text) == len(cases)
        assert all(len(line) == width for line in text)
        for line, state in zip(text, cases, strict=True):
            assert f"  {state}" in line
    rows_ = render_jobs(jobs, 78, len(jobs), 1, now=5.0).plain.splitlines()
    assert rows_[1].startswith("▶2  …") and rows_[0].startswith(" 1  …")
    assert rows_[1].endswith("4.0 kB     1.0 kB/s")
    assert "manifest.mpd" in rows_[0]
    assert rows_[0].rstrip().endswith("waiting")
    assert render_jobs(jobs, 78, 8, 1, 5.0, paused=True).plain.splitlines()[1].count("paused")


def test_job_list_keeps_the_selection_in_view() -> None:
    jobs = [(f"http://h/{n}.mpd", Progress()) for n in range(20)]
    assert [list_window(s, 20, 4) for s in (0, 1, 2, 10, 18, 19)] == [0, 0, 1, 9, 16, 16]
    lines = render_jobs(jobs, 78, 4, 10, 0.0).plain.splitlines()
    assert [line[:3] for line in lines] == [" 10", "▶11", " 12", " 13"]


def test_batch_lines_say_what_did_not_complete() -> None:
    labels = ("http://a/1.mpd", "http://b/2.mpd", "http://c/3.mpd")
    done = folded(job_events(labels[0], 3, 3, status="complete"))
    part = folded(job_events(labels[1], 3, 2, status="partial"))
    failed = folded([JobFinished("failed", (), "HTTP 404", at=1.0)])
    assert batch_lines(labels, [done, part, failed]) == [
        "batch partial: 1 of 3 downloads complete",
        "  [2/3] partial: http://b/2.mpd: 1 segment(s) failed",
        "  [3/3] failed: http://c/3.mpd: HTTP 404",
    ]
    assert batch_status([done, done]) == "complete"
    assert batch_status([failed, failed]) == "failed"
    assert batch_status([done, Progress()]) == "cancelled"


async def test_selecting_a_job_shows_its_streams() -> None:
    scripts = [mid_download(), job_events("http://h2.test/second.mpd", 10, 3), []]
    app, _ = batch_with(scripts)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_batch(app, scripts)
        assert "1280x720 avc1.64001f" in plain(app.query_one(StreamsView))
        assert view(app, "job").startswith("job 1/3 Big Buck Bunny")
        assert view(app, "jobs").splitlines()[0].startswith("▶1")
        for key, shown in [("j", 2), ("down", 3), ("j", 3), ("k", 2), ("up", 1), ("up", 1)]:
            await pilot.press(key)
            assert app.selected == shown - 1
            assert view(app, "jobs").splitlines()[shown - 1].startswith(f"▶{shown}")
            assert view(app, "job").startswith(f"job {shown}/3")
        await pilot.press("j")
        streams = plain(app.query_one(StreamsView))
        assert "second.mpd avc1" in streams and "3/10  30%" in streams
        assert "1280x720" not in streams
        assert plain(app.query_one(SegmentMap)).splitlines()[0] == "video  ███·······"
        await pilot.press("j")
        assert plain(app.query_one(StreamsView)) == ""
        assert "waiting for the manifest" in plain(app.query_one(SegmentMap))
        assert view(app, "job").rstrip().endswith("waiting")


async def test_job_list_and_header_show_every_job() -> None:
    scripts = batch_mid_download()
    app, _ = batch_with(scripts, labels=BATCH_LABELS)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_batch(app, scripts)
        rows_ = view(app, "jobs").splitlines()
        assert [row.split()[2] for row in rows_] == ["complete", "downloading", "failed", "waiting"]
        assert "46%" in rows_[1] and "99.2 MB" in rows_[0]
        header = view(app, "status")
        assert header.startswith("trioseg  2/4 jobs done  140.5 MB")
        assert "downloading   7/8 conn  2.8 MB/s  0:46" in header
        # a job that has ended shows its summary; the batch's lines wait for the end
        assert view(app, "summary").splitlines() == [
            "job 1/4 complete: 302/302 segments, 99.2 MB in 38.00 s (2.6 MB/s)",
            "  wrote /home/user/videos/Big Buck Bunny.mp4",
        ]
        await pilot.press("j")
        assert not app.query_one("#summary").display


async def test_q_cancels_every_job_and_exits_130() -> None:
    scripts = [mid_download(), job_events("http://h2.test/b.mpd", 10, 3)]
    app, controls = batch_with(scripts)
    async with app.run_test() as pilot:
        await settle_batch(app, scripts)
        await pilot.press("q")
        await until(lambda: app.return_value is not None)
    assert [c.calls for c in controls] == [[("cancel", None)]] * 2
    assert app.return_value == 130
    assert [p.status for p in app.progresses] == ["cancelled", "cancelled"]


async def test_sigterm_cancels_every_job_with_143() -> None:
    scripts = [mid_download(), []]
    app, controls = batch_with(scripts)
    async with app.run_test():
        await settle_batch(app, scripts)
        os.kill(os.getpid(), signal.SIGTERM)
        await until(lambda: app.return_value is not None)
    assert [c.calls for c in controls] == [[("cancel", signal.SIGTERM)]] * 2
    assert app.return_value == 128 + signal.SIGTERM


async def test_p_pauses_and_resumes_every_job() -> None:
    scripts = [mid_download(), job_events("http://h2.test/b.mpd", 10, 3), []]
    app, controls = batch_with(scripts)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_batch(app, scripts)
        await pilot.press("p")
        await until(lambda: all(c.paused for c in controls))
        await until(lambda: "PAUSED" in view(app, "status"))
        rows_ = view(app, "jobs").splitlines()
        assert [row.split()[2] for row in rows_] == ["paused", "paused", "waiting"]
        await until(lambda: all(p.paused for p in app.progresses[:2]))
        await pilot.press("p")
        await until(lambda: not any(c.paused for c in controls))
        await until(lambda: "downloading" in view(app, "status"))


async def test_r_retries_the_selected_jobs_failed_segments() -> None:
    scripts = [mid_download(), with_failures()]
    app, controls = batch_with(scripts)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_batch(app, scripts)
        assert not app.query_one(FailedTable).display
        await pilot.press("j")
        assert len(rows(app.query_one(FailedTable))) == 3
        await pilot.press("l", "r")
        await until(lambda: ("retry_failed", None) in controls[1].calls)
        log = app.query_one(LogPane)
        await until(lambda: "[2/2] retrying 2 failed segment(s) now" in [x.text for x in log.lines])
    assert ("retry_failed", None) not in controls[0].calls


async def test_l_shows_every_jobs_log_lines_with_its_number() -> None:
    failed: list[Event] = [JobFinished("failed", (), "HTTP 404 for m2", at=1.0)]
    scripts = [with_failures(), failed]
    app, _ = batch_with(scripts)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_batch(app, scripts)
        log = app.query_one(LogPane)
        assert not log.display
        await pilot.press("l")
        assert log.display
        await until(lambda: len(log.lines) > 5)
        text = [line.text for line in log.lines]
        assert text[0] == "[1/2] downloading https://media.example.com/show/manifest.mpd"
        assert any(t.startswith("[1/2] error: audio a-en segment 12 failed") for t in text)
        assert "[2/2] error: HTTP 404 for m2" in text
        await pilot.press("l")
        assert not log.display


async def test_a_complete_batch_exits_by_itself_with_0() -> None:
    scripts = [finished(), job_events("http://h2.test/b.mpd", 4, 4, status="complete")]
    app, _ = batch_with(scripts, [0, 0], auto_exit=0.05)
    async with app.run_test():
        await until(lambda: app.return_value is not None)
    assert app.return_value == 0
    assert [p.status for p in app.progresses] == ["complete", "complete"]


async def test_a_partial_batch_stays_and_q_keeps_its_exit_code() -> None:
    scripts = [finished(), partial()]
    app, controls = batch_with(scripts, [0, 1], auto_exit=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_batch(app, scripts)
        await until(lambda: app.code == 1)
        await asyncio.sleep(0.15)
        assert app.return_value is None
        assert "PARTIAL" in view(app, "status")
        summary = view(app, "summary").splitlines()
        assert summary[0] == "batch partial: 1 of 2 downloads complete"
        assert summary[1].startswith("job 1/2 complete: 302/302 segments")
        assert summary[-1].startswith("press q to quit; running the same command again")
        await pilot.press("j")
        assert view(app, "summary").splitlines()[1].startswith("job 2/2 partial: 300/302")
        assert len(rows(app.query_one(FailedTable))) == 2
        await pilot.press("q")
        await until(lambda: app.return_value is not None)
    assert app.return_value == 1
    assert [c.calls for c in controls] == [[], []]


async def test_a_crashing_batch_ends_the_ui_with_exit_code_1() -> None:
    async def batch(
        consumers: Sequence[EventConsumer], controls: Sequence[JobControl], say: Say
    ) -> int:
        await trio.sleep(0.01)
        raise RuntimeError("boom")

    app = BatchApp(batch, ["http://a/1.mpd", "http://b/2.mpd"])
    async with app.run_test():
        await until(lambda: app.return_value is not None)
    assert app.return_value == 1
    assert isinstance(app.crash, RuntimeError)


@pytest.fixture
def headless_batch_ui(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run_ui_batch`` without a terminal, closing soon after the batch ends."""

    def headless_run(self: BatchApp) -> int | None:
        self.auto_exit = 0.01
        return App.run(self, headless=True, size=(80, 24))

    monkeypatch.setattr(BatchApp, "run", headless_run)


@pytest.mark.usefixtures("headless_batch_ui")
def test_run_ui_batch_prints_every_jobs_summary_after_the_app(
    capsys: pytest.CaptureFixture[str],
) -> None:
    labels = ("http://a.test/1.mpd", "http://b.test/2.mpd")
    failed: list[Event] = [JobFinished("failed", (), "HTTP 404 for http://b.test/2.mpd", at=1.0)]
    scripts = [job_events(labels[0], 4, 4, status="complete"), failed]

    async def run_then_signal(
        consumers: Sequence[EventConsumer], controls: Sequence[JobControl], say: Say
    ) -> int:
        code = await replay_batch(scripts, [0, 1], say=["hello"])(consumers, controls, say)
        # a partial batch stays on screen: a signal after its end keeps its exit code
        os.kill(os.getpid(), signal.SIGTERM)
        return code

    code = run_ui_batch(run_then_signal, labels)
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err == [
        "hello",
        "[1/2] complete: 4/4 segments, 4.0 kB in 5.00 s (800 B/s)",
        "[1/2]   wrote /out/1.mpd.mp4",
        "batch partial: 1 of 2 downloads complete",
        "  [2/2] failed: http://b.test/2.mpd: HTTP 404 for http://b.test/2.mpd",
    ]


async def test_real_batch_shows_each_job_and_the_failed_segment(
    dash_factory: Callable[..., DashContent], tmp_path: Path
) -> None:
    good = dash_factory(duration=6.0)
    bad = dash_factory(duration=5.0)
    video = bad.by_kind("video")[0]
    missing = rel(bad, video.segments[2])
    faults = FaultPlan()
    faults.add(missing, Fault.http_status(404))
    out = tmp_path / "out"

    async def batch(
        consumers: Sequence[EventConsumer], controls: Sequence[JobControl], say: Say
    ) -> int:
        async with open_origin(good.root) as a, open_origin(bad.root, faults=faults) as b:
            urls = (a.url(rel(good, good.manifest)), b.url(rel(bad, bad.manifest)))
            opts = Options(
                url=urls[0],
                urls=urls,
                jobs=2,
                output=out,
                concurrency=4,
                retries=1,
                timeout=5.0,
                mux=True,
                force=False,
                json=False,
            )
            return await download_batch(opts, consumers, controls, watch_signals=False)

    # the origins' ports are known only once they run: the labels stand in for the URLs
    app = BatchApp(batch, ["origin-a/manifest.mpd", "origin-b/manifest.mpd"], auto_exit=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: app.code is not None, timeout=30)
        assert app.code == 1
        assert [p.status for p in app.progresses] == ["complete", "partial"]
        await until(lambda: not any(b.pending for b in app.bridges))
        rows_ = view(app, "jobs").splitlines()
        assert [row.split()[2] for row in rows_] == ["complete", "partial"]
        assert "PARTIAL" in view(app, "status")
        assert "2/2 jobs done" in view(app, "status")
        await pilot.press("j")
        (row,) = rows(app.query_one(FailedTable))
        assert row[0].startswith("video ") and row[1].strip() == "3"
        assert row[2].endswith(missing.rsplit("/", 1)[-1]) and row[3] == "HTTP 404"
        assert "X" in plain(app.query_one(SegmentMap))
        assert view(app, "summary").splitlines()[0] == "batch partial: 1 of 2 downloads complete"
        # the job has ended: a re-run fetches what is missing
        await pilot.press("l", "r")
        log = app.query_one(LogPane)
        await until(lambda: any("[2/2] the job has ended partial" in x.text for x in log.lines))
        assert app.return_value is None
        await pilot.press("q")
        await until(lambda: app.return_value is not None)
    assert app.return_value == 1
    outputs = app.progresses[0].outputs
    assert len(outputs) == 1 and Path(outputs[0]).is_file()
    assert Path(outputs[0]).parent == out


def test_batch_screen_is_a_function_of_the_set_of_events() -> None:
    scripts = batch_mid_download()
    screens = set()
    for seed in range(5):
        progresses = []
        states = []
        for events in scripts:
            head, rest = events[:1], events[1:]
            shuffled = head + random.Random(seed).sample(rest, len(rest))
            progress, segs = Progress(), SegmentStates()
            for event in shuffled:
                progress.apply(event)
                segs.update(progress, event)
            progresses.append(progress)
            states.append(segs)
        now = max(p.latest for p in progresses)
        jobs = list(zip(BATCH_LABELS, progresses, strict=True))
        screens.add(
            (
                render_jobs(jobs, 78, 4, 1, now).plain,
                render_batch_status(progresses, 78, True, now, states).plain,
            )
        )
    assert len(screens) == 1


async def test_a_burst_across_jobs_costs_few_redraws() -> None:
    scripts = [stream_events(5000, dict.fromkeys(range(5000), "done")) for _ in range(3)]
    app, _ = batch_with(scripts)
    async with app.run_test(size=(80, 24)):
        await settle_batch(app, scripts)
        assert app.draws <= 8
        assert all("100%" in row for row in view(app, "jobs").splitlines())


async def test_many_jobs_fit_80x24_and_the_selection_stays_in_view() -> None:
    scripts = [job_events(f"http://h{n}.test/m.mpd", 10, n % 10) for n in range(12)]
    app, _ = batch_with(scripts)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_batch(app, scripts)
        jobs = app.query_one("#jobs")
        assert 2 <= jobs.size.height <= LIST_ROWS
        await pilot.press(*["j"] * 11)
        await pilot.pause()
        assert any(row.startswith("▶12") for row in view(app, "jobs").splitlines())
        assert view(app, "job").startswith("job 12/12")
        segmap = app.query_one(SegmentMap)
        assert segmap.size.height >= 2 and segmap.region.bottom <= 23
