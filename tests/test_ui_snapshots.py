"""The UI's look, pinned at 80x24 and 120x40 (``pytest --snapshot-update`` to accept)."""

from __future__ import annotations

from typing import Any

import pytest
from make_screenshots import (
    BATCH_SCENARIOS,
    KEYS,
    SCENARIOS,
    app_for,
    batch_app_for,
    partial,
    settle,
    settle_batch,
)
from textual.pilot import Pilot

from trioseg.events import Event

pytest.importorskip("pytest_textual_snapshot")

CASES = {**SCENARIOS, "partial": partial}
SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


def check(snap_compare: Any, events: list[Event], size: tuple[int, int], **kwargs: Any) -> None:
    app = app_for(events)

    async def ready(pilot: Pilot[Any]) -> None:
        await settle(app, len(events))

    assert snap_compare(app, terminal_size=size, run_before=ready, **kwargs)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", CASES)
def test_screen(snap_compare: Any, name: str, size: str) -> None:
    check(snap_compare, CASES[name](), SIZES[size])


@pytest.mark.parametrize("size", SIZES)
def test_log_pane(snap_compare: Any, size: str) -> None:
    check(snap_compare, SCENARIOS["with-failures"](), SIZES[size], press=["l"])


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", BATCH_SCENARIOS)
def test_batch_screen(snap_compare: Any, name: str, size: str) -> None:
    scripts = BATCH_SCENARIOS[name]()
    app = batch_app_for(scripts)

    async def ready(pilot: Pilot[Any]) -> None:
        await settle_batch(app, scripts)
        await pilot.press(*KEYS.get(name, ()))
        await settle_batch(app, scripts)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=ready)
