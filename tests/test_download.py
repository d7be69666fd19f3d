"""End to end: the CLI's download path against a real HTTP origin on 127.0.0.1,
serving real DASH media made with PyAV."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import rel

from trioseg.cli import Options, download
from trioseg.headless import Reporter
from trioseg.media import DashContent, probe
from trioseg.origin import Fault, FaultPlan, open_origin
from trioseg.progress import Progress

Factory = Callable[..., DashContent]


def options(url: str, output: Path, **overrides: Any) -> Options:
    values: dict[str, Any] = dict(
        url=url,
        output=output,
        concurrency=8,
        retries=5,
        timeout=5.0,
        mux=True,
        force=False,
        json=True,
    )
    values.update(overrides)
    return Options(**values)


async def run_cli(opts: Options) -> tuple[int, list[dict[str, Any]], str]:
    out, err = io.StringIO(), io.StringIO()
    reporter = Reporter(Progress(), lines=err, json_out=out, retries=opts.retries)
    code = await download(opts, reporter)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    return code, events, err.getvalue()


def no_mux_paths(output: Path, events: list[dict[str, Any]]) -> dict[str, Path]:
    return {s["id"]: Path(s["path"]) for s in events[-1]["streams"]}


@pytest.mark.trio
@pytest.mark.parametrize("addressing", ["number", "timeline-time", "timeline-number", "list"])
async def test_no_mux_outputs_are_byte_identical(
    dash_factory: Factory, tmp_path: Path, addressing: str
) -> None:
    content = dash_factory(addressing=addressing)
    async with open_origin(content.root) as origin:
        code, events, _ = await run_cli(
            options(origin.url(rel(content, content.manifest)), tmp_path / "o" / "m.mp4", mux=False)
        )
    assert code == 0
    finished = events[-1]
    assert finished["event"] == "finished" and finished["status"] == "complete"
    paths = no_mux_paths(tmp_path / "m.mp4", events)
    assert set(paths) == {r.id for r in content.representations}
    for rep in content.representations:
        assert paths[rep.id].read_bytes() == rep.expected_bytes()
    assert sorted(finished["outputs"]) == sorted(str(p) for p in paths.values())
    # each segment fetched exactly once, and nothing left behind but the outputs
    assert len(origin.requests) == 1 + sum(len(r.files) for r in content.representations)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(
        p.name for p in paths.values()
    )


@pytest.mark.trio
async def test_ids_that_share_a_file_name_get_their_own_files(
    dash_factory: Factory, tmp_path: Path
) -> None:
    # "v/1" and "v_1" are different ids but the same name on disk
    content = dash_factory()
    mpd = content.manifest.read_text()
    for rep, new_id in zip(content.representations, ("v/1", "v_1"), strict=True):
        mpd = mpd.replace(f'<Representation id="{rep.id}"', f'<Representation id="{new_id}"')
        mpd = mpd.replace("$RepresentationID$", rep.id, 2)
    manifest = content.manifest.with_name("clash.mpd")
    manifest.write_text(mpd)
    async with open_origin(content.root) as origin:
        code, events, _ = await run_cli(
            options(origin.url(rel(content, manifest)), tmp_path / "m.mp4", mux=False)
        )
    assert code == 0 and events[-1]["status"] == "complete"
    paths = no_mux_paths(tmp_path / "m.mp4", events)
    assert len(paths) == 2 and "v/1" in paths
    (other,) = set(paths) - {"v/1"}
    assert other.startswith("v_1")
    for rep, stream_id in zip(content.representations, ("v/1", other), strict=True):
        assert paths[stream_id].read_bytes() == rep.expected_bytes()


@pytest.mark.trio
async def test_muxed_output_has_best_video_and_audio(dash_factory: Factory, tmp_path: Path) -> None:
    content = dash_factory(video=((320, 240, 400_000), (160, 120, 100_000)), duration=4.0)
    async with open_origin(content.root) as origin:
        code, events, err = await run_cli(
            options(origin.url(rel(content, content.manifest)), tmp_path / "movie.mp4")
        )
        fetched = {r.path for r in origin.requests}
    assert code == 0, err
    result = probe(tmp_path / "movie.mp4")
    assert [s.type for s in result.streams] == ["video", "audio"]
    (video,) = result.of_type("video")
    assert (video.codec, video.width, video.height) == ("h264", 320, 240)
    assert result.of_type("audio")[0].codec == "aac"
    assert result.duration is not None and abs(result.duration - 4.0) < 0.2
    small = next(r for r in content.by_kind("video") if r.width == 160)
    assert not fetched & {rel(content, p) for p in small.files}
    start = events[0]
    assert start["event"] == "start"
    assert {s["kind"] for s in start["streams"]} == {"video", "audio"}
    assert events[-1]["outputs"] == [str(tmp_path / "movie.mp4")]
    assert [p.name for p in tmp_path.iterdir()] == ["movie.mp4"]


@pytest.mark.trio
async def test_every_fault_kind_still_ends_byte_identical(
    dash_factory: Factory, tmp_path: Path
) -> None:
    content = dash_factory(duration=8.0)
    video, audio = content.by_kind("video")[0], content.by_kind("audio")[0]
    plan = FaultPlan()
    plan.add(rel(content, video.init), Fault.http_status(500))
    plan.add(rel(content, video.segments[0]), Fault.http_status(503, retry_after="1"))
    plan.add(rel(content, video.segments[1]), Fault.http_status(429, retry_after="0"))
    plan.add(rel(content, video.segments[2]), Fault.connection_reset())
    plan.add(rel(content, video.segments[3]), Fault.truncated())
    plan.add(rel(content, video.segments[4]), Fault.stalled(30.0))
    plan.add(rel(content, audio.segments[0]), Fault.http_status(502), Fault.truncated())
    async with open_origin(content.root, faults=plan) as origin:
        code, events, err = await run_cli(
            options(
                origin.url(rel(content, content.manifest)),
                tmp_path / "m.mp4",
                mux=False,
                timeout=0.5,
            )
        )
        log = list(origin.requests)
    assert code == 0, err
    paths = no_mux_paths(tmp_path / "m.mp4", events)
    assert paths[video.id].read_bytes() == video.expected_bytes()
    assert paths[audio.id].read_bytes() == audio.expected_bytes()
    faulted = [r for r in log if r.fault]
    assert len(faulted) == 8
    retries = [e for e in events if e["event"] == "retry"]
    assert len(retries) == 8
    errors = " ".join(e["error"] for e in retries)
    for needle in ("HTTP 500", "HTTP 503", "HTTP 429", "truncated", "stalled"):
        assert needle in errors
    # every file was fetched successfully exactly once
    ok = [r.path for r in log if r.fault is None]
    assert len(ok) == len(set(ok)) == 1 + len(video.files) + len(audio.files)
    assert "warning:" in err


@pytest.mark.trio
async def test_permanent_failure_is_partial_and_a_rerun_fetches_only_it(
    dash_factory: Factory, tmp_path: Path
) -> None:
    content = dash_factory(duration=6.0)
    video = content.by_kind("video")[0]
    missing = rel(content, video.segments[2])
    plan = FaultPlan()
    plan.add(missing, Fault.http_status(404))
    async with open_origin(content.root, faults=plan) as origin:
        url = origin.url(rel(content, content.manifest))
        code, events, err = await run_cli(options(url, tmp_path / "m.mp4"))
        assert code == 1
        finished = events[-1]
        assert finished["status"] == "partial"
        # the output is written with the hole, and says where it is
        assert finished["outputs"] == [str(tmp_path / "m.mp4")]
        failed = [f for s in finished["streams"] for f in s["failed"]]
        assert failed == [
            {
                "index": 3,
                "url": origin.url(missing),
                "error": "HTTP 404",
                "attempts": 1,
                "start": 2.0,
                "end": 3.0,
            }
        ]
        assert "re-run" in finished["error"]
        gaps = [e["message"] for e in events if e["event"] == "warning"]
        assert any("video has no media from 2.00 s to 3.00 s" in g for g in gaps)
        assert probe(tmp_path / "m.mp4").of_type("video")
        before = len(origin.requests)
        code, events, err = await run_cli(options(url, tmp_path / "m.mp4"))
        rerun = [r.path for r in origin.requests[before:]]
    assert code == 0, err
    assert sorted(rerun) == sorted([rel(content, content.manifest), missing])
    result = probe(tmp_path / "m.mp4")
    assert result.duration is not None and abs(result.duration - 6.0) < 0.2
    assert not (tmp_path / ".m.mp4.trioseg").exists()


@pytest.mark.trio
async def test_existing_output_is_not_overwritten(dash_factory: Factory, tmp_path: Path) -> None:
    content = dash_factory()
    target = tmp_path / "m.mp4"
    target.write_bytes(b"precious")
    async with open_origin(content.root) as origin:
        code, events, _ = await run_cli(options(origin.url(rel(content, content.manifest)), target))
    assert code == 2
    assert target.read_bytes() == b"precious"
    assert events[-1]["status"] == "failed"
    assert "--force" in events[-1]["error"]


@pytest.mark.trio
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "cannot fetch manifest"),
        (b"<MPD", "malformed XML"),
        (b"<html>not a manifest</html>", "MPD"),
    ],
)
async def test_manifest_errors_exit_2(tmp_path: Path, body: bytes | None, message: str) -> None:
    root = tmp_path / "site"
    root.mkdir()
    if body is not None:
        (root / "m.mpd").write_bytes(body)
    async with open_origin(root) as origin:
        code, events, _ = await run_cli(options(origin.url("m.mpd"), tmp_path / "x.mp4"))
    assert code == 2
    assert events[-1]["event"] == "finished" and events[-1]["status"] == "failed"
    assert message in events[-1]["error"]
    assert "\n" not in events[-1]["error"]


@pytest.mark.trio
async def test_a_changed_manifest_is_refused_until_fresh(
    dash_factory: Factory, tmp_path: Path
) -> None:
    import shutil

    content = dash_factory(duration=6.0)
    site = tmp_path / "site"
    shutil.copytree(content.root, site)
    manifest = site / content.manifest.relative_to(content.root)
    video = content.by_kind("video")[0]
    plan = FaultPlan()
    plan.add(rel(content, video.segments[1]), Fault.http_status(404))
    async with open_origin(site, faults=plan) as origin:
        url = origin.url(rel(content, content.manifest))
        code, _, _ = await run_cli(options(url, tmp_path / "m.mp4"))
        assert code == 1
        text = manifest.read_text()
        assert 'mediaPresentationDuration="PT6.0S"' in text
        manifest.write_text(text.replace('"PT6.0S"', '"PT5.0S"'))
        code, events, _ = await run_cli(options(url, tmp_path / "m.mp4"))
        assert code == 2
        assert "manifest changed" in events[-1]["error"] and "--fresh" in events[-1]["error"]
        code, events, _ = await run_cli(options(url, tmp_path / "m.mp4", fresh=True))
    assert code == 0, events[-1]
    assert events[-1]["status"] == "complete"
    assert all(s["segments_total"] == 6 for s in events[-1]["streams"])


@pytest.mark.trio
async def test_an_output_folder_that_cannot_exist_is_one_line(
    dash_factory: Factory, tmp_path: Path
) -> None:
    content = dash_factory()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    async with open_origin(content.root) as origin:
        url = origin.url(rel(content, content.manifest))
        code, events, _ = await run_cli(options(url, blocker / "sub" / "m.mp4"))
    assert code == 2
    assert events[-1]["error"].startswith(f"cannot create folder {blocker / 'sub'}")
