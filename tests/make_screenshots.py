"""Regenerate ``screenshots/`` (SVG) from scripted events: ``python tests/make_screenshots.py``.

The same scenarios pin the layout in ``tests/test_ui_snapshots.py``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
from textual.app import App

from trioseg.events import (
    Event,
    JobFinished,
    JobStarted,
    MuxFinished,
    MuxStarted,
    Notice,
    SegmentDone,
    SegmentFailed,
    SegmentRetry,
    SegmentStarted,
    StreamFinished,
    StreamInfo,
)
from trioseg.ui import BatchApp, TriosegApp, replay, replay_batch
from trioseg.ui.widgets import LogPane

ROOT = Path(__file__).resolve().parent.parent
BASE = "https://media.example.com/show/"
T0 = 100.0

VIDEO = StreamInfo("v720", "video", "1280x720 avc1.64001f 2.50 Mb/s", 151, None)
AUDIO = StreamInfo("a-en", "audio", "en mp4a.40.2 128 kb/s", 151, None)
STREAMS = (VIDEO, AUDIO)
SIZES = {"v720": 625_000, "a-en": 32_000}


def _url(stream: StreamInfo, index: int) -> str:
    if index == 0:
        return f"{BASE}{stream.id}/init.mp4"
    return f"{BASE}{stream.id}/seg-{index:05d}.m4s"


def _start(concurrency: int = 8) -> JobStarted:
    return JobStarted(BASE + "manifest.mpd", "Big Buck Bunny", STREAMS, concurrency, at=T0)


def _download(stream: StreamInfo, done: int, in_flight: int, *, rate: float) -> list[Event]:
    """``done`` segments fetched at ``rate`` per second, then ``in_flight`` started."""
    events: list[Event] = []
    for index in range(done):
        at = T0 + (index + 1) / rate
        events.append(SegmentStarted(stream.id, index, 1, at=at - 0.5))
        events.append(SegmentDone(stream.id, index, SIZES[stream.id], at=at))
    last = T0 + done / rate
    for index in range(done, done + in_flight):
        events.append(SegmentStarted(stream.id, index, 1, at=last))
    return events


def mid_download() -> list[Event]:
    return [
        _start(),
        *_download(VIDEO, 64, 5, rate=4.0),
        *_download(AUDIO, 80, 3, rate=5.0),
    ]


def _failures() -> list[Event]:
    now = T0 + 16.0
    return [
        SegmentRetry("v720", 66, _url(VIDEO, 66), 1, "HTTP 503", 1.0, at=now - 1),
        SegmentStarted("v720", 66, 2, at=now),
        SegmentRetry("v720", 67, _url(VIDEO, 67), 1, "connection reset", 0.5, at=now - 2),
        SegmentStarted("v720", 67, 2, at=now - 1.5),
        SegmentRetry("v720", 67, _url(VIDEO, 67), 2, "connection reset", 1.1, at=now - 0.5),
        SegmentStarted("v720", 40, 1, at=T0 + 9),
        SegmentFailed("v720", 40, _url(VIDEO, 40), "HTTP 404", 1, at=T0 + 9.5),
        SegmentStarted("v720", 41, 1, at=T0 + 9),
        SegmentFailed("v720", 41, _url(VIDEO, 41), "HTTP 404", 1, at=T0 + 9.6),
        SegmentStarted("a-en", 12, 1, at=T0 + 2),
        SegmentFailed("a-en", 12, _url(AUDIO, 12), "timed out: no bytes for 30 s", 11, at=T0 + 14),
        Notice("v720: BaseURL https://cdn-a.example.com/ failed, using the next one", at=now),
    ]


def with_failures() -> list[Event]:
    skip = {("v720", 40), ("v720", 41), ("a-en", 12)}
    base = [
        e
        for e in mid_download()
        if not (isinstance(e, SegmentDone) and (e.stream, e.index) in skip)
    ]
    return base + _failures()


def finished() -> list[Event]:
    end = T0 + 38.0
    output = "/home/user/videos/Big Buck Bunny.mp4"
    return [
        _start(),
        *_download(VIDEO, 151, 0, rate=4.0),
        *_download(AUDIO, 151, 0, rate=4.5),
        SegmentRetry("v720", 66, _url(VIDEO, 66), 1, "HTTP 503", 1.0, at=T0 + 16),
        MuxStarted(output, at=end - 0.2),
        MuxFinished(output, 596.5, at=end - 0.1),
        StreamFinished("v720", output, at=end),
        StreamFinished("a-en", output, at=end),
        JobFinished("complete", (output,), at=end),
    ]


def partial() -> list[Event]:
    end = T0 + 40.0
    done = [
        e
        for e in finished()
        if isinstance(e, (JobStarted, SegmentStarted, SegmentDone))
        and not (isinstance(e, SegmentDone) and (e.stream, e.index) in {("v720", 40), ("a-en", 12)})
    ]
    return [
        *done,
        SegmentFailed("v720", 40, _url(VIDEO, 40), "HTTP 404", 1, at=T0 + 9.5),
        SegmentFailed("a-en", 12, _url(AUDIO, 12), "HTTP 410", 1, at=T0 + 3),
        JobFinished(
            "partial",
            (),
            "2 segment(s) failed; re-run the same command to retry them",
            at=end,
        ),
    ]


SCENARIOS: dict[str, Callable[[], list[Event]]] = {
    "mid-download": mid_download,
    "with-failures": with_failures,
    "finished": finished,
}


def app_for(events: list[Event]) -> TriosegApp:
    """An app replaying ``events`` and staying on screen."""
    done = any(isinstance(e, JobFinished) for e in events)
    return TriosegApp(replay(events, code=0 if done else None), auto_exit=None)


async def settle(app: TriosegApp, events: int, timeout: float = 10.0) -> None:
    """Wait until the app has folded and drawn ``events`` events."""
    deadline = asyncio.get_running_loop().time() + timeout
    while app.bridge.events < events or app.bridge.pending or not logs_settled(app):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{app.bridge.events} of {events} events drawn")
        await asyncio.sleep(0.01)


def logs_settled(app: App[Any]) -> bool:
    """Every shown log pane has written its lines and scrolled to its end (the scroll
    happens after a refresh: a screenshot taken before it would show older lines)."""
    return all(
        not log.display or (not log.backlog and log.is_vertical_scroll_end)
        for log in app.query(LogPane)
    )


def shifted(events: list[Event], by: float) -> list[Event]:
    """``events`` happening ``by`` seconds later."""
    return [attrs.evolve(e, at=e.at + by) for e in events]


def retitled(events: list[Event], url: str, title: str | None) -> list[Event]:
    """``events`` with the job's manifest URL and title replaced."""
    return [
        attrs.evolve(e, manifest_url=url, title=title) if isinstance(e, JobStarted) else e
        for e in events
    ]


