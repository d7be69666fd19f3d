from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from trioseg.media import DashContent, make_dash
from trioseg.origin import Origin


@pytest.fixture(scope="session")
def dash_factory(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Generated presentations, made once per session per set of arguments."""
    cache: dict[tuple[object, ...], DashContent] = {}

    def make(**kwargs: object) -> DashContent:
        key = tuple(sorted(kwargs.items()))
        if key not in cache:
            out = tmp_path_factory.mktemp("dash") / "site"
            cache[key] = make_dash(out, **kwargs)  # type: ignore[arg-type]
        return cache[key]

    return make


def rel(content: DashContent, path: Path) -> str:
    return "/" + path.relative_to(content.root).as_posix()


def committed(workdir: Path) -> dict[tuple[str, int], tuple[str, bytes]]:
    """What a work folder's journal says is complete: (stream, index) → (URL, bytes),
    the bytes read from where the journal says they are (data file or ``.seg``)."""
    from trioseg.store import Journal, safe_name

    path = workdir / "journal"
    if not path.exists():
        return {}
    header = json.loads(path.read_bytes().splitlines()[0])
    journal = Journal.open(path, header["fingerprint"])
    journal.close()
    found: dict[tuple[str, int], tuple[str, bytes]] = {}
    for (stream, index), entry in journal.entries.items():
        if entry.offset is None:
            data = (workdir / safe_name(stream) / f"{index:06d}.seg").read_bytes()
        else:
            with open(workdir / f"{safe_name(stream)}.data", "rb") as f:
                f.seek(entry.offset)
                data = f.read(entry.size)
        found[stream, index] = (entry.url, data)
    return found


async def wait_for_requests(origin: Origin, count: int) -> None:
    """Until the origin has answered ``count`` requests completely."""
    while sum(r.completed for r in origin.requests) < count:
        await trio.sleep(0.01)
