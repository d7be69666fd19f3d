"""``trioseg --demo``: a real download from a built-in origin, offline.

A short presentation (two video Representations, one audio) is encoded with PyAV into a
temporary folder, served by :class:`trioseg.origin.Origin` on 127.0.0.1 (random port),
and downloaded by the real engine, exactly as a remote one would be.
"""

from __future__ import annotations

import functools
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import trio

from .media import make_dash
from .origin import open_origin

if TYPE_CHECKING:
    from .cli import Options
    from .headless import Reporter

__all__ = ["DEMO_OUTPUT", "run_demo"]

DEMO_OUTPUT = Path("trioseg-demo.mp4")

Download = Callable[["Options", "Reporter"], Awaitable[int]]


async def run_demo(options: Options, reporter: Reporter, download: Download) -> int:
    """Make the demo presentation, serve it, download it; returns the exit code."""
    with tempfile.TemporaryDirectory(prefix="trioseg-demo-") as tmp:
        make = functools.partial(
            make_dash,
            Path(tmp) / "site",
            duration=12.0,
            segment_duration=2.0,
            addressing="timeline-time",
            video=((640, 360, 900_000), (320, 180, 300_000)),
        )
        content = await trio.to_thread.run_sync(make)
        async with open_origin(content.root) as origin:
            url = origin.url(content.manifest.relative_to(content.root).as_posix())
            print(f"demo: serving a DASH presentation at {url}", file=sys.stderr)
            demo_options = attrs.evolve(options, url=url, output=options.output or DEMO_OUTPUT)
            code = await download(demo_options, reporter)
    outputs = reporter.progress.outputs
    if code == 0 and outputs:
        shown = ", ".join(str(Path(p).resolve()) for p in outputs)
        print(f"demo: done; play {shown}", file=sys.stderr)
    return code
