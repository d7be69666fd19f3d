"""Configuration: a TOML file and ``TRIOSEG_*`` environment variables.

Precedence: command line > environment > file > built-in defaults.

The file lives at ``$XDG_CONFIG_HOME/trioseg/config.toml`` (``~/.config/...`` when
``XDG_CONFIG_HOME`` is unset), or wherever ``--config PATH`` says; ``--ignore-config``
skips it.  Its keys are the long options without the leading dashes (``concurrency``,
``limit-rate``, ``user-agent``, ``no-mux``...; ``_`` may stand for ``-``); repeatable
options take a list (``header = ["Referer: https://example.com/"]``).  Per-host
sections tune one origin::

    concurrency = 32
    limit-rate = "5M"

    [hosts."cdn.example.com"]
    concurrency = 4                       # at most 4 connections to this host
    headers = { Referer = "https://example.com/" }

Environment variables are ``TRIOSEG_`` plus the option's name in capitals with ``_``
for ``-`` (``TRIOSEG_CONCURRENCY=8``, ``TRIOSEG_NO_MUX=1``, ``TRIOSEG_HEADER`` with one
header per line).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .errors import UsageError

__all__ = ["ConfigFile", "HostConfig", "default_config_path", "environment_values", "load_config"]

#: options that make no sense in a file or the environment
NOT_CONFIGURABLE = frozenset({"help", "version", "config", "ignore_config", "demo", "urls"})

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@attrs.frozen
class HostConfig:
    concurrency: int | None = None
    headers: Mapping[str, str] = attrs.Factory(dict)


@attrs.frozen
class ConfigFile:
    path: Path | None
    #: option dest -> raw value (str, bool, int, float or list of str)
    values: Mapping[str, Any] = attrs.Factory(dict)
    hosts: Mapping[str, HostConfig] = attrs.Factory(dict)


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "trioseg" / "config.toml"


def _dest(key: str) -> str:
    return key.strip().lstrip("-").replace("-", "_")


def _host_config(path: Path, host: str, table: object) -> HostConfig:
    where = f"config {path}: [hosts.{host!r}]"
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a table")
    unknown = set(table) - {"concurrency", "headers"}
    if unknown:
        raise UsageError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    concurrency = table.get("concurrency")
    if concurrency is not None and (
        not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1
    ):
        raise UsageError(f"{where}: concurrency must be a whole number of at least 1")
    headers = table.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise UsageError(f"{where}: headers must be a table of strings")
    return HostConfig(concurrency, dict(headers))


def load_config(path: Path, *, required: bool) -> ConfigFile:
    """Read the file; a missing file is fine unless it was named with ``--config``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise UsageError(f"config file not found: {path}") from None
        return ConfigFile(None)
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    hosts_table = data.pop("hosts", {})
    if not isinstance(hosts_table, dict):
        raise UsageError(f"config {path}: 'hosts' must be a table of host sections")
    hosts = {host.lower(): _host_config(path, host, t) for host, t in hosts_table.items()}
    return ConfigFile(path, {_dest(k): v for k, v in data.items()}, hosts)


def environment_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``TRIOSEG_*`` variables as option dests (``TRIOSEG_LIMIT_RATE`` -> ``limit_rate``)."""
    env = os.environ if environ is None else environ
    return {
        key[len("TRIOSEG_") :].lower(): value
        for key, value in env.items()
        if key.startswith("TRIOSEG_") and len(key) > len("TRIOSEG_")
    }


def parse_bool(text: str, where: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(f"{where}: expected true or false, got {text!r}")