BATCH_LABELS = (
    BASE + "manifest.mpd",
    "https://cdn.example.org/films/sintel/dash/stream.mpd",
    "https://media.example.com/archive/2019/missing.mpd",
    "https://video.example.net/tears-of-steel/manifest.mpd",
)


def batch_mid_download() -> list[list[Event]]:
    """Four jobs: one complete, one downloading with failures, one failed, one waiting."""
    return [
        shifted(finished(), -30.0),
        retitled(with_failures(), BATCH_LABELS[1], "Sintel"),
        [JobFinished("failed", (), f"HTTP 404 Not Found for {BATCH_LABELS[2]}", at=T0 - 29.0)],
        [],
    ]


BATCH_SCENARIOS: dict[str, Callable[[], list[list[Event]]]] = {"batch": batch_mid_download}


def batch_app_for(scripts: Sequence[list[Event]], labels: Sequence[str] = BATCH_LABELS) -> BatchApp:
    """A batch app replaying ``scripts`` (a job ends when its script does) and staying."""
    codes = [
        next((0 if e.status == "complete" else 1 for e in s if isinstance(e, JobFinished)), None)
        for s in scripts
    ]
    return BatchApp(replay_batch(scripts, codes), labels[: len(scripts)], auto_exit=None)


async def settle_batch(
    app: BatchApp, scripts: Sequence[list[Event]], timeout: float = 10.0
) -> None:
    """Wait until the app has folded and drawn every job's events."""
    deadline = asyncio.get_running_loop().time() + timeout
    counts = [len(s) for s in scripts]
    while (
        len(app.controls) < len(counts)
        or any(b.events < n or b.pending for b, n in zip(app.bridges, counts, strict=True))
        or not logs_settled(app)
    ):
        if asyncio.get_running_loop().time() > deadline:
            got = [b.events for b in app.bridges]
            raise TimeoutError(f"{got} of {counts} events drawn")
        await asyncio.sleep(0.01)


#: keys pressed before a screenshot is taken
KEYS: dict[str, tuple[str, ...]] = {"with-failures": ("l",), "batch": ("j",)}


async def screenshot(events: list[Event], size: tuple[int, int], keys: tuple[str, ...] = ()) -> str:
    app = app_for(events)
    async with app.run_test(size=size) as pilot:
        await settle(app, len(events))
        await pilot.press(*keys)
        await pilot.pause()
        return app.export_screenshot(title="trioseg")


async def batch_screenshot(
    scripts: list[list[Event]], size: tuple[int, int], keys: tuple[str, ...] = ()
) -> str:
    app = batch_app_for(scripts)
    async with app.run_test(size=size) as pilot:
        await settle_batch(app, scripts)
        await pilot.press(*keys)
        await pilot.pause()
        await settle_batch(app, scripts)
        return app.export_screenshot(title="trioseg")


def main(argv: list[str]) -> int:
    out = ROOT / "screenshots"
    out.mkdir(exist_ok=True)
    size = (100, 30)
    for name, make in SCENARIOS.items():
        svg = asyncio.run(screenshot(make(), size, KEYS.get(name, ())))
        path = out / f"{name}.svg"
        path.write_text(svg, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    for name, scripts in BATCH_SCENARIOS.items():
        svg = asyncio.run(batch_screenshot(scripts(), size, KEYS.get(name, ())))
        path = out / f"{name}.svg"
        path.write_text(svg, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
