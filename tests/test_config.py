"""Configuration file, environment and command line, and their precedence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from trioseg.cli import _options
from trioseg.config import default_config_path

URL = "http://example.test/m.mpd"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    import os

    for key in list(os.environ):
        if key.startswith("TRIOSEG_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path


def write_config(tmp_path: Path, text: str) -> Path:
    path = default_config_path({"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_precedence_command_line_over_environment_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _options([URL]).concurrency == 16
    write_config(tmp_path, "concurrency = 4\nretries = 2\n")
    assert (_options([URL]).concurrency, _options([URL]).retries) == (4, 2)
    monkeypatch.setenv("TRIOSEG_CONCURRENCY", "6")
    assert (_options([URL]).concurrency, _options([URL]).retries) == (6, 2)
    assert _options(["-N", "8", URL]).concurrency == 8
    assert _options(["--ignore-config", URL]).retries == 10


def test_file_keys_mirror_long_options(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
no-mux = true
limit_rate = "1M"
user-agent = "ua/2"
header = ["X-A: 1", "X-B: 2"]
timeout = 12
http2 = true
""",
    )
    opts = _options([URL])
    assert not opts.mux
    net = opts.net
    assert net.limit_rate == 1024**2
    assert net.user_agent == "ua/2"
    assert net.headers == (("X-A", "1"), ("X-B", "2"))
    assert net.timeout == 12.0 and net.http2


def test_per_host_sections(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
[hosts."cdn.example.com"]
concurrency = 3
headers = { Referer = "https://example.com/" }
""",
    )
    opts = _options([URL])
    assert opts.host_limits == {"cdn.example.com": 3}
    assert opts.net.host_headers == {"cdn.example.com": {"Referer": "https://example.com/"}}


def test_explicit_config_path_and_environment_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "other.toml"
    path.write_text("retries = 1\n")
    monkeypatch.setenv("TRIOSEG_HEADER", "X-One: 1\nX-Two: 2")
    opts = _options(["--config", str(path), URL])
    assert opts.retries == 1
    assert opts.net.headers == (("X-One", "1"), ("X-Two", "2"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "trioseg", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full,
    )


@pytest.mark.parametrize(
    ("config", "args", "env", "needle"),
    [
        ("speed = 3\n", (), {}, "unknown option 'speed'"),
        ("concurrency = 0\n", (), {}, "must be at least 1"),
        ("concurrency = [\n", (), {}, "is not valid TOML"),
        ('limit-rate = "fast"\n', (), {}, "malformed rate 'fast'"),
        ("", ("--limit-rate", "fast"), {}, "malformed rate 'fast'"),
        ("", ("-H", "NoColon"), {}, "malformed header 'NoColon'"),
        ("", (), {"TRIOSEG_NO_MUX": "maybe"}, "expected true or false"),
        ("", ("--config", "/nonexistent/c.toml"), {}, "config file not found"),
        ("", ("--cookies", "/nonexistent/cookies.txt"), {}, "cookies file not found"),
        ('[hosts."a"]\nspeed = 1\n', (), {}, "unknown key 'speed'"),
    ],
)
def test_bad_values_exit_2_with_one_line(
    tmp_path: Path, config: str, args: tuple[str, ...], env: dict[str, str], needle: str
) -> None:
    write_config(tmp_path, config)
    result = run(*args, URL, env={"XDG_CONFIG_HOME": str(tmp_path / "xdg"), **env})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert needle in result.stderr
