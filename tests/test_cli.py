"""The command line as a user runs it: a subprocess, its exit code and its output."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from conftest import committed, rel, wait_for_requests

from trioseg.cli import build_parser
from trioseg.media import DashContent, probe
from trioseg.origin import open_origin

Factory = Callable[..., DashContent]
TRIOSEG = [sys.executable, "-m", "trioseg"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRIOSEG, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((), "a manifest URL is required"),
        (("-N", "0", "http://x/m.mpd"), "-N/--concurrency: must be at least 1"),
        (("--timeout", "soon", "http://x/m.mpd"), "--timeout: expected seconds"),
        (("--retries", "-1", "http://x/m.mpd"), "--retries: must not be negative"),
        (("ftp://x/m.mpd",), "not an http(s) URL"),
        (("--demo", "http://x/m.mpd"), "--demo takes no URL"),
        (("--bogus",), "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: tuple[str, ...], needle: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_help_documents_every_option_and_the_exit_codes() -> None:
    text = build_parser().format_help()
    for option in (
        "--output",
        "--concurrency",
        "--retries",
        "--timeout",
        "--no-mux",
        "--force",
        "--headless",
        "--json",
        "--demo",
        "--version",
    ):
        assert option in text
    for code in ("0 ", "1 ", "2 ", "130"):
        assert f"\n  {code}" in text
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for action in build_parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert flag in readme, f"{flag} missing from README"


def test_unreachable_manifest_exits_2_without_traceback(tmp_path: Path) -> None:
    result = run("--retries", "0", "http://127.0.0.1:9/none.mpd", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("trioseg: error: cannot fetch manifest")
    assert "Traceback" not in result.stderr


def test_demo_downloads_a_playable_file(tmp_path: Path) -> None:
    result = run("--demo", "--headless", "--json", "-o", str(tmp_path / "new" / "demo.mp4"))
    assert result.returncode == 0, result.stderr
    finished = json.loads(result.stdout.splitlines()[-1])
    assert finished["status"] == "complete"
    assert finished["outputs"] == [str(tmp_path / "new" / "demo.mp4")]
    info = probe(tmp_path / "new" / "demo.mp4")
    assert [s.type for s in info.streams] == ["video", "audio"]
    assert info.duration is not None and abs(info.duration - 12.0) < 0.2
    assert "play " in result.stderr


@pytest.mark.trio
@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
)
async def test_signal_cancels_cleanly_and_a_rerun_resumes(
    dash_factory: Factory, tmp_path: Path, signum: int, code: int
) -> None:
    content = dash_factory(duration=12.0)
    out = tmp_path / "m.mp4"
    async with open_origin(content.root, latency=0.25) as origin:
        url = origin.url(rel(content, content.manifest))
        args = [*TRIOSEG, "--headless", "--json", "-N", "2", "-o", str(out), url]
        proc = await trio.lowlevel.open_process(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        with trio.fail_after(60):
            await wait_for_requests(origin, 6)
            proc.send_signal(signum)
            stdout = b""
            assert proc.stdout is not None
            async for chunk in proc.stdout:
                stdout += chunk
            assert await proc.wait() == code
        events = [json.loads(line) for line in stdout.decode().splitlines()]
        assert events[-1]["event"] == "finished"
        assert events[-1]["status"] == "cancelled"
        assert not out.exists()
        # what the journal vouches for is exactly what the origin sent; no .part is left
        workdir = tmp_path / ".m.mp4.trioseg"
        assert not list(workdir.rglob("*.part"))
        complete = {key: data for key, (_, data) in committed(workdir).items()}
        expected = {
            (rep.id, i): path.read_bytes()
            for rep in content.representations
            for i, path in enumerate(rep.files)
        }
        assert complete and all(expected[k] == v for k, v in complete.items())

        origin.latency = 0.0
        before = len(origin.requests)
        result = await trio.run_process(
            [*TRIOSEG, "--headless", "-o", str(out), url],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        refetched = {r.path for r in origin.requests[before:]}
    already = {
        rel(content, rep.files[index])
        for stream, index in complete
        for rep in content.representations
        if rep.id == stream
    }
    assert not refetched & already
    assert probe(out).of_type("audio")


@pytest.mark.trio
async def test_a_second_run_on_the_same_output_is_refused(
    dash_factory: Factory, tmp_path: Path
) -> None:
    content = dash_factory(duration=6.0)
    out = tmp_path / "m.mp4"
    async with open_origin(content.root, latency=0.3) as origin:
        url = origin.url(rel(content, content.manifest))
        args = [*TRIOSEG, "--headless", "--no-mux", "-N", "2", "-o", str(out), url]
        first = await trio.lowlevel.open_process(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        with trio.fail_after(30):
            await wait_for_requests(origin, 2)
            second = await trio.run_process(
                [*args, "--fresh"], capture_stdout=True, capture_stderr=True, check=False
            )
            assert second.returncode == 2
            err = second.stderr.decode().strip().splitlines()
            assert err[-1] == (
                f"trioseg: error: another trioseg is writing to the same output (its work folder "
                f"{tmp_path / '.m.mp4.trioseg'} is in use); wait for it to finish or stop it"
            )
            assert "Traceback" not in second.stderr.decode()
            # the first run goes on undisturbed and completes
            origin.latency = 0.0
            assert await first.wait() == 0
    for rep in content.representations:
        path = out.with_name(f"m.{rep.kind}-{rep.id}.{'m4a' if rep.kind == 'audio' else 'mp4'}")
        assert path.read_bytes() == rep.expected_bytes()
