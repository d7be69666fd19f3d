"""Engine logic on a mock transport, in virtual time (exact instants asserted)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import trio
from conftest import committed

from trioseg.engine import JobConfig, run_job, stream_output_path
from trioseg.events import (
    Event,
    JobFinished,
    SegmentDone,
    SegmentFailed,
    SegmentRetry,
    SegmentStarted,
)
from trioseg.fetch import open_fetcher
from trioseg.plan import ByteRange, Plan, SegmentRef, StreamPlan
from trioseg.retry import RetryPolicy
from trioseg.store import SegmentStore

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def body(path: str) -> bytes:
    return (path * 50).encode()


def make_plan(n: int, *, urls: Callable[[int], tuple[str, ...]] | None = None) -> Plan:
    urls = urls or (lambda i: (f"http://o.test/s{i}",))
    stream = StreamPlan(
        id="v",
        kind="video",
        init=SegmentRef((("http://o.test/init"),)),
        segments=tuple(SegmentRef(urls(i)) for i in range(1, n + 1)),
    )
    return Plan("http://o.test/m.mpd", (stream,))


async def run(
    tmp_path: Path,
    plan: Plan,
    handler: Handler,
    *,
    retries: int = 3,
    timeout: float = 10.0,
    concurrency: int = 4,
) -> tuple[list[Event], str]:
    events: list[Event] = []
    config = JobConfig(
        output=tmp_path / "out.mp4",
        concurrency=concurrency,
        retry=RetryPolicy(retries=retries, base=1.0, cap=8.0),
        mux=False,
    )
    async with open_fetcher(
        concurrency=concurrency, timeout=timeout, transport=httpx.MockTransport(handler)
    ) as fetcher:
        outcome = await run_job(plan, config, fetcher, events.append, rng=random.Random(7))
    return events, outcome.status


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=body(request.url.path))


def expected_file(plan: Plan) -> bytes:
    s = plan.streams[0]
    refs = [s.init, *s.segments]
    return b"".join(body(httpx.URL(r.url).path) for r in refs if r is not None)


def output(tmp_path: Path, plan: Plan) -> Path:
    return stream_output_path(tmp_path / "out.mp4", plan.streams[0])


@pytest.mark.trio
async def test_retry_after_is_waited_exactly(tmp_path: Path, autojump_clock: object) -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/s2" and seen.count("/s2") == 1:
            return httpx.Response(503, headers={"retry-after": "7"})
        return ok(request)

    plan = make_plan(3)
    start = trio.current_time()
    events, status = await run(tmp_path, plan, handler)
    assert status == "complete"
    starts = [e for e in events if isinstance(e, SegmentStarted) and e.index == 2]
    assert [(e.attempt, e.at - start) for e in starts] == [(1, 0.0), (2, 7.0)]
    retry = next(e for e in events if isinstance(e, SegmentRetry))
    assert (retry.error, retry.delay) == ("HTTP 503", 7.0)
    assert output(tmp_path, plan).read_bytes() == expected_file(plan)


@pytest.mark.trio
async def test_backoff_uses_full_jitter_from_the_policy(
    tmp_path: Path, autojump_clock: object
) -> None:
    count = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal count
        if request.url.path == "/s1":
            count += 1
            if count <= 3:
                return httpx.Response(500)
        return ok(request)

    plan = make_plan(1)
    start = trio.current_time()
    events, status = await run(tmp_path, plan, handler)
    assert status == "complete"
    rng = random.Random(7)
    expected_delays = [rng.uniform(0, 1.0), rng.uniform(0, 2.0), rng.uniform(0, 4.0)]
    retries = [e for e in events if isinstance(e, SegmentRetry)]
    assert [e.delay for e in retries] == expected_delays
    starts = [e.at - start for e in events if isinstance(e, SegmentStarted) and e.index == 1]
    assert starts == pytest.approx(
        [0.0, expected_delays[0], sum(expected_delays[:2]), sum(expected_delays)], abs=1e-9
    )


async def stalling_body(first: bytes) -> AsyncIterator[bytes]:
    yield first
    await trio.sleep(1000)
    yield b"never"


@pytest.mark.trio
@pytest.mark.parametrize("head_delay", [0.0, 4.0])
async def test_stalled_body_is_abandoned_after_timeout(
    tmp_path: Path, autojump_clock: object, head_delay: float
) -> None:
    # the timeout counts from the last thing received: the response head, then each chunk
    stalled = False

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal stalled
        if request.url.path == "/s1" and not stalled:
            stalled = True
            await trio.sleep(head_delay)
            return httpx.Response(200, content=stalling_body(b"partial"))
        return ok(request)

    plan = make_plan(2)
    start = trio.current_time()
    events, status = await run(tmp_path, plan, handler, timeout=5.0)
    assert status == "complete"
    retry = next(e for e in events if isinstance(e, SegmentRetry))
    assert retry.at - start == head_delay + 5.0
    assert retry.error == "stalled: nothing received for 5 s"
    assert output(tmp_path, plan).read_bytes() == expected_file(plan)
    assert not list(tmp_path.rglob("*.part"))


async def slow_body(path: str, pause: float) -> AsyncIterator[bytes]:
    data = body(path)
    for part in (data[:3], data[3:]):
        await trio.sleep(pause)
        yield part


@pytest.mark.trio
async def test_the_timeout_bounds_each_wait_not_the_whole_exchange(
    tmp_path: Path, autojump_clock: object
) -> None:
    # the response comes after 4 s and each chunk 4 s after the one before: 12 s in all,
    # but never 5 s without anything received
    async def handler(request: httpx.Request) -> httpx.Response:
        await trio.sleep(4.0)
        if request.url.path == "/s1":
            return httpx.Response(200, content=slow_body(request.url.path, 4.0))
        return ok(request)

    plan = make_plan(2)
    events, status = await run(tmp_path, plan, handler, timeout=5.0)
    assert status == "complete"
    assert not [e for e in events if isinstance(e, SegmentRetry)]
    assert output(tmp_path, plan).read_bytes() == expected_file(plan)


@pytest.mark.trio
async def test_no_response_headers_times_out(tmp_path: Path, autojump_clock: object) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await trio.sleep(1000)
        return ok(request)

    plan = make_plan(1)
    start = trio.current_time()
    events, status = await run(tmp_path, plan, handler, retries=0, timeout=3.0)
    assert status == "failed"
    failed = [e for e in events if isinstance(e, SegmentFailed)]
    assert {(e.index, e.at - start) for e in failed} == {(0, 3.0), (1, 3.0)}
    assert all(e.error == "no response for 3 s" for e in failed)


@pytest.mark.trio
async def test_permanent_error_fails_one_segment_and_the_rest_go_on(
    tmp_path: Path, autojump_clock: object
) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/s3":
            return httpx.Response(404)
        return ok(request)

    events, status = await run(tmp_path, make_plan(6), handler)
    assert status == "partial"
    (failed,) = [e for e in events if isinstance(e, SegmentFailed)]
    assert (failed.index, failed.error, failed.attempts) == (3, "HTTP 404", 1)
    done = {e.index for e in events if isinstance(e, SegmentDone)}
    assert done == {0, 1, 2, 4, 5, 6}
    assert isinstance(events[-1], JobFinished) and events[-1].status == "partial"


@pytest.mark.trio
async def test_failover_to_the_next_base_url(tmp_path: Path, autojump_clock: object) -> None:
    hosts: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if request.url.host == "a.test":
            return httpx.Response(404)
        return ok(request)

    plan = make_plan(2, urls=lambda i: (f"http://a.test/s{i}", f"http://b.test/s{i}"))
    events, status = await run(tmp_path, plan, handler)
    assert status == "complete"
    assert hosts.count("a.test") == 2 and hosts.count("b.test") == 2
    retried = {e.url for e in events if isinstance(e, SegmentRetry)}
    assert retried == {"http://a.test/s1", "http://a.test/s2"}


@pytest.mark.trio
async def test_concurrency_is_bounded_and_tasks_are_not_spawned_up_front(
    tmp_path: Path, autojump_clock: object
) -> None:
    live = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await trio.sleep(1)
        live -= 1
        return ok(request)

    plan = make_plan(40)
    tasks_peak = 0

    async def watch_tasks() -> None:
        nonlocal tasks_peak
        while True:
            root = trio.lowlevel.current_root_task()
            stack = [root]
            count = 0
            while stack:
                task = stack.pop()
                count += 1
                for nursery in task.child_nurseries:
                    stack.extend(nursery.child_tasks)
            tasks_peak = max(tasks_peak, count)
            await trio.sleep(0.5)

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_tasks)
        events, status = await run(tmp_path, plan, handler, concurrency=4)
        nursery.cancel_scope.cancel()
    assert status == "complete"
    assert peak == 4
    # 41 requests of 1 s each, 4 at a time
    last_done = max(e.at for e in events if isinstance(e, SegmentDone))
    assert last_done - start == 11.0
    assert tasks_peak < 15


@pytest.mark.trio
async def test_byte_ranges_are_requested_and_ignored_ranges_are_cut(
    tmp_path: Path, autojump_clock: object
) -> None:
    data = bytes(range(256)) * 4

    async def handler(request: httpx.Request) -> httpx.Response:
        rng = request.headers.get("range")
        if request.url.path == "/ranged" and rng:
            first, last = (int(x) for x in rng.removeprefix("bytes=").split("-"))
            return httpx.Response(
                206,
                content=data[first : last + 1],
                headers={"content-range": f"bytes {first}-{last}/{len(data)}"},
            )
        return httpx.Response(200, content=data)  # /plain ignores Range

    stream = StreamPlan(
        id="a",
        kind="audio",
        init=SegmentRef(("http://o.test/ranged",), ByteRange(0, 9)),
        segments=(
            SegmentRef(("http://o.test/ranged",), ByteRange(10, 99)),
            SegmentRef(("http://o.test/plain",), ByteRange(100, 299)),
        ),
    )
    plan = Plan("http://o.test/m.mpd", (stream,))
    _, status = await run(tmp_path, plan, handler)
    assert status == "complete"
    assert output(tmp_path, plan).read_bytes() == data[:300]


@pytest.mark.trio
async def test_cancellation_leaves_no_segment_that_looks_complete(
    tmp_path: Path, autojump_clock: object
) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/init":
            return ok(request)
        return httpx.Response(200, content=stalling_body(b"half"))

    plan = make_plan(3)
    events: list[Event] = []
    with trio.move_on_after(2):
        await run_events(tmp_path, plan, handler, events)
    assert isinstance(events[-1], JobFinished) and events[-1].status == "cancelled"
    workdir = tmp_path / ".out.mp4.trioseg"
    # only the init is complete; the half bodies were written but nothing vouches for them
    assert {key: data for key, (_, data) in committed(workdir).items()} == {("v", 0): body("/init")}
    assert not list(workdir.rglob("*.part"))
    store = SegmentStore.for_output(tmp_path / "out.mp4")
    store.prepare(plan)
    assert [store.completed_size("v", i) for i in range(4)] == [len(body("/init")), *[None] * 3]
    store.close()


async def run_events(tmp_path: Path, plan: Plan, handler: Handler, events: list[Event]) -> None:
    config = JobConfig(output=tmp_path / "out.mp4", concurrency=4, mux=False)
    async with open_fetcher(
        concurrency=4, timeout=100, transport=httpx.MockTransport(handler)
    ) as fetcher:
        await run_job(plan, config, fetcher, events.append)


@pytest.mark.trio
async def test_rerun_resumes_without_refetching(tmp_path: Path, autojump_clock: object) -> None:
    fetched: list[str] = []
    fail = True

    async def handler(request: httpx.Request) -> httpx.Response:
        fetched.append(request.url.path)
        if fail and request.url.path == "/s2":
            return httpx.Response(403)
        return ok(request)

    plan = make_plan(3)
    _, status = await run(tmp_path, plan, handler)
    assert status == "partial"
    assert sorted(fetched) == ["/init", "/s1", "/s2", "/s3"]
    fetched.clear()
    fail = False
    events, status = await run(tmp_path, plan, handler)
    assert status == "complete"
    assert fetched == ["/s2"]
    resumed = {e.index for e in events if isinstance(e, SegmentDone) and e.resumed}
    assert resumed == {0, 1, 3}
    assert output(tmp_path, plan).read_bytes() == expected_file(plan)
    assert not (tmp_path / ".out.mp4.trioseg").exists()


@pytest.mark.trio
async def test_pause_stops_new_segments_and_resume_continues(
    tmp_path: Path, autojump_clock: object
) -> None:
    from trioseg.engine import JobControl
    from trioseg.events import JobPaused

    starts: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        starts.append(trio.current_time())
        await trio.sleep(1)
        return ok(request)

    plan = make_plan(7)
    events: list[Event] = []
    control = JobControl()
    config = JobConfig(output=tmp_path / "out.mp4", concurrency=2, mux=False)

    async def pilot() -> None:
        await trio.sleep(1.5)
        control.set_paused(True)
        await trio.sleep(10)
        control.set_paused(False)

    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pilot)
        async with open_fetcher(
            concurrency=2, timeout=100, transport=httpx.MockTransport(handler)
        ) as fetcher:
            outcome = await run_job(plan, config, fetcher, events.append, control=control)
    assert outcome.status == "complete"
    # two at t=0, two at t=1; paused at 1.5 until 11.5: nothing starts in between
    assert [t - t0 for t in starts] == [0, 0, 1, 1, 11.5, 11.5, 12.5, 12.5]
    assert [e.paused for e in events if isinstance(e, JobPaused)] == [True, False]


@pytest.mark.trio
async def test_retry_failed_now_requeues_with_a_fresh_budget(
    tmp_path: Path, autojump_clock: object
) -> None:
    from trioseg.engine import JobControl

    broken = True

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/s1" and broken:
            return httpx.Response(404)
        await trio.sleep(1)
        return ok(request)

    plan = make_plan(8)
    events: list[Event] = []
    control = JobControl()
    config = JobConfig(output=tmp_path / "out.mp4", concurrency=1, mux=False)

    async def pilot() -> None:
        nonlocal broken
        await trio.sleep(3.5)
        assert any(isinstance(e, SegmentFailed) for e in events)
        broken = False
        assert control.retry_failed() == 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(pilot)
        async with open_fetcher(
            concurrency=1, timeout=100, transport=httpx.MockTransport(handler)
        ) as fetcher:
            outcome = await run_job(plan, config, fetcher, events.append, control=control)
    assert outcome.status == "complete"
    restarted = [e for e in events if isinstance(e, SegmentStarted) and e.index == 1]
    assert [e.attempt for e in restarted] == [1, 2]
    assert control.retry_failed() == 0
    assert output(tmp_path, plan).read_bytes() == expected_file(plan)


@pytest.mark.trio
async def test_throttled_host_halves_its_limit_and_waits_retry_after(
    tmp_path: Path, autojump_clock: object
) -> None:
    from trioseg.events import HostLimit

    live = 0
    peak_after_throttle = 0
    throttled_at: float | None = None
    starts: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal live, peak_after_throttle, throttled_at
        starts.append(trio.current_time())
        if request.url.path == "/s3" and throttled_at is None:
            throttled_at = trio.current_time()
            return httpx.Response(429, headers={"retry-after": "5"})
        live += 1
        if throttled_at is not None:
            peak_after_throttle = max(peak_after_throttle, live)
        await trio.sleep(1)
        live -= 1
        return ok(request)

    plan = make_plan(40)
    events, status = await run(tmp_path, plan, handler, concurrency=8)
    assert status == "complete"
    limits = [(e.limit, e.reason) for e in events if isinstance(e, HostLimit)]
    assert limits[0] == (4, "HTTP 429")
    # additive increase after a run of successes, never above -N
    assert [lim for lim, _ in limits[1:]] == list(range(5, 5 + len(limits) - 1))
    assert all(lim <= 8 for lim, _ in limits)
    assert throttled_at is not None
    # no request reached the host during its Retry-After window
    assert not [t for t in starts if throttled_at < t < throttled_at + 5]
    assert output(tmp_path, plan).read_bytes() == expected_file(plan)


@pytest.mark.trio
async def test_a_failing_host_is_avoided_for_a_while(
    tmp_path: Path, autojump_clock: object
) -> None:
    from trioseg.events import Notice

    hosts: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if request.url.host == "a.test":
            raise httpx.ConnectError("refused")
        return ok(request)

    plan = make_plan(12, urls=lambda i: (f"http://a.test/s{i}", f"http://b.test/s{i}"))
    events, status = await run(tmp_path, plan, handler, concurrency=1)
    assert status == "complete"
    # three failures in a row, then a.test is skipped while b.test serves
    assert hosts.count("a.test") == 3
    assert hosts.count("b.test") == 12
    assert any(isinstance(e, Notice) and "failing over" in e.message for e in events)
    served = {e.url.split("/")[2] for e in events if isinstance(e, SegmentDone) and e.index}
    assert served == {"b.test"}


@pytest.mark.trio
async def test_per_host_cap_from_the_configuration(tmp_path: Path, autojump_clock: object) -> None:
    live: dict[str, int] = {}
    peak: dict[str, int] = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        live[host] = live.get(host, 0) + 1
        peak[host] = max(peak.get(host, 0), live[host])
        await trio.sleep(1)
        live[host] -= 1
        return ok(request)

    plan = make_plan(20, urls=lambda i: (f"http://{'slow' if i % 2 else 'fast'}.test/s{i}",))
    config = JobConfig(
        output=tmp_path / "out.mp4", concurrency=8, mux=False, host_limits={"slow.test": 2}
    )
    async with open_fetcher(
        concurrency=8, timeout=100, transport=httpx.MockTransport(handler)
    ) as fetcher:
        outcome = await run_job(plan, config, fetcher, lambda e: None)
    assert outcome.status == "complete"
    assert peak["slow.test"] == 2
    assert peak["fast.test"] > 2
