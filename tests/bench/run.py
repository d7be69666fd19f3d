"""trioseg benchmarks: trioseg beside aria2c and yt-dlp on the same content, same run.

    python tests/bench/run.py                 # every profile, 3 rounds, writes RESULTS.md
    python tests/bench/run.py --quick         # small smoke run
    python tests/bench/run.py --profiles small,large --rounds 5

Content is generated once into ``tests/bench/.cache`` and served by trioseg's test origin
(``trioseg.origin.Origin``) in a separate process, with injected per-request latency.
Each tool runs as a child process; wall time is measured around it and CPU seconds and peak
RSS come from ``os.wait4``.  Peers that are not installed are skipped.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import attrs
from content import ContentCache, Presentation
from measure import Sample, process_cpu, run_in_pty, run_measured, version_of

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE / ".cache"
RESULTS = HERE / "RESULTS.md"
TMPFS = Path("/dev/shm")
MAX_RUN_SECONDS = 300.0
PEER_CONCURRENCY = 16
MB = 1_000_000

#: the options yt-dlp passes to aria2c (yt_dlp/downloader/external.py, Aria2cFD), minus
#: cookies and headers; ``-j``/``-x`` follow the profile's concurrency
ARIA2C_FLAGS = (
    "--no-conf",
    "--auto-save-interval=10",
    "--console-log-level=warn",
    "--summary-interval=0",
    "--download-result=hide",
    "--http-accept-gzip=true",
    "--file-allocation=none",
    "-s16",
    "--min-split-size=1M",
    "--show-console-readout=false",
    "--allow-overwrite=true",
    "--always-resume=false",
    "--auto-file-renaming=false",
    "--force-save=false",
)

TRIOSEG = "trioseg"
TRIOSEG_TUI = "trioseg (TUI)"
TRIOSEG_MUX = "trioseg (mux)"
ARIA2C = "aria2c"
YTDLP = "yt-dlp"
#: reference clients (``floor.py``): the least a Python download of the URLs costs
FLOOR_H11 = "floor: h11 on trio"
FLOOR_HTTPX = "floor: httpx on trio"
FLOORS = (FLOOR_H11, FLOOR_HTTPX)
FLOOR = HERE / "floor.py"
UI_SHARE = HERE / "ui_share.py"


# -- the plan ---------------------------------------------------------------------------------


@attrs.frozen
class Case:
    """One content + latency + output location, run by several tools."""

    profile: str
    title: str
    presentation: Presentation
    latency: float
    tools: tuple[str, ...]
    out_root: Path
    #: ``-N``/``-j`` for every tool; None runs trioseg with its defaults (peers get 16)
    concurrency: int | None = PEER_CONCURRENCY
    #: rounds this case runs at least, whatever ``--rounds`` says
    min_rounds: int = 1

    def tool_concurrency(self, tool: str) -> int:
        if self.concurrency is not None:
            return self.concurrency
        return trioseg_default_concurrency() if tool.startswith(TRIOSEG) else PEER_CONCURRENCY


@attrs.frozen
class Sizes:
    small: int
    large: int
    scale: tuple[int, ...]
    tui: int


# the TUI profile is long enough that starting the display (importing Textual, about
# 0.4 s) does not dominate: the target is about throughput while downloading
FULL = Sizes(small=1200, large=60, scale=(100, 1000, 10_000, 20_000), tui=10_000)
QUICK = Sizes(small=200, large=4, scale=(100, 1000), tui=500)
PROFILES = ("small", "small-tmpfs", "small-50ms", "large", "scale", "tui", "real")
TUI_ROUNDS = 30


#: the environment of every process that imports trioseg (see ``--trioseg-path``)
TRIOSEG_ENV: dict[str, str] = dict(os.environ)
_DEFAULT_CONCURRENCY: list[int] = []


def use_trioseg_path(path: Path) -> None:
    """Run trioseg (and the origin) from the package folder under ``path``."""
    TRIOSEG_ENV["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(path.resolve()), os.environ.get("PYTHONPATH")])
    )


def trioseg_default_concurrency() -> int:
    """``-N``'s default of the trioseg under test."""
    if not _DEFAULT_CONCURRENCY:
        code = (
            "from trioseg.cli import build_parser; print(build_parser().get_default('concurrency'))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=TRIOSEG_ENV,
            capture_output=True,
            text=True,
            check=True,
        )
        _DEFAULT_CONCURRENCY.append(int(out.stdout))
    return _DEFAULT_CONCURRENCY[0]


