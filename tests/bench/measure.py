"""Running one child process and measuring it: wall time, CPU seconds, peak RSS.

CPU and peak RSS come from ``os.wait4`` on the child itself, so they cover exactly that
process (and any of its children it waited for), nothing else the harness runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import shutil
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

TAIL_BYTES = 4000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@attrs.frozen
class Sample:
    wall: float
    cpu: float
    rss_mb: float
    code: int
    tail: str
    timed_out: bool = False
    #: the UI had to be asked to quit after its output was complete
    quit_sent: bool = False


def process_cpu(pid: int) -> float:
    """User + system CPU seconds a running process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def run_measured(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout: float,
    env: dict[str, str] | None = None,
    log: Path,
) -> Sample:
    """Run ``argv`` with output to ``log``; kill its process group after ``timeout``."""
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timer = threading.Timer(timeout, _kill_group, (proc,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    proc.returncode = _exit_code(status)
    return Sample(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        rss_mb=usage.ru_maxrss / 1024,
        code=proc.returncode,
        tail=_tail(log.read_bytes()),
        timed_out=wall >= timeout,
    )


def _tail(data: bytes) -> str:
    return data[-TAIL_BYTES:].decode("utf-8", "replace")


def run_in_pty(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout: float,
    env: dict[str, str],
    finished: Callable[[], bool],
    size: tuple[int, int] = (40, 120),
    grace: float = 3.0,
) -> Sample:
    """Run ``argv`` on a pseudo-terminal (stdin, stdout and stderr), draining its output.

    If ``finished()`` turns true and the process is still running ``grace`` seconds later,
    ``q`` is typed; the wall time then stops at the moment ``finished()`` turned true.
    """
    master, slave = pty.openpty()
    rows, cols = size
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    received = bytearray()
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    done_at: list[float] = []
    quit_sent = threading.Event()
    exited = threading.Event()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            received.extend(chunk)
            if len(received) > 4 * TAIL_BYTES:
                del received[: -2 * TAIL_BYTES]

    def watch() -> None:
        while not exited.wait(0.01):
            if not done_at and finished():
                done_at.append(time.perf_counter())
            if done_at and time.perf_counter() - done_at[0] > grace and not quit_sent.is_set():
                quit_sent.set()
                try:
                    os.write(master, b"q")
                except OSError:
                    return

    reader = threading.Thread(target=drain, daemon=True)
    watcher = threading.Thread(target=watch, daemon=True)
    reader.start()
    watcher.start()
    timer = threading.Timer(timeout, _kill_group, (proc,))
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
        exited.set()
    end = time.perf_counter()
    watcher.join()
    reader.join(timeout=1.0)
    os.close(master)
    proc.returncode = _exit_code(status)
    wall = end - start
    if quit_sent.is_set() and done_at:
        wall = done_at[0] - start
    return Sample(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        rss_mb=usage.ru_maxrss / 1024,
        code=proc.returncode,
        tail=_tail(bytes(received)),
        timed_out=end - start >= timeout,
        quit_sent=quit_sent.is_set(),
    )


def version_of(argv: Sequence[str]) -> str | None:
    """The first line ``argv`` prints, or None when the program is missing or fails."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0].strip() if lines else None
