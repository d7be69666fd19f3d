from __future__ import annotations

from pathlib import Path

import pytest

from trioseg.media import DashContent, make_dash


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
