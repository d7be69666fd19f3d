"""Live recording end to end: the recorder against a live origin, in trio's virtual
time (through httpx.MockTransport) and once over real HTTP."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from trioseg.engine import JobConfig, JobControl
from trioseg.events import Event, JobFinished, SegmentFailed, SegmentRetry
from trioseg.fetch import NetworkOptions, open_fetcher
from trioseg.livejob import LiveOptions, record_live
from trioseg.liveorigin import LivePresentation, trio_clock
from trioseg.media import DashContent
from trioseg.mpd import ManifestLimits
from trioseg.prepare import load_manifest
from trioseg.retry import RetryPolicy

Factory = Callable[..., DashContent]
EPOCH = 1_800_000_000.0
URL = "http://live.test/manifest.mpd"
SEG = re.compile(r"/live/(p\d)/([^/]+)/(t?\d+)\.m4s$")


def presentation(content: DashContent, **kwargs: Any) -> LivePresentation:
    kwargs.setdefault("availability_start", EPOCH - 20.0)
    return LivePresentation(content, clock=trio_clock(EPOCH), **kwargs)


async def record(
    live: LivePresentation,
    tmp_path: Path,
    *,
    stop_after: float | None = None,
    **options: Any,
) -> tuple[list[Event], str, Path]:
    events: list[Event] = []
    out = tmp_path / "rec.mp4"
    config = JobConfig(output=out, concurrency=4, retry=RetryPolicy(retries=3), mux=False)
    control = JobControl()
    async with (
        open_fetcher(
            concurrency=4,
            network=NetworkOptions(timeout=10.0),
            transport=httpx.MockTransport(live.handler()),
        ) as fetcher,
        trio.open_nursery() as nursery,
    ):
        if stop_after is not None:

            async def stop() -> None:
                await trio.sleep(stop_after)
                control.cancel(None)

            nursery.start_soon(stop)
        manifest = await load_manifest(
            fetcher, URL, RetryPolicy(), limits=ManifestLimits(), emit=events.append
        )
        with control.scope:
            outcome = await record_live(
                manifest,
                URL,
                None,
                config,
                fetcher,
                events.append,
                control=control,
                options=LiveOptions(**options),
                limits=ManifestLimits(),
            )
        nursery.cancel_scope.cancel()
    return events, outcome.status, out


def fetched(live: LivePresentation, rep: str) -> list[str]:
    """The segment names of ``rep`` answered 200, in the order they were answered."""
    names = []
    for r in live.requests:
        match = SEG.search(r.path)
        if match and match[2] == rep and r.status == 200:
            names.append(f"{match[1]}/{match[3]}")
    return names


def number(name: str, segment_ms: int = 2000) -> int:
    """The segment number of ``p0/12`` or of a timeline name ``p0/t22000``."""
    last = name.split("/")[1]
    return int(last[1:]) // segment_ms + 1 if last.startswith("t") else int(last)


def expected(live: LivePresentation, rep: str, names: list[str]) -> bytes:
    return live.init_for(rep) + b"".join(live.file_for(rep, number(n)) for n in names)


def stream_file(out: Path, kind: str, rep: str) -> Path:
    ext = "m4a" if kind == "audio" else "mp4"
    return out.with_name(f"{out.stem}.{kind}-{rep}.{ext}")


@pytest.mark.trio
async def test_starts_at_the_live_edge_and_stops_after_duration(
    dash_factory: Factory, tmp_path: Path, autojump_clock: object
) -> None:
    content = dash_factory(duration=8.0, segment_duration=2.0)
    live = presentation(content)
    events, status, out = await record(live, tmp_path, duration=6.0)
    assert status == "complete"
    for rep in content.representations:
        names = fetched(live, rep.id)
        # the newest available segment (20 s after the start: number 10), then two more
        assert names == ["p0/10", "p0/11", "p0/12"]
        assert stream_file(out, rep.kind, rep.id).read_bytes() == expected(live, rep.id, names)
    # the clock came from UTCTiming: nothing was asked for before it was available
    assert not [r for r in live.requests if r.status == 404]
    assert isinstance(events[-1], JobFinished)


@pytest.mark.trio
async def test_from_start_catches_up_the_window_in_parallel(
    dash_factory: Factory, tmp_path: Path, autojump_clock: object
) -> None:
    content = dash_factory(duration=8.0, segment_duration=2.0)
    live = presentation(content, tsbd=10.0)
    start = trio.current_time()
    _, status, out = await record(live, tmp_path, from_start=True, duration=10.0)
    assert status == "complete"
    video = content.by_kind("video")[0]
    names = fetched(live, video.id)
    assert names[0] == "p0/5" and names == [f"p0/{n}" for n in range(5, 10)]
    # the catch-up did not wait for the clock: the window was fetched at once
    times = [r.time for r in live.requests if SEG.search(r.path) and r.status == 200]
    assert max(times) - (EPOCH + start) < 1.0
    assert stream_file(out, "video", video.id).read_bytes() == expected(live, video.id, names)


@pytest.mark.trio
async def test_timeline_manifest_refresh_and_a_late_segment(
    dash_factory: Factory, tmp_path: Path, autojump_clock: object
) -> None:
    content = dash_factory(duration=8.0, segment_duration=2.0)
    live = presentation(content, addressing="timeline", late={12: 1.5}, minimum_update_period=2.0)
    events, status, out = await record(live, tmp_path, duration=8.0)
    assert status == "complete"
    video = content.by_kind("video")[0]
    names = fetched(live, video.id)
    assert len(names) == 4
    assert len({r.path for r in live.requests if r.path == "/manifest.mpd"}) == 1
    assert sum(r.path == "/manifest.mpd" for r in live.requests) >= 3
    late = [r.status for r in live.requests if r.path.endswith(f"/{video.id}/t22000.m4s")]
    assert late[0] == 404 and late[-1] == 200
    assert any(isinstance(e, SegmentRetry) and e.error == "HTTP 404" for e in events)
    # whenever the late segment 12 arrived, the file keeps presentation order
    assert sorted(number(n) for n in names) == [10, 11, 12, 13]
    in_order = sorted(names, key=number)
    assert stream_file(out, "video", video.id).read_bytes() == expected(live, video.id, in_order)


@pytest.mark.trio
async def test_period_change_and_switch_to_static(
    dash_factory: Factory, tmp_path: Path, autojump_clock: object
) -> None:
    content = dash_factory(duration=8.0, segment_duration=2.0)
    live = presentation(content, period_change_at=EPOCH + 4.0, end_at=EPOCH + 10.0)
    events, status, out = await record(live, tmp_path)
    assert status == "complete"
    video = content.by_kind("video")[0]
    names = fetched(live, video.id)
    # from the edge (p0/10) to the end of the first Period, then the new Period to the end
    assert names == ["p0/10", "p0/11", "p0/12", "p1/1", "p1/2", "p1/3"]
    body = stream_file(out, "video", video.id).read_bytes()
    first = live.init_for(video.id) + b"".join(live.file_for(video.id, n) for n in (10, 11, 12))
    assert body.startswith(first)
    assert body.endswith(b"".join(live.file_for(video.id, n) for n in (1, 2, 3)))
    assert isinstance(events[-1], JobFinished) and events[-1].status == "complete"


@pytest.mark.trio
async def test_a_segment_that_expires_first_is_a_reported_gap(
    dash_factory: Factory, tmp_path: Path, autojump_clock: object
) -> None:
    content = dash_factory(duration=8.0, segment_duration=2.0)
    # segment 11 stays 404 for longer than it stays in a 2 s time-shift buffer
    live = presentation(content, tsbd=2.0, late={11: 30.0})
    events, status, out = await record(live, tmp_path, duration=6.0)
    assert status == "partial"
    gaps = [e for e in events if isinstance(e, SegmentFailed)]
    assert gaps and all(e.error.startswith("gap:") for e in gaps)
    assert {e.index for e in gaps} == {2}
    video = content.by_kind("video")[0]
    body = stream_file(out, "video", video.id).read_bytes()
    assert body == live.init_for(video.id) + live.file_for(video.id, 10) + live.file_for(
        video.id, 12
    )


@pytest.mark.trio
async def test_stopping_keeps_a_valid_recording(
    dash_factory: Factory, tmp_path: Path, autojump_clock: object
) -> None:
    content = dash_factory(duration=8.0, segment_duration=2.0)
    live = presentation(content)
    events, status, out = await record(live, tmp_path, stop_after=5.0)
    assert status == "cancelled"
    video = content.by_kind("video")[0]
    names = fetched(live, video.id)
    assert names[:3] == ["p0/10", "p0/11", "p0/12"]
    body = stream_file(out, "video", video.id).read_bytes()
    assert body.startswith(live.init_for(video.id) + live.file_for(video.id, 10))
    assert isinstance(events[-1], JobFinished)


@pytest.mark.trio
async def test_real_http_recording_with_the_cli_muxes_a_playable_file(
    dash_factory: Factory, tmp_path: Path
) -> None:
    from test_download import options, run_cli

    from trioseg.media import probe

    content = dash_factory(duration=4.0, segment_duration=0.4)
    now = time.time()
    live = LivePresentation(
        content,
        availability_start=round(now) - 8.0,
        clock=time.time,
        minimum_update_period=0.4,
    )
    origin = live.origin()
    async with trio.open_nursery() as nursery:
        base = await nursery.start(functools.partial(origin.serve))
        code, events, err = await run_cli(
            options(base + "manifest.mpd", tmp_path / "live.mp4", live_duration=2.0)
        )
        nursery.cancel_scope.cancel()
    assert code == 0, (err, events[-1])
    assert events[-1]["status"] == "complete"
    info = probe(tmp_path / "live.mp4")
    assert [s.type for s in info.streams] == ["video", "audio"]
    assert info.duration is not None and 1.5 < info.duration < 3.0
    assert not [e for e in events if e["event"] in ("warning", "segment_failed")]


@pytest.mark.trio
async def test_refreshes_follow_location(
    dash_factory: Factory, tmp_path: Path, autojump_clock: object
) -> None:
    content = dash_factory(duration=8.0, segment_duration=2.0)
    live = presentation(content, location="http://live.test/moved/live.mpd")
    _, status, _ = await record(live, tmp_path, duration=6.0)
    assert status == "complete"
    manifests = [r.path for r in live.requests if r.path.endswith(".mpd")]
    assert manifests[0] == "/manifest.mpd"
    assert manifests[1:] and set(manifests[1:]) == {"/moved/live.mpd"}


@pytest.mark.trio
async def test_no_mux_files_are_playable_while_recording(
    dash_factory: Factory, tmp_path: Path, autojump_clock: object
) -> None:
    from trioseg.media import probe

    content = dash_factory(duration=8.0, segment_duration=2.0)
    live = presentation(content)
    video = content.by_kind("video")[0]
    seen: list[tuple[float, int]] = []

    async def look() -> None:
        await trio.sleep(5.0)
        path = stream_file(tmp_path / "rec.mp4", "video", video.id)
        info = probe(path)
        seen.append((info.duration or 0.0, path.stat().st_size))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(look)
        _, status, out = await record(live, tmp_path, duration=10.0)
    assert status == "complete"
    ((duration, size),) = seen
    # mid-recording the file already held whole segments, readable as it was
    assert duration >= 2.0
    assert 0 < size < stream_file(out, "video", video.id).stat().st_size


@pytest.mark.trio
async def test_sigint_stops_a_live_recording_gracefully_with_130(
    dash_factory: Factory, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    from trioseg.media import probe

    content = dash_factory(duration=4.0, segment_duration=0.4)
    live = LivePresentation(
        content,
        availability_start=round(time.time()) - 8.0,
        clock=time.time,
        minimum_update_period=0.4,
    )
    origin = live.origin()
    out = tmp_path / "live.mp4"
    async with trio.open_nursery() as nursery:
        base = await nursery.start(functools.partial(origin.serve))
        args = [
            sys.executable,
            "-m",
            "trioseg",
            "--headless",
            "-o",
            str(out),
            base + "manifest.mpd",
        ]
        proc = await trio.lowlevel.open_process(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        with trio.fail_after(30):
            while sum(r.status == 200 and r.path.endswith(".m4s") for r in live.requests) < 6:
                await trio.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            assert await proc.wait() == 130
        nursery.cancel_scope.cancel()
    info = probe(out)
    assert [s.type for s in info.streams] == ["video", "audio"]
    assert info.duration is not None and info.duration >= 0.8
