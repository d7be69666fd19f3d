"""Where trioseg's CPU goes on many small segments: py-spy samples, summarised.

    python tests/bench/profile.py [--segments 10000] [--rate 250] [-N 16] [--tmpfs]

Serves synthetic small segments at latency 0 (as ``run.py``'s ``small`` profile), runs
``python -m trioseg --headless --no-mux`` under ``py-spy record``, and prints the share
of CPU samples per area of the stack (each sample goes to the innermost frame that
matches an area), the heaviest leaf functions, and inclusive shares of key functions.
The raw collapsed stacks stay in the cache folder for flame graphs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from content import ContentCache
from run import DEFAULT_CACHE, TMPFS, TRIOSEG_ENV, Origins, use_trioseg_path

#: (area, pattern on "function (file:line)"), innermost match wins
AREAS: tuple[tuple[str, str], ...] = (
    ("startup: imports", r"<frozen importlib|_find_and_load"),
    ("manifest parse + plan", r"\btrioseg/(mpd|addressing|select|plan|formats|sidx)\.py"),
    ("h11: parse/serialize", r"\bh11/"),
    ("httpcore: pool", r"\bhttpcore/_async/connection_pool\.py"),
    ("httpcore: connection + HTTP/1.1", r"\bhttpcore/(_async/(http11|connection)|_models)\.py"),
    ("httpcore: trio backend", r"\bhttpcore/_backends/"),
    ("httpcore: locks/sync", r"\bhttpcore/_synchronization\.py"),
    ("httpx: client, models, transport", r"\bhttpx/"),
    ("store: create, write, rename, journal", r"\btrioseg/store\.py"),
    ("fetch.py (own code)", r"\btrioseg/fetch\.py"),
    ("engine + hosts", r"\btrioseg/(engine|hosts)\.py"),
    ("events, reducer, headless output", r"\btrioseg/(events|progress|headless)\.py"),
    ("cli", r"\btrioseg/cli\.py"),
    ("trio: sockets (send/recv syscalls)", r"\btrio/_socket\.py"),
    ("trio: scheduler, I/O wait, cancel scopes", r"\btrio/_core/"),
    ("trio: other", r"\btrio/"),
)

KEY_FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("Fetcher.fetch_to (whole request)", r"fetch_to \(.*trioseg/fetch\.py"),
    ("AsyncClient.send (request to response head)", r"\.send \(.*httpx/_client\.py"),
    ("ConnectionPool.handle_async_request", r"handle_async_request \(.*connection_pool\.py"),
    ("ConnectionPool._assign_requests_to_connections", r"_assign_requests_to_connections"),
    ("Response.aclose (release to the pool)", r"\.aclose \(.*(httpx/_models|connection_pool)\.py"),
    ("body reads (aiter_bytes, aiter_raw)", r"\.aiter_(bytes|raw) \("),
    ("h11 (all)", r"\bh11/"),
    ("trio socket calls (send/recv/wait)", r"\btrio/_socket\.py"),
    ("SegmentStore.open_segment (create, commit)", r"open_segment \(.*trioseg/store\.py"),
    ("Journal.record (journal line)", r"\.(record|_append) \(.*trioseg/store\.py"),
    ("SegmentSink.write (write + crc32)", r"SegmentSink\.write \("),
    ("SegmentStore.assemble (final concatenation)", r"\.assemble \(.*trioseg/store\.py"),
    ("Reporter (headless events)", r"Reporter\.\w+ \(.*trioseg/headless\.py"),
    ("Progress.apply (reducer)", r"\.apply \(.*trioseg/progress\.py"),
    ("emit + memory channel", r"emit \(.*trioseg/(cli|engine)\.py|send_nowait \("),
    ("Hosts (choose, get, limiter)", r"\btrioseg/hosts\.py"),
    ("trio: move_on_after / cancel scopes", r"move_on_after|CancelScope\.|CancelStatus\."),
    ("trio: scheduler (run loop, epoll)", r"unrolled_run|_io_epoll"),
    ("manifest parse + plan", r"\btrioseg/(mpd|addressing|select|plan|formats|sidx)\.py"),
    ("startup: imports", r"_find_and_load"),
)


def parse_raw(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def summarise(stacks: Counter[tuple[str, ...]]) -> list[str]:
    total = sum(stacks.values())
    if not total:
        return ["no samples"]
    areas: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    compiled = [(name, re.compile(p)) for name, p in AREAS]
    for stack, n in stacks.items():
        leaves[_short(stack[-1])] += n
        area = next(
            (name for frame in reversed(stack) for name, rx in compiled if rx.search(frame)),
            "other (stdlib, attrs, interpreter)",
        )
        areas[area] += n
    lines = [f"{total} samples (CPU only)", "", "by area (innermost matching frame):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in areas.most_common()]
    lines += ["", "inclusive, key functions:"]
    for name, pattern in KEY_FUNCTIONS:
        rx = re.compile(pattern)
        n = sum(c for stack, c in stacks.items() if any(rx.search(f) for f in stack))
        lines.append(f"  {n / total:6.1%}  {name}")
    lines += ["", "leaf functions (self time), top 30:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in leaves.most_common(30)]
    return lines


def _short(frame: str) -> str:
    match = re.match(r"(.*) \((.*):(\d+)\)$", frame)
    if not match:
        return frame
    func, file, _ = match.groups()
    for marker in ("site-packages/", "/trioseg/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{func} ({file})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("-N", "--concurrency", type=int, default=16)
    parser.add_argument("--tmpfs", action="store_true", help="write the download to tmpfs")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--trioseg-path", type=Path, default=None)
    parser.add_argument("--summarise", type=Path, metavar="RAW", help="only summarise RAW")
    args = parser.parse_args()
    if args.summarise is not None:
        print("\n".join(summarise(parse_raw(args.summarise))))
        return 0
    if shutil.which("py-spy") is None:
        print("py-spy is not installed (pip install py-spy)")
        return 1
    if args.trioseg_path is not None:
        use_trioseg_path(args.trioseg_path)
    cache = ContentCache(args.cache.resolve())
    presentation = cache.synthetic("small", args.segments)
    origins = Origins(cache.site)
    raw = cache.root / f"profile-small-{args.segments}.txt"
    out_root = TMPFS if args.tmpfs else cache.root
    try:
        url = origins.url(0.0)
        with tempfile.TemporaryDirectory(dir=out_root) as out:
            argv = [
                "py-spy",
                "record",
                "--rate",
                str(args.rate),
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(raw),
                "--",
                sys.executable,
                "-m",
                "trioseg",
                "--headless",
                "--no-mux",
                "--force",
                "-N",
                str(args.concurrency),
                "-o",
                str(Path(out) / "bench.mp4"),
                url + presentation.manifest,
            ]
            start = time.perf_counter()
            done = subprocess.run(argv, env=TRIOSEG_ENV, capture_output=True, text=True, cwd=out)
            wall = time.perf_counter() - start
            written = sum(p.stat().st_size for p in Path(out).glob("bench.*"))
    finally:
        origins.close()
    if done.returncode != 0 or written != presentation.total_bytes:
        print(f"trioseg did not complete (exit {done.returncode}, {written} bytes written)")
        print(done.stdout[-2000:], done.stderr[-2000:])
        return 1
    print(f"{presentation.requests:,} requests in {wall:.2f} s under py-spy; raw stacks: {raw}")
    print("\n".join(summarise(parse_raw(raw))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
