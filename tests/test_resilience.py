"""Never lose a byte: faults, kill -9, full disks and TLS, against the real origin."""

from __future__ import annotations

import contextlib
import json
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme
from conftest import committed, rel, wait_for_requests
from test_download import options, run_cli

from trioseg.media import DashContent
from trioseg.origin import Fault, FaultPlan, RequestRecord, open_origin
from trioseg.store import PROGRESS_EVERY, safe_name

Factory = Callable[..., DashContent]
TRIOSEG = [sys.executable, "-m", "trioseg"]


def successful(log: list[RequestRecord]) -> list[str]:
    return [r.path for r in log if r.fault is None and r.completed and r.status in (200, 206)]


def check_outputs(content: DashContent, events: list[dict[str, Any]]) -> None:
    paths = {s["id"]: Path(s["path"]) for s in events[-1]["streams"]}
    for rep in content.representations:
        assert paths[rep.id].read_bytes() == rep.expected_bytes()


FAULTS = {
    "500": Fault.http_status(500),
    "503-retry-after": Fault.http_status(503, retry_after="1"),
    "429-retry-after": Fault.http_status(429, retry_after="0"),
    "reset": Fault.connection_reset(),
    "truncate": Fault.truncated(),
    "stall": Fault.stalled(30.0),
}


@pytest.mark.trio
@pytest.mark.parametrize("kind", sorted(FAULTS))
async def test_each_fault_kind_alone(dash_factory: Factory, tmp_path: Path, kind: str) -> None:
    content = dash_factory(duration=6.0)
    plan = FaultPlan()
    faulted = [rel(content, rep.segments[i]) for rep in content.representations for i in (0, 3)]
    for path in faulted:
        plan.add(path, FAULTS[kind])
    async with open_origin(content.root, faults=plan) as origin:
        url = origin.url(rel(content, content.manifest))
        code, events, err = await run_cli(options(url, tmp_path / "m.mp4", mux=False, timeout=0.5))
        log = list(origin.requests)
    assert code == 0, err
    check_outputs(content, events)
    assert sorted(r.path for r in log if r.fault) == sorted(faulted)
    ok = successful(log)
    assert len(ok) == len(set(ok)) == 1 + sum(len(r.files) for r in content.representations)


@pytest.mark.trio
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_seeded_random_mix_at_20_percent(
    dash_factory: Factory, tmp_path: Path, seed: int
) -> None:
    content = dash_factory(duration=10.0, segment_duration=0.4)
    plan = FaultPlan.random(
        rate=0.2,
        seed=seed,
        kinds=("status", "reset", "truncate", "stall"),
        statuses=(500, 502, 503, 504, 429),
        retry_after="0",
        stall_seconds=30.0,
    )
    async with open_origin(content.root, faults=plan) as origin:
        url = origin.url(rel(content, content.manifest))
        code, events, err = await run_cli(
            options(url, tmp_path / "m.mp4", mux=False, timeout=0.5, retries=10)
        )
        log = list(origin.requests)
    assert code == 0, err
    check_outputs(content, events)
    faults = [r for r in log if r.fault]
    assert len(faults) >= 0.1 * len(log)
    ok = successful(log)
    # no completed segment was fetched twice
    assert len(ok) == len(set(ok)) == 1 + sum(len(r.files) for r in content.representations)


def progress(workdir: Path, stream: str, index: int) -> int:
    """How many bytes of a segment being written have reached the disk."""
    part = workdir / safe_name(stream) / f"{index:06d}.seg.part"
    if part.exists():
        return part.stat().st_size
    journal = workdir / "journal"
    data = workdir / f"{safe_name(stream)}.data"
    if not (journal.exists() and data.exists()):
        return 0
    for line in reversed(journal.read_bytes().splitlines()[1:]):
        with contextlib.suppress(ValueError):
            rec = json.loads(line)
            if rec.get("s") == stream and rec.get("i") == index and "w" in rec:
                # its place is the last in the file: the file ends where it got to
                return int(data.stat().st_size - rec["o"])
    return 0


def journal_paths(workdir: Path, content: DashContent) -> set[str]:
    """Origin paths of the segments the journal says are complete."""
    return {"/" + url.split("/", 3)[3] for url, _ in committed(workdir).values()}


