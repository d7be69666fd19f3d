"""What the live tests share: a settable origin clock and a live presentation on it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from trioseg.liveorigin import LivePresentation
from trioseg.media import DashContent

URL = "http://live.test/manifest.mpd"
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.fixture(scope="module")
def content(dash_factory: Callable[..., DashContent]) -> DashContent:
    return dash_factory(duration=4.0, segment_duration=1.0, addressing="number")


class Clock:
    """The origin's wall clock, set by the test."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def make_live(content: DashContent, **kwargs: object) -> tuple[LivePresentation, Clock]:
    clock = Clock()
    live = LivePresentation(content, availability_start=T0, clock=clock, **kwargs)  # type: ignore[arg-type]
    return live, clock
