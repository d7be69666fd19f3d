"""Scheduling shortcuts on the hot path: taking a free slot, folding events in batches."""

from __future__ import annotations

import itertools
import math

import pytest
import trio
import trio.testing

from trioseg.events import Event, Notice
from trioseg.headless import FOLD_EVERY, consume_in_batches
from trioseg.hosts import take

pytestmark = pytest.mark.trio


async def test_a_free_token_is_taken_without_a_scheduler_pass() -> None:
    limiter = trio.CapacityLimiter(2)
    with trio.testing.assert_no_checkpoints():
        await take(limiter, "a")
        await take(limiter, "b")
    assert limiter.borrowed_tokens == 2


async def test_a_full_limiter_waits_and_waiters_keep_their_turn() -> None:
    limiter = trio.CapacityLimiter(1)
    await take(limiter, "first")
    order: list[str] = []

    async def wants(name: str) -> None:
        await take(limiter, name)
        order.append(name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wants, "waiter")
        await trio.testing.wait_all_tasks_blocked()
        limiter.release_on_behalf_of("first")  # the token goes to the waiter ...
        with pytest.raises(trio.WouldBlock):
            limiter.acquire_on_behalf_of_nowait("late")  # ... not to a newcomer
        with trio.testing.assert_checkpoints():
            nursery.start_soon(wants, "late")
            await trio.testing.wait_all_tasks_blocked()
        assert order == ["waiter"]
        limiter.release_on_behalf_of("waiter")
    assert order == ["waiter", "late"]


async def test_events_are_handled_in_order_in_few_wakes(autojump_clock: trio.abc.Clock) -> None:
    send, receive = trio.open_memory_channel[Event](math.inf)
    handled: list[str] = []
    wakes: list[float] = []

    def handle(event: Event) -> None:
        assert isinstance(event, Notice)
        handled.append(event.message)
        if not wakes or wakes[-1] != trio.current_time():
            wakes.append(trio.current_time())

    async def produce() -> None:
        with send:
            for n in range(1000):
                send.send_nowait(Notice(str(n), trio.current_time()))
                if n % 10 == 9:
                    await trio.sleep(0.001)  # ten events a millisecond

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume_in_batches, receive, handle)
        nursery.start_soon(produce)
    assert handled == [str(n) for n in range(1000)]
    # 0.1 s of events folded in batches about FOLD_EVERY apart, not one wake per event
    assert len(wakes) <= 0.1 / FOLD_EVERY + 2
    assert all(b - a >= FOLD_EVERY - 1e-9 for a, b in itertools.pairwise(wakes))


async def test_the_last_events_are_handled_when_the_channel_closes() -> None:
    send, receive = trio.open_memory_channel[Event](math.inf)
    handled: list[str] = []
    for n in range(5):
        send.send_nowait(Notice(str(n), 0.0))
    send.close()
    with trio.fail_after(1):
        await consume_in_batches(receive, lambda e: handled.append(getattr(e, "message", "")))
    assert handled == ["0", "1", "2", "3", "4"]
