"""Several manifests in one run: one connection budget, one result per job."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from conftest import rel

from trioseg.cli import Options, _options, download_batch, read_batch_file
from trioseg.errors import UsageError
from trioseg.headless import Reporter
from trioseg.media import DashContent, probe
from trioseg.origin import open_origin
from trioseg.progress import Progress

Factory = Callable[..., DashContent]


def test_batch_file_comments_blank_lines_and_errors(tmp_path: Path) -> None:
    batch = tmp_path / "urls.txt"
    batch.write_text("# my list\n\nhttp://a.test/1.mpd\n  https://b.test/2.mpd  \n")
    assert read_batch_file(str(batch)) == ["http://a.test/1.mpd", "https://b.test/2.mpd"]
    batch.write_text("http://a.test/1.mpd\nftp://nope\n")
    with pytest.raises(UsageError, match=r"urls.txt:2: not an http\(s\) URL"):
        read_batch_file(str(batch))
    with pytest.raises(UsageError, match="cannot read batch file"):
        read_batch_file(str(tmp_path / "missing.txt"))


def test_urls_from_the_command_line_and_the_batch_file(tmp_path: Path) -> None:
    batch = tmp_path / "urls.txt"
    batch.write_text("http://b.test/2.mpd\n")
    opts = _options(["--ignore-config", "http://a.test/1.mpd", "-a", str(batch), "--jobs", "3"])
    assert opts.urls == ("http://a.test/1.mpd", "http://b.test/2.mpd")
    assert opts.jobs == 3


def test_unreadable_batch_file_exits_2_before_anything_starts(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trioseg", "--ignore-config", "-a", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot read batch file" in result.stderr


@pytest.mark.trio
async def test_two_hosts_one_slow_share_one_budget(dash_factory: Factory, tmp_path: Path) -> None:
    fast = dash_factory(duration=6.0)
    slow = dash_factory(duration=5.0)
    out = tmp_path / "out"
    peak = 0
    async with (
        open_origin(fast.root) as a,
        open_origin(slow.root, latency=0.1) as b,
        trio.open_nursery() as nursery,
    ):

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, a.active_connections + b.active_connections)
                await trio.sleep(0.005)

        nursery.start_soon(sample)
        urls = (a.url(rel(fast, fast.manifest)), b.url(rel(slow, slow.manifest)))
        opts = Options(
            url=urls[0],
            urls=urls,
            jobs=2,
            output=out,
            concurrency=3,
            retries=2,
            timeout=5.0,
            mux=False,
            force=False,
            json=True,
        )
        streams = [io.StringIO() for _ in urls]
        reporters = [
            Reporter(Progress(), lines=io.StringIO(), json_out=s, json_extra={"job": i})
            for i, s in enumerate(streams, 1)
        ]
        code = await download_batch(opts, reporters)
        nursery.cancel_scope.cancel()
    assert code == 0
    assert 1 <= peak <= 3
    finished = [json.loads(s.getvalue().splitlines()[-1]) for s in streams]
    assert [f["status"] for f in finished] == ["complete", "complete"]
    assert [f["job"] for f in finished] == [1, 2]
    # both manifests are called manifest.mpd: the second job's name gets a suffix
    paths = sorted(Path(s["path"]).name for f in finished for s in f["streams"])
    assert paths == sorted(
        [f"manifest.{k}-{i}.{e}" for k, i, e in (("video", 0, "mp4"), ("audio", 1, "m4a"))]
        + [f"manifest-2.{k}-{i}.{e}" for k, i, e in (("video", 0, "mp4"), ("audio", 1, "m4a"))]
    )
    assert all(Path(p).parent == out for f in finished for p in f["outputs"])


@pytest.mark.trio
async def test_batch_subprocess_json_lists_every_job_and_the_exit_code_reflects_failure(
    dash_factory: Factory, tmp_path: Path
) -> None:
    content = dash_factory(duration=4.0)
    async with open_origin(content.root) as origin:
        good = origin.url(rel(content, content.manifest))
        bad = origin.url("missing.mpd")
        batch = tmp_path / "list.txt"
        batch.write_text(f"# two\n{bad}\n")
        result = await trio.run_process(
            [
                sys.executable,
                "-m",
                "trioseg",
                "--ignore-config",
                "--headless",
                "--json",
                "--jobs",
                "2",
                "-o",
                str(tmp_path / "o"),
                good,
                "-a",
                str(batch),
            ],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 1
    lines = [json.loads(x) for x in result.stdout.decode().splitlines()]
    final = lines[-1]
    assert final["event"] == "finished" and final["status"] == "partial"
    assert [(j["job"], j["status"]) for j in final["jobs"]] == [(1, "complete"), (2, "failed")]
    assert "HTTP 404" in final["jobs"][1]["error"]
    assert {x.get("job") for x in lines[:-1]} == {1, 2}
    assert probe(Path(final["outputs"][0])).of_type("video")
    assert "batch partial: 1 of 2 downloads complete" in result.stderr.decode()


@pytest.mark.trio
@pytest.mark.parametrize("jobs", [1, 2])
async def test_output_names_follow_the_url_order_not_the_finishing_order(
    dash_factory: Factory, tmp_path: Path, jobs: int
) -> None:
    content = dash_factory(duration=4.0)
    async with open_origin(content.root, latency=0.2) as slow, open_origin(content.root) as fast:
        urls = (slow.url(rel(content, content.manifest)), fast.url(rel(content, content.manifest)))
        opts = Options(
            url=urls[0],
            urls=urls,
            jobs=jobs,
            output=tmp_path / "o",
            concurrency=4,
            retries=2,
            timeout=5.0,
            mux=True,
            force=False,
            json=True,
        )
        streams = [io.StringIO() for _ in urls]
        reporters = [Reporter(Progress(), lines=io.StringIO(), json_out=s) for s in streams]
        assert await download_batch(opts, reporters) == 0
    finished = [json.loads(s.getvalue().splitlines()[-1]) for s in streams]
    assert [Path(f["outputs"][0]).name for f in finished] == ["manifest.mp4", "manifest-2.mp4"]