def trioseg_source() -> str:
    """Where the trioseg under test comes from: its folder and git state."""
    code = "import trioseg, pathlib; print(pathlib.Path(trioseg.__file__).parent.parent)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=TRIOSEG_ENV,
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    root = out.stdout.strip()
    git = subprocess.run(
        ["git", "-C", root, "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return f"{root} ({git.stdout.strip()})" if git.returncode == 0 else root


def build_cases(
    profiles: Sequence[str], sizes: Sizes, cache: ContentCache, disk: Path, tmpfs: Path | None
) -> list[Case]:
    peers = (TRIOSEG, ARIA2C, YTDLP)
    cases: list[Case] = []
    for profile in profiles:
        if profile == "small":
            p = cache.synthetic("small", sizes.small)
            cases.append(Case(profile, f"{_n(sizes.small)} × 10–30 KB, 0 ms", p, 0.0, peers, disk))
        elif profile == "small-tmpfs":
            if tmpfs is None:
                print(f"skip {profile}: no writable tmpfs at {TMPFS}")
                continue
            p = cache.synthetic("small", sizes.small)
            title = f"{_n(sizes.small)} × 10–30 KB, 0 ms, output on tmpfs"
            cases.append(Case(profile, title, p, 0.0, (*peers, *FLOORS), tmpfs))
        elif profile == "small-50ms":
            p = cache.synthetic("small", sizes.small)
            title = f"{_n(sizes.small)} × 10–30 KB, 50 ms, trioseg defaults"
            cases.append(Case(profile, title, p, 0.05, (*peers, *FLOORS), disk, concurrency=None))
        elif profile == "large":
            p = cache.synthetic("large", sizes.large)
            cases.append(Case(profile, f"{_n(sizes.large)} × 5–10 MB, 0 ms", p, 0.0, peers, disk))
        elif profile == "scale":
            for count in sizes.scale:
                p = cache.synthetic("small", count)
                title = f"{_n(count)} × 10–30 KB, 0 ms"
                cases.append(Case(profile, title, p, 0.0, (TRIOSEG,), disk))
        elif profile == "tui":
            p = cache.synthetic("small", sizes.tui)
            title = f"{_n(sizes.tui)} × 10–30 KB, 0 ms, TUI vs headless"
            # the UI's cost is a few percent, about the machine's noise from run to run:
            # a full run takes the median of more rounds here
            rounds = TUI_ROUNDS if sizes == FULL else 1
            cases.append(
                Case(profile, title, p, 0.0, (TRIOSEG, TRIOSEG_TUI), disk, min_rounds=rounds)
            )
        elif profile == "real":
            p = cache.real()
            title = "real 60 s 640x360 H.264 + AAC (PyAV), 1 s segments, 0 ms"
            tools = (TRIOSEG_MUX, TRIOSEG, ARIA2C, YTDLP)
            cases.append(Case(profile, title, p, 0.0, tools, disk))
        else:
            raise SystemExit(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    return cases


def paired_ratios(base: Row, other: Row) -> list[float]:
    """``other``'s speed over ``base``'s, round by round (rounds where both ran well)."""
    a, b = base.transfers(), other.transfers()
    return [a[n] / b[n] for n in sorted(a.keys() & b.keys()) if b[n] > 0]


def median_interval(values: list[float], level: float = 0.9) -> tuple[float, float]:
    """A ``level`` confidence interval for the median of ``values`` (percentile bootstrap,
    2,000 resamples, a fixed seed so that one results file always says the same)."""
    rng = random.Random(0)
    n = len(values)
    medians = sorted(statistics.median(rng.choices(values, k=n)) for _ in range(2000))
    tail = (1.0 - level) / 2
    return medians[int(tail * len(medians))], medians[int((1.0 - tail) * len(medians)) - 1]


def _n(count: int) -> str:
    return f"{count:,}"


# -- tools ------------------------------------------------------------------------------------


@attrs.frozen
class Toolbox:
    """What is installed: a command prefix per peer, or the reason it is skipped."""

    aria2c: list[str] | None
    ytdlp: list[str] | None
    ffmpeg: bool
    tui: str | None

    @classmethod
    def detect(cls) -> Toolbox:
        aria2c = shutil.which("aria2c")
        ytdlp: list[str] | None = None
        if exe := shutil.which("yt-dlp"):
            ytdlp = [exe]
        elif importlib.util.find_spec("yt_dlp") is not None:
            ytdlp = [sys.executable, "-m", "yt_dlp"]
        code = "import importlib.util as u; print(u.find_spec('trioseg.ui') is not None)"
        found = subprocess.run(
            [sys.executable, "-c", code], env=TRIOSEG_ENV, cwd="/", capture_output=True, text=True
        )
        tui_missing = None if found.stdout.strip() == "True" else "no trioseg.ui"
        return cls(
            [aria2c] if aria2c else None, ytdlp, shutil.which("ffmpeg") is not None, tui_missing
        )

    def missing(self, tool: str, case: Case) -> str | None:
        if tool == ARIA2C and self.aria2c is None:
            return "aria2c not installed"
        if tool == YTDLP:
            if self.ytdlp is None:
                return "yt-dlp not installed"
            if case.presentation.real and not self.ffmpeg:
                return "yt-dlp needs ffmpeg to merge video and audio"
        if tool == TRIOSEG_TUI and self.tui is not None:
            return self.tui
        return None


def tui_env() -> dict[str, str]:
    """trioseg's environment on the benchmark's terminal (120 x 40, colours)."""
    env = {**TRIOSEG_ENV, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    env.pop("NO_COLOR", None)
    return env


def trioseg_output(out_dir: Path) -> Path:
    return out_dir / "bench.mp4"


def command(
    tool: str, case: Case, tools: Toolbox, url: str, out_dir: Path, urls: Path
) -> list[str]:
    c = case.tool_concurrency(tool)
    manifest = url + case.presentation.manifest
    if tool.startswith(TRIOSEG):
        argv = [sys.executable, "-m", "trioseg", "--force", "-o", str(trioseg_output(out_dir))]
        if tool != TRIOSEG_TUI:
            argv.append("--headless")
        if tool != TRIOSEG_MUX:
            argv.append("--no-mux")
        if case.concurrency is not None:
            argv += ["-N", str(c)]
        return [*argv, manifest]
    if tool == ARIA2C:
        assert tools.aria2c is not None
        return [
            *tools.aria2c,
            *ARIA2C_FLAGS,
            f"-j{c}",
            f"-x{c}",
            "-i",
            str(urls),
            "-d",
            str(out_dir),
        ]
    if tool in FLOORS:
        mode = "h11" if tool == FLOOR_H11 else "httpx"
        return [sys.executable, str(FLOOR), mode, "-N", str(c), "-i", str(urls), "-d", str(out_dir)]
    if tool == YTDLP:
        assert tools.ytdlp is not None
        fmt = "bv+ba" if case.presentation.real else "bv"
        return [
            *tools.ytdlp,
            "--ignore-config",
            "--no-cache-dir",
            "--no-progress",
            "--fixup",
            "never",
            "--allow-unplayable-formats",
            "-N",
            str(c),
            "-f",
            fmt,
            "-o",
            str(out_dir / "out.%(ext)s"),
            manifest,
        ]
    raise ValueError(tool)


def write_url_list(case: Case, url: str, path: Path) -> None:
    with open(path, "w") as f:
        for index, name in enumerate(case.presentation.files):
            f.write(f"{url}{name}\n  out={index:06d}-{Path(name).name}\n")


def verify(tool: str, case: Case, out_dir: Path) -> str | None:
    """Why the output of a finished run is wrong, or None when it is complete."""
    files = [p for p in out_dir.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    expected = case.presentation.total_bytes
    if tool == TRIOSEG_MUX:
        out = trioseg_output(out_dir)
        return None if out.is_file() and out.stat().st_size > 0 else f"no {out.name}"
    if tool == ARIA2C:
        parts = [p for p in files if not p.name.endswith(".aria2")]
        if len(parts) != case.presentation.requests:
            return f"{len(parts)} files, expected {case.presentation.requests}"
    if tool == YTDLP and case.presentation.real:
        return None if total > 0 else "no output"
    if total != expected:
        return f"{total} bytes written, expected {expected}"
    return None


# -- the origin -------------------------------------------------------------------------------


class Origins:
    """One origin process per latency, all serving the same folder."""

    def __init__(self, site: Path) -> None:
        self.site = site
        self.procs: dict[float, subprocess.Popen[str]] = {}
        self.urls: dict[float, str] = {}

    def url(self, latency: float) -> str:
        if latency not in self.urls:
            proc = subprocess.Popen(
                [sys.executable, str(HERE / "serve.py"), str(self.site), "--latency", str(latency)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=TRIOSEG_ENV,
            )
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if not line.startswith("http://"):
                proc.kill()
                raise SystemExit(f"the origin did not start (latency {latency})")
            self.procs[latency] = proc
            self.urls[latency] = line
        return self.urls[latency]

    def cpu(self, latency: float) -> float:
        return process_cpu(self.procs[latency].pid)

    def span(self, latency: float) -> float | None:
        """Seconds from the first request since the last call to the end of the last
        exchange, as the origin saw them (None when there was none)."""
        proc = self.procs[latency]
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("span\n")
        proc.stdin.flush()
        _, first, last, count = proc.stdout.readline().split()
        return float(last) - float(first) if int(count) else None

    def close(self) -> None:
        for proc in self.procs.values():
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- running ----------------------------------------------------------------------------------


@attrs.frozen
class Run:
    sample: Sample
    origin_cpu: float
    error: str | None
    #: the transfer as the origin saw it: first request to the end of the last response
    transfer: float | None = None
    #: the round it belongs to (tools take turns within a round)
    round: int = 0


@attrs.define
class Row:
    case: Case
    tool: str
    runs: list[Run] = attrs.Factory(list)
    skipped: str | None = None
    #: for the TUI: where its main thread's time went in one accounted run (ui_share.py)
    ui_share: dict[str, float] | None = None

    @property
    def good(self) -> list[Run]:
        return [r for r in self.runs if r.error is None]

    def median(self, get: Callable[[Run], float]) -> float | None:
        good = self.good
        return statistics.median(get(r) for r in good) if good else None

    @property
    def wall(self) -> float | None:
        return self.median(lambda r: r.sample.wall)

    @property
    def cpu(self) -> float | None:
        return self.median(lambda r: r.sample.cpu)

    @property
    def rss(self) -> float | None:
        return max((r.sample.rss_mb for r in self.good), default=None)

    @property
    def origin_cpu(self) -> float | None:
        return self.median(lambda r: r.origin_cpu)

    @property
    def transfer(self) -> float | None:
        good = [r.transfer for r in self.good if r.transfer is not None]
        return statistics.median(good) if good else None

    def transfers(self) -> dict[int, float]:
        """The transfer time of each good run, by round."""
        return {r.round: r.transfer for r in self.good if r.transfer is not None}

    def transfer_rate(self) -> float | None:
        transfer = self.transfer
        return self.case.presentation.requests / transfer if transfer else None

    def seg_rate(self) -> float | None:
        wall = self.wall
        return self.case.presentation.requests / wall if wall else None

    def mb_rate(self) -> float | None:
        wall = self.wall
        return self.case.presentation.total_bytes / MB / wall if wall else None

    def bound(self) -> float | None:
        if self.case.latency <= 0:
            return None
        c = self.case.tool_concurrency(self.tool)
        return math.ceil(self.case.presentation.requests / c) * self.case.latency


class Bench:
    def __init__(
        self,
        cases: list[Case],
        tools: Toolbox,
        origins: Origins,
        rounds: int,
        deadline: float,
        workdir: Path,
    ) -> None:
        self.cases = cases
        self.tools = tools
        self.origins = origins
        self.rounds = rounds
        self.deadline = deadline
        self.workdir = workdir
        self.rows: list[Row] = []

    def run(self) -> None:
        for case in self.cases:
            rows = [Row(case, tool, skipped=self.tools.missing(tool, case)) for tool in case.tools]
            self.rows += rows
            active = [row for row in rows if row.skipped is None]
            if not active:
                continue
            print(f"\n== {case.profile}: {case.title}", flush=True)
            url = self.origins.url(case.latency)
            _warm(self.origins.site, case.presentation)
            case_dir = Path(tempfile.mkdtemp(prefix=f"bench-{case.profile}-", dir=case.out_root))
            try:
                urls = case_dir / "urls.txt"
                write_url_list(case, url, urls)
                for round_ in range(1, max(self.rounds, case.min_rounds) + 1):
                    # the order turns round each round (A B, B A, ...): a tool is not
                    # always the one that runs after another, on a machine that drifts
                    for row in active if round_ % 2 else active[::-1]:
                        if time.monotonic() > self.deadline:
                            row.skipped = row.skipped or "time budget spent"
                            continue
                        self.run_one(row, round_, url, urls, case_dir)
                for row in active:
                    if row.tool == TRIOSEG_TUI and time.monotonic() < self.deadline:
                        row.ui_share = self.account_ui(row, url, urls, case_dir)
            finally:
                shutil.rmtree(case_dir, ignore_errors=True)

    def account_ui(self, row: Row, url: str, urls: Path, case_dir: Path) -> dict[str, float] | None:
        """One more TUI run, under ``ui_share.py``: where the main thread's time went."""
        out_dir = case_dir / "ui-share"
        out_dir.mkdir()
        result = case_dir / "ui-share.json"
        argv = command(row.tool, row.case, self.tools, url, out_dir, urls)
        assert argv[1:3] == ["-m", "trioseg"], argv
        argv = [argv[0], str(UI_SHARE), str(result), *argv[3:]]  # instead of -m trioseg
        output = out_dir / "bench.video-v.mp4"
        run_in_pty(
            argv, cwd=out_dir, timeout=MAX_RUN_SECONDS, env=tui_env(), finished=output.exists
        )
        shutil.rmtree(out_dir, ignore_errors=True)
        if not result.exists():
            return None
        share: dict[str, float] = json.loads(result.read_text())
        print(
            f"  accounted TUI run: the app took {share['app_cpu']:.3f} of "
            f"{share['main_cpu']:.3f} CPU s while downloading, {share['redraws']:.0f} redraws",
            flush=True,
        )
        return share

    def run_one(self, row: Row, round_: int, url: str, urls: Path, case_dir: Path) -> None:
        case = row.case
        out_dir = case_dir / f"{_slug(row.tool)}-{round_}"
        out_dir.mkdir()
        argv = command(row.tool, case, self.tools, url, out_dir, urls)
        timeout = max(10.0, min(MAX_RUN_SECONDS, self.deadline - time.monotonic() + 30))
        log = self.workdir / f"{case.profile}-{_slug(case.title)}-{_slug(row.tool)}-{round_}.log"
        before = self.origins.cpu(case.latency)
        self.origins.span(case.latency)  # forget the requests of earlier runs
        if row.tool == TRIOSEG_TUI:
            output = out_dir / "bench.video-v.mp4"
            sample = run_in_pty(
                argv,
                cwd=out_dir,
                timeout=timeout,
                env=tui_env(),
                finished=lambda: output.exists(),
            )
            log.write_text(sample.tail)
        else:
            tool_env = TRIOSEG_ENV if row.tool.startswith(TRIOSEG) else None
            sample = run_measured(argv, cwd=out_dir, timeout=timeout, env=tool_env, log=log)
        origin_cpu = self.origins.cpu(case.latency) - before
        transfer = self.origins.span(case.latency)
        error = None
        if sample.timed_out:
            error = f"timed out after {sample.wall:.0f} s"
        elif sample.code != 0 and not sample.quit_sent:
            error = f"exit {sample.code}"
        else:
            error = verify(row.tool, case, out_dir)
        row.runs.append(Run(sample, origin_cpu, error, transfer, round_))
        shutil.rmtree(out_dir, ignore_errors=True)
        os.sync()
        status = "ok" if error is None else f"FAILED: {error} (log: {log})"
        extra = " (q typed)" if sample.quit_sent else ""
        print(
            f"  round {round_} {row.tool:<14} {sample.wall:7.2f} s wall {sample.cpu:6.2f} s cpu "
            f"{sample.rss_mb:6.1f} MB rss  origin {origin_cpu:5.2f} s cpu  "
            f"transfer {_fmt(transfer)} s  {status}{extra}",
            flush=True,
        )
        if error is not None:
            print("    " + sample.tail.strip().replace("\n", "\n    ")[-1500:], flush=True)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower()


def _warm(site: Path, presentation: Presentation) -> None:
    for name in (presentation.manifest, *presentation.files):
        with open(site / name, "rb") as f:
            while f.read(1 << 20):
                pass


# -- the report -------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| tool | wall s (min–max) | transfer s | CPU s | CPU ms/seg | CPU s/GB | origin CPU s "
        "| peak RSS MB | seg/s | MB/s | × bound | speed vs aria2c | ok |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    aria = next((r for r in rows if r.tool == ARIA2C and r.wall), None)
    for row in rows:
        if row.skipped and not row.runs:
            lines.append(f"| {row.tool} | skipped: {row.skipped} ||||||||||||")
            continue
        p = row.case.presentation
        wall, cpu = row.wall, row.cpu
        walls = [r.sample.wall for r in row.good]
        spread = f" ({min(walls):.2f}–{max(walls):.2f})" if len(walls) > 1 else ""
        bound = row.bound()
        lines.append(
            "| "
            + " | ".join(
                [
                    row.tool,
                    (_fmt(wall) + spread) if wall else "–",
                    _fmt(row.transfer),
                    _fmt(cpu),
                    _fmt(cpu * 1000 / p.requests if cpu else None, 3),
                    _fmt(cpu / (p.total_bytes / 1e9) if cpu else None, 1),
                    _fmt(row.origin_cpu),
                    _fmt(row.rss, 1),
                    _fmt(row.seg_rate(), 0),
                    _fmt(row.mb_rate(), 1),
                    f"{wall / bound:.3f} (bound {bound:.2f} s)" if wall and bound else "–",
                    _fmt(aria.wall / wall, 2) if aria and aria.wall and wall else "–",
                    f"{len(row.good)}/{len(row.runs)}"
                    + (f" ({row.skipped})" if row.skipped else ""),
                ]
            )
            + " |"
        )
    return lines


@attrs.frozen
class Check:
    name: str
    verdict: str
    detail: str

    def line(self) -> str:
        return f"{self.verdict}  {self.name}: {self.detail}"


def _find(rows: list[Row], profile: str, tool: str) -> Row | None:
    for row in rows:
        if row.case.profile == profile and row.tool == tool and row.wall is not None:
            return row
    return None


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def floor_notes(rows: list[Row]) -> list[Check]:
    """Where the reference clients land on the targets trioseg is held to."""
    out: list[Check] = []
    for tool in FLOORS:
        f, a = _find(rows, "small-tmpfs", tool), _find(rows, "small-tmpfs", ARIA2C)
        if f and a and (fr := f.seg_rate()) and (ar := a.seg_rate()):
            name = f"small-tmpfs: {tool} (no manifest, no journal) seg/s vs aria2c -j16"
            out.append(Check(name, "INFO", f"{fr:,.0f} vs {ar:,.0f} ({fr / ar:.2f}×)"))
        f = _find(rows, "small-50ms", tool)
        if f and f.wall and (bound := f.bound()):
            name = f"50 ms: {tool} wall vs bound"
            out.append(Check(name, "INFO", f"{f.wall / bound:.3f} × {bound:.2f} s"))
    return out


def checks(rows: list[Row]) -> list[Check]:
    out: list[Check] = []

    def skip(name: str, why: str) -> None:
        out.append(Check(name, "SKIP", why))

    name = "50 ms: trioseg (defaults) wall ≤ aria2c -j16 wall"
    t, a = _find(rows, "small-50ms", TRIOSEG), _find(rows, "small-50ms", ARIA2C)
    if t and a and t.wall and a.wall:
        out.append(Check(name, _verdict(t.wall <= a.wall), f"{t.wall:.2f} s vs {a.wall:.2f} s"))
    else:
        skip(name, "profile small-50ms or aria2c not run")
    name = "50 ms: trioseg wall ≤ 1.10 × bound at its own concurrency"
    if t and t.wall and (bound := t.bound()):
        ratio = t.wall / bound
        out.append(Check(name, _verdict(ratio <= 1.10), f"{ratio:.3f} × {bound:.2f} s"))
    else:
        skip(name, "profile small-50ms not run")
    for profile in ("small", "small-tmpfs"):
        t = _find(rows, profile, TRIOSEG)
        y, a = _find(rows, profile, YTDLP), _find(rows, profile, ARIA2C)
        name = f"{profile}: trioseg -N16 seg/s ≥ 4 × yt-dlp -N16"
        if t and y and (tr := t.seg_rate()) and (yr := y.seg_rate()):
            out.append(
                Check(name, _verdict(tr >= 4 * yr), f"{tr:,.0f} vs {yr:,.0f} ({tr / yr:.2f}×)")
            )
        else:
            skip(name, f"profile {profile} or yt-dlp not run")
        name = f"{profile}: trioseg -N16 seg/s ≥ 0.5 × aria2c -j16"
        if t and a and (tr := t.seg_rate()) and (ar := a.seg_rate()):
            out.append(
                Check(name, _verdict(tr >= 0.5 * ar), f"{tr:,.0f} vs {ar:,.0f} ({tr / ar:.2f}×)")
            )
        else:
            skip(name, f"profile {profile} or aria2c not run")
    out += floor_notes(rows)
    name = "large: trioseg MB/s ≥ 0.8 × aria2c"
    t, a = _find(rows, "large", TRIOSEG), _find(rows, "large", ARIA2C)
    if t and a and (tm := t.mb_rate()) and (am := a.mb_rate()):
        out.append(
            Check(name, _verdict(tm >= 0.8 * am), f"{tm:,.1f} vs {am:,.1f} ({tm / am:.2f}×)")
        )
    else:
        skip(name, "profile large or aria2c not run")
    if t and t.cpu:
        gb = t.case.presentation.total_bytes / 1e9
        out.append(Check("large: trioseg CPU s per GB", "INFO", f"{t.cpu / gb:.2f} s/GB"))
    headless = [r for r in rows if r.tool in (TRIOSEG, TRIOSEG_MUX) and r.rss is not None]
    name = "peak RSS < 150 MB headless, every profile"
    if headless:
        worst = max(headless, key=lambda r: r.rss or 0.0)
        detail = f"max {worst.rss:.1f} MB ({worst.case.profile}: {worst.case.title})"
        out.append(Check(name, _verdict((worst.rss or 0) < 150), detail))
    else:
        skip(name, "no trioseg run")
    ui = _find(rows, "tui", TRIOSEG_TUI)
    hl = _find(rows, "tui", TRIOSEG)
    tui_rows = [r for r in rows if r.tool == TRIOSEG_TUI]
    tui_why = "TUI profile not run"
    if tui_rows and tui_rows[0].runs:
        tui_why = "every TUI run failed (see the logs)"
    elif tui_rows and tui_rows[0].skipped:
        tui_why = f"TUI skipped: {tui_rows[0].skipped}"
    name = "peak RSS < 200 MB with the UI"
    if ui and ui.rss:
        out.append(Check(name, _verdict(ui.rss < 200), f"{ui.rss:.1f} MB"))
    else:
        skip(name, tui_why)
    name = "UI download throughput ≥ 95% of headless (transfer time at the origin)"
    if ui and hl and (ratios := paired_ratios(hl, ui)):
        # the two take turns within each round, so each round's ratio shares the
        # machine's state of the moment: the median of those ratios is the measure
        ratio = statistics.median(ratios)
        low, high = median_interval(ratios)
        detail = (
            f"median of {len(ratios)} rounds {ratio:.1%} (90% interval of the median "
            f"{low:.1%}–{high:.1%}; rounds {min(ratios):.1%}–{max(ratios):.1%})"
        )
        if (ur := ui.transfer_rate()) and (hr := hl.transfer_rate()):
            detail += f"; medians {ur:,.0f} vs {hr:,.0f} seg/s ({ur / hr:.1%})"
        if (uw := ui.seg_rate()) and (hw := hl.seg_rate()):
            detail += f"; by wall time, start-up and close included: {uw / hw:.1%}"
        out.append(Check(name, _verdict(ratio >= 0.95), detail))
    else:
        skip(name, tui_why)
    if ui and (share := ui.ui_share) and share["main_cpu"] > 0:
        per = share["app_cpu"] / share["redraws"] * 1000 if share["redraws"] else 0.0
        out.append(
            Check(
                "UI: the app's share of the main thread's CPU while downloading (one run)",
                "INFO",
                f"{share['app_cpu'] / share['main_cpu']:.1%} ({share['redraws']:.0f} redraws "
                f"in {share['seconds']:.1f} s, {per:.1f} ms of CPU each)",
            )
        )
    scale = sorted(
        (r for r in rows if r.case.profile == "scale" and r.wall),
        key=lambda r: r.case.presentation.requests,
    )
    name = "scaling: time per segment flat (largest ≤ 1.15 × the best from 1,000 up)"
    per_seg = [
        ((r.wall or 0.0) * 1000 / r.case.presentation.requests, r.case.presentation.requests)
        for r in scale
        if r.case.presentation.requests >= 1000
    ]
    if len(per_seg) >= 2:
        best = min(per_seg)
        last = per_seg[-1]
        detail = ", ".join(f"{ms:.3f} ms/seg at {n:,}" for ms, n in per_seg)
        out.append(Check(name, _verdict(last[0] <= 1.15 * best[0]), detail))
    else:
        skip(name, "scale profile not run with ≥ 2 sizes from 1,000 up")
    return out


def machine() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB"
    ]


def versions(tools: Toolbox) -> str:
    parts = [f"Python {platform.python_version()}"]
    for dist in ("trioseg", "trio", "httpx", "httpcore", "h11", "textual"):
        with suppress(importlib.metadata.PackageNotFoundError):
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
    if tools.aria2c:
        parts.append(version_of([*tools.aria2c, "--version"]) or "aria2c ?")
    if tools.ytdlp:
        parts.append(f"yt-dlp {version_of([*tools.ytdlp, '--version']) or '?'}")
    return ", ".join(parts)


def _fs(path: Path) -> str:
    try:
        best = ""
        kind = "?"
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            mount = fields[1]
            if str(path).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fields[2]
        return kind
    except OSError:
        return "?"


def report(
    rows: list[Row],
    cases: list[Case],
    tools: Toolbox,
    rounds: int,
    startup: float | None,
    disk: Path,
    load: str,
) -> str:
    lines = [
        "# trioseg benchmarks",
        "",
        f"Generated by `nox -s bench` (`python tests/bench/run.py`) on "
        f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}.",
        "",
        f"- Machine: {machine()[0]}",
        f"- Versions: {versions(tools)}",
        f"- trioseg under test: {trioseg_source()}",
        f"- Load average (1 min): {load}; other work on the machine adds noise.",
        f"- Rounds: {rounds} per tool, interleaved (the order turns round every round); the "
        "medians are shown (RSS: the maximum).",
        *(
            [
                f"- The TUI profile runs at least {TUI_ROUNDS} rounds: its difference is about "
                "the machine's noise from run to run, so the check takes the median of the "
                "rounds' own TUI/headless ratios (the two run back to back in each round) "
                "and gives a 90% interval for that median (bootstrap)."
            ]
            if any(c.min_rounds > rounds for c in cases)
            else []
        ),
        "- Origin: `trioseg.origin.Origin` (trio + h11) in its own process on 127.0.0.1, "
        "latency injected per request before the response head; `origin CPU s` is what it "
        "spent serving the run.",
        f"- Output on {disk} ({_fs(disk)}) unless the profile says tmpfs; trioseg runs "
        "`--headless --no-mux` unless marked.",
        f"- aria2c: `aria2c {' '.join(ARIA2C_FLAGS)} -jN -xN -i URLS -d DIR` "
        "(yt-dlp's options for aria2c) over the init + segment URLs: it writes one file "
        "per segment and fetches no manifest.",
        "- yt-dlp: `yt-dlp -N 16 --allow-unplayable-formats -f bv --fixup never` "
        "(generic DASH extractor, native fragment downloader).",
        "- seg/s counts the init segment; `× bound` is wall ÷ ceil(requests ÷ concurrency) × "
        "latency; `speed vs aria2c` is aria2c's wall ÷ the tool's.",
        "- `transfer s` is the download as the origin saw it: from the first request to the "
        "end of the last response (no start-up, no exit, no display linger).",
    ]
    if startup is not None:
        lines.append(f"- `python -m trioseg --version` takes {startup:.2f} s (in every wall time).")
    lines.append(
        "- Not measured: N_m3u8DL-RE (no package in PyPI or Debian)."
        if shutil.which("N_m3u8DL-RE") is None
        else "- N_m3u8DL-RE is installed but has no runner here."
    )
    for case in cases:
        case_rows = [r for r in rows if r.case is case]
        if not case_rows:
            continue
        p = case.presentation
        lines += [
            "",
            f"## {case.profile}: {case.title}",
            "",
            f"{p.requests:,} requests, {p.total_bytes / MB:,.1f} MB.",
            "",
            *table(case_rows),
        ]
    lines += ["", "## Targets (issue 9)", "", "```", *(c.line() for c in checks(rows)), "```", ""]
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------


def _tmpfs_dir() -> Path | None:
    if TMPFS.is_dir() and os.access(TMPFS, os.W_OK):
        return TMPFS
    return None


def _startup_time() -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "trioseg", "--version"],
            capture_output=True,
            check=True,
            env=TRIOSEG_ENV,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@contextmanager
def _workdir(cache: Path) -> Iterator[Path]:
    logs = cache / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    yield logs


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="trioseg benchmarks beside aria2c and yt-dlp")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per tool (default 3)")
    parser.add_argument(
        "--profiles",
        default=",".join(PROFILES),
        help=f"comma-separated, from: {', '.join(PROFILES)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="small content, 1 round: a smoke run")
    parser.add_argument(
        "--budget",
        type=float,
        default=1200.0,
        help="seconds; runs not started by then are skipped (default 1200)",
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="content cache folder")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="where downloads are written (default: the cache folder's disk)",
    )
    parser.add_argument(
        "--trioseg-path",
        type=Path,
        default=None,
        help="run the trioseg package found in this folder (e.g. a `git archive` of another "
        "commit) instead of the installed one; with an editable install, subpackages missing "
        "there still come from the installed tree",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="markdown results (default: tests/bench/RESULTS.md for a full run, "
        "else the cache folder)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    deadline = started + args.budget
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    rounds = args.rounds or (1 if args.quick else 3)
    sizes = QUICK if args.quick else FULL
    full = not args.quick and set(profiles) == set(PROFILES)
    output = args.output or (RESULTS if full else args.cache / "RESULTS-partial.md")
    if args.trioseg_path is not None:
        use_trioseg_path(args.trioseg_path)
    cache = ContentCache(args.cache.resolve())
    disk = (args.out_dir or args.cache / "out").resolve()
    disk.mkdir(parents=True, exist_ok=True)
    tools = Toolbox.detect()
    print(f"trioseg bench: {versions(tools)}")
    print(f"trioseg under test: {trioseg_source()}")
    print(f"profiles {', '.join(profiles)}; {rounds} round(s); budget {args.budget:.0f} s")
    gen = time.monotonic()
    cases = build_cases(profiles, sizes, cache, disk, _tmpfs_dir())
    print(f"content ready in {time.monotonic() - gen:.1f} s under {cache.site}")
    load_start = os.getloadavg()[0]
    startup = _startup_time()
    with ExitStack() as stack:
        origins = Origins(cache.site)
        stack.callback(origins.close)
        logs = stack.enter_context(_workdir(cache.root))
        bench = Bench(cases, tools, origins, rounds, deadline, logs)
        bench.run()
    load = f"{load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    text = report(bench.rows, cases, tools, rounds, startup, disk, load)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print()
    print(text)
    print(f"written to {output} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