@pytest.mark.trio
@pytest.mark.parametrize("after", [2, 9, 20])
async def test_kill_9_then_rerun_is_byte_identical_and_refetches_nothing_complete(
    dash_factory: Factory, tmp_path: Path, after: int
) -> None:
    content = dash_factory(duration=12.0)
    out = tmp_path / "m.mp4"
    async with open_origin(content.root, latency=0.05) as origin:
        url = origin.url(rel(content, content.manifest))
        args = [*TRIOSEG, "--headless", "--no-mux", "-N", "4", "-o", str(out), url]
        proc = await trio.lowlevel.open_process(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        with trio.fail_after(60):
            await wait_for_requests(origin, after)
        proc.kill()
        assert await proc.wait() == -signal.SIGKILL
        workdir = tmp_path / ".m.mp4.trioseg"
        complete = journal_paths(workdir, content)
        before = len(origin.requests)
        origin.latency = 0.0
        result = await trio.run_process(
            [*args[:-1], "--json", url], capture_stdout=True, capture_stderr=True, check=False
        )
        rerun = [r.path for r in origin.requests[before:]]
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.decode().splitlines()]
    check_outputs(content, events)
    assert not set(rerun) & complete
    assert len(rerun) == len(set(rerun))
    assert not workdir.exists()


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.trio
async def test_full_disk_fails_cleanly_and_a_rerun_completes(
    dash_factory: Factory, tmp_path: Path
) -> None:
    content = dash_factory(duration=6.0)
    out = tmp_path / "m.mp4"
    largest = max(p.stat().st_size for r in content.representations for p in r.files)
    async with open_origin(content.root) as origin:
        url = origin.url(rel(content, content.manifest))
        args = [*TRIOSEG, "--headless", "--json", "-o", str(out), url]

        def run_limited() -> subprocess.CompletedProcess[bytes]:
            # any one segment fits, a whole stream does not: the disk fills mid-download
            return subprocess.run(
                args, capture_output=True, timeout=120, preexec_fn=_limit_file_size(largest + 1)
            )

        first = await trio.to_thread.run_sync(run_limited)
        assert first.returncode == 1
        err = first.stderr.decode()
        assert "File too large" in err and "Traceback" not in err
        assert sum("File too large" in line for line in err.splitlines()) == 1
        finished = json.loads(first.stdout.decode().splitlines()[-1])
        assert finished["status"] == "failed"
        assert not out.exists()
        complete = journal_paths(tmp_path / ".m.mp4.trioseg", content)
        assert complete
        before = len(origin.requests)
        second = await trio.run_process(args, capture_stdout=True, capture_stderr=True)
        rerun = [r.path for r in origin.requests[before:]]
    assert second.returncode == 0
    # the re-run asks for the manifest and for what was not complete, nothing else
    assert rerun[0] == rel(content, content.manifest)
    assert not set(rerun) & complete
    everything = {rel(content, p) for r in content.representations for p in r.files}
    assert set(rerun[1:]) == everything - complete
    assert out.exists()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.mark.trio
@pytest.mark.parametrize("mode", ["default", "insecure", "ca-file"])
async def test_tls_is_verified_by_default(
    dash_factory: Factory,
    tmp_path: Path,
    ca: trustme.CA,
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ssl

    content = dash_factory()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    if mode == "ca-file":
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    async with open_origin(content.root, ssl_context=server) as origin:
        url = origin.url(rel(content, content.manifest))
        assert url.startswith("https://")
        opts = options(url, tmp_path / "m.mp4", retries=0, verify=mode != "insecure")
        code, events, err = await run_cli(opts)
    if mode == "default":
        assert code == 2
        assert "CERTIFICATE_VERIFY_FAILED" in events[-1]["error"]
    else:
        assert code == 0, err
        assert events[-1]["status"] == "complete"
    if mode == "insecure":
        assert "certificate verification is disabled" in err


@pytest.mark.trio
async def test_a_large_segment_resumes_mid_file_with_a_range_request(
    dash_factory: Factory, tmp_path: Path
) -> None:
    content = dash_factory(duration=8.0, segment_duration=4.0, video=((640, 360, 3_000_000),))
    video = content.by_kind("video")[0]
    target = video.segments[0]
    size = target.stat().st_size
    assert size > 256 * 1024
    plan = FaultPlan()
    plan.add(rel(content, target), Fault.truncated(after_bytes=size // 2))
    async with open_origin(content.root, faults=plan) as origin:
        url = origin.url(rel(content, content.manifest))
        code, events, err = await run_cli(options(url, tmp_path / "m.mp4", mux=False))
        log = [r for r in origin.requests if r.path == rel(content, target)]
    assert code == 0, err
    check_outputs(content, events)
    assert [(r.range, r.fault) for r in log] == [
        (None, "truncate"),
        (f"bytes={size // 2}-", None),
    ]
    assert log[1].bytes_sent == size - size // 2


@pytest.mark.trio
async def test_kill_9_mid_segment_resumes_from_the_bytes_on_disk(
    dash_factory: Factory, tmp_path: Path
) -> None:
    content = dash_factory(duration=8.0, segment_duration=4.0, video=((640, 360, 3_000_000),))
    video = content.by_kind("video")[0]
    target = video.segments[1]
    size = target.stat().st_size
    plan = FaultPlan()
    plan.add(rel(content, target), Fault.stalled(60.0, after_bytes=size // 3))
    out = tmp_path / "m.mp4"
    async with open_origin(content.root, faults=plan) as origin:
        url = origin.url(rel(content, content.manifest))
        args = [*TRIOSEG, "--headless", "--no-mux", "--json", "-o", str(out), url]
        proc = await trio.lowlevel.open_process(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        workdir = tmp_path / ".m.mp4.trioseg"
        with trio.fail_after(30):
            # the stalled body's prefix is on disk, vouched for by a progress line (or,
            # if its place was not known yet, in its own .part)
            while progress(workdir, video.id, 2) < size // 3:
                await trio.sleep(0.02)
        proc.kill()
        await proc.wait()
        before = len(origin.requests)
        result = await trio.run_process(args, capture_stdout=True, capture_stderr=True)
        log = [r for r in origin.requests[before:] if r.path == rel(content, target)]
    events = [json.loads(line) for line in result.stdout.decode().splitlines()]
    check_outputs(content, events)
    (request,) = log
    assert request.range is not None and request.range.startswith("bytes=")
    first = int(request.range.removeprefix("bytes=").rstrip("-"))
    # resumed from its .part, or from the last progress line before the stall
    assert 0 < first <= size // 3
    assert first > size // 3 - PROGRESS_EVERY - (256 << 10)
