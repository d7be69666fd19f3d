"""Which output a real terminal gets: the full-screen UI, or plain lines.

Each test runs ``trioseg --demo`` (a real download from the built-in origin) as a child
process, on a pseudo-terminal or a pipe, and reads what it wrote.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

#: what Textual writes to enter the alternate screen
ALT_SCREEN = b"\x1b[?1049h"
TIMEOUT = 60.0


def run_on_pty(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, bytes]:
    """Run trioseg on an 80x24 pseudo-terminal; its exit code and everything it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "trioseg", "--ignore-config", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        out += _drain(master)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, bytes(out)


def _drain(master: int) -> bytes:
    """What is still buffered on the terminal once the child has exited."""
    out = bytearray()
    while select.select([master], [], [], 0)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


def env_with(term: str | None) -> dict[str, str]:
    """The environment, without what would choose the output for the test."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TERM", "NO_COLOR", "CI") and not k.startswith("TRIOSEG")
    }
    if term is not None:
        env["TERM"] = term
    return env


def test_a_capable_terminal_gets_the_full_screen_ui(tmp_path: Path) -> None:
    code, out = run_on_pty(["--demo"], env_with("xterm-256color"), tmp_path)
    assert code == 0, out[-2000:]
    assert ALT_SCREEN in out
    # the summary is printed again after the UI closes, so it stays readable
    tail = out[out.rindex(b"\x1b[?1049l") :]
    assert b"complete:" in tail
    assert (tmp_path / "trioseg-demo.mp4").stat().st_size > 0


@pytest.mark.parametrize(
    ("term", "extra"),
    [("dumb", []), ("", []), ("xterm-256color", ["--headless"])],
    ids=["TERM=dumb", "no TERM", "--headless"],
)
def test_plain_output_on_a_terminal(tmp_path: Path, term: str, extra: list[str]) -> None:
    code, out = run_on_pty(["--demo", *extra], env_with(term or None), tmp_path)
    assert code == 0, out[-2000:]
    assert ALT_SCREEN not in out
    assert b"complete:" in out


def test_plain_output_without_a_terminal(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "trioseg", "--ignore-config", "--demo"],
        env=env_with("xterm-256color"),
        cwd=tmp_path,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert ALT_SCREEN not in done.stdout + done.stderr
    assert b"complete:" in done.stderr
