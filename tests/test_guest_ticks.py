"""Trio's guest ticks share passes of the host loop, within a time budget."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import trio

from trioseg.ui.guest import TickBatcher


class Host:
    """A host loop: a queue of callbacks and a clock that each tick advances."""

    def __init__(self) -> None:
        self.queue: list[Callable[[], object]] = []
        self.now = 0.0

    def call_soon(self, fn: Callable[[], object]) -> None:
        self.queue.append(fn)

    def clock(self) -> float:
        return self.now

    def run_one(self) -> None:
        self.queue.pop(0)()


def ticking(host: Host, batcher: TickBatcher, count: int, cost: float) -> list[int]:
    """A tick that asks for the next one ``count`` times, each costing ``cost`` seconds."""
    ran: list[int] = []

    def tick() -> None:
        ran.append(len(ran))
        host.now += cost
        if len(ran) < count:
            batcher.soon(tick)

    batcher.soon(tick)
    return ran


def test_ticks_run_back_to_back_within_the_budget() -> None:
    host = Host()
    batcher = TickBatcher(host.call_soon, budget=0.004, clock=host.clock)
    ran = ticking(host, batcher, count=10, cost=0.001)
    assert ran == [] and len(host.queue) == 1  # nothing runs before the host's pass
    host.run_one()
    # 0.004 s of budget: ticks at 0, 1, 2, 3 ms run, the 4th ends at the deadline
    assert ran == [0, 1, 2, 3]
    assert len(host.queue) == 1  # the rest waits for the host's next pass
    while host.queue:
        host.run_one()
    assert ran == list(range(10))
    assert batcher.passes == 3 and batcher.ticks == 10


def test_busy_is_the_time_the_ticks_took() -> None:
    host = Host()
    batcher = TickBatcher(host.call_soon, budget=0.004, clock=host.clock)
    ticking(host, batcher, count=10, cost=0.001)
    while host.queue:
        host.now += 0.5  # the host's own work between passes is not trio's
        host.run_one()
    assert batcher.passes == 3
    assert batcher.busy == pytest.approx(0.010)


def test_idle_is_the_wait_for_io_not_the_wait_for_a_pass() -> None:
    host = Host()
    batcher = TickBatcher(host.call_soon, budget=0.001, clock=host.clock)
    ticking(host, batcher, count=4, cost=0.001)
    while host.queue:
        host.now += 0.005  # other work before each pass: trio is ready, not idle
        assert batcher.idle(host.now) == 0.0
        host.run_one()
    assert batcher.idle(host.now) == 0.0
    # the last tick asked for none: trio waits for I/O in its own thread from here
    host.now += 0.25
    assert batcher.idle(host.now) == pytest.approx(0.25)  # a wait still going on counts
    batcher.soon_threadsafe(lambda: None)  # its thread delivers at 0.25 s...
    host.now += 0.5  # ...and the host gets to the tick half a second later
    host.run_one()
    assert batcher.idle(host.now) == pytest.approx(0.25)


def test_a_tick_that_asks_for_nothing_ends_the_pass() -> None:
    host = Host()
    batcher = TickBatcher(host.call_soon, budget=1.0, clock=host.clock)
    ran = ticking(host, batcher, count=3, cost=0.0)
    host.run_one()
    assert ran == [0, 1, 2]
    assert host.queue == []
    # a tick asked for later (trio's I/O thread delivered) starts a new pass
    ran2 = ticking(host, batcher, count=1, cost=0.0)
    assert len(host.queue) == 1
    host.run_one()
    assert ran2 == [0] and batcher.passes == 2


def test_a_tick_that_raises_leaves_the_batcher_usable() -> None:
    host = Host()
    batcher = TickBatcher(host.call_soon, budget=1.0, clock=host.clock)

    def boom() -> None:
        raise RuntimeError("tick failed")

    batcher.soon(boom)
    with pytest.raises(RuntimeError, match="tick failed"):
        host.run_one()
    ran = ticking(host, batcher, count=2, cost=0.0)
    assert len(host.queue) == 1
    host.run_one()
    assert ran == [0, 1]


def test_a_tick_that_raises_after_asking_for_the_next_still_gets_it() -> None:
    host = Host()
    batcher = TickBatcher(host.call_soon, budget=1.0, clock=host.clock)
    ran: list[str] = []

    def after() -> None:
        ran.append("after")

    def boom() -> None:
        batcher.soon(after)
        raise KeyboardInterrupt

    batcher.soon(boom)
    with pytest.raises(KeyboardInterrupt):
        host.run_one()
    assert len(host.queue) == 1  # trio waits for the tick it asked for: it is not lost
    host.run_one()
    assert ran == ["after"]


def test_trio_as_a_guest_through_the_batcher_finishes_its_work() -> None:
    host = Host()
    batcher = TickBatcher(host.call_soon, budget=0.0005, call_soon_threadsafe=host.call_soon)
    done: list[object] = []

    async def main() -> int:
        total = 0
        for i in range(200):
            if i % 50 == 0:
                await trio.sleep(0.001)  # a tick delivered from trio's I/O thread
            await trio.lowlevel.checkpoint()
            total += i
        return total

    trio.lowlevel.start_guest_run(
        main,
        run_sync_soon_threadsafe=batcher.soon_threadsafe,
        run_sync_soon_not_threadsafe=batcher.soon,
        done_callback=done.append,
    )
    deadline = time.monotonic() + 10.0
    while not done and time.monotonic() < deadline:
        if host.queue:
            host.run_one()
        else:
            time.sleep(0.001)  # trio's I/O thread has the next tick
    assert len(done) == 1
    assert done[0].unwrap() == sum(range(200))  # type: ignore[attr-defined]
    assert batcher.ticks > batcher.passes
    assert 0.0 < batcher.busy < time.monotonic() - deadline + 10.0
