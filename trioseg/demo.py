"""``trioseg --demo``: a real download from a built-in origin, offline.

A short presentation (two video Representations, one audio) is encoded with PyAV into a
temporary folder, served by :class:`trioseg.origin.Origin` on 127.0.0.1 (random port),
and downloaded by the real engine, exactly as a remote one would be.
"""

from __future__ import annotations

import functools
import os
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

__all__ = ["DEMO_OUTPUT", "run_demo"]

DEMO_OUTPUT = Path("trioseg-demo.mp4")

Download = Callable[["Options"], Awaitable[int]]


async def run_demo(options: Options, download: Download, say: Callable[[str], None]) -> int:
    """Make the demo presentation, serve it, download it; returns the exit code.

    ``download`` runs the real download of the given options; ``say`` shows a line to
    the user.
    """
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
            say(f"demo: serving a DASH presentation at {url}")
            output = Path(os.path.abspath(options.output or DEMO_OUTPUT))
            code = await download(attrs.evolve(options, url=url, output=output))
    if code == 0:
        say(f"demo: done; play {output}")
    return code
