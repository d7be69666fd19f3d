"""trioseg with its display, accounting for where the main thread's time goes.

    python tests/bench/ui_share.py RESULT.json TRIOSEG-ARGS...

Runs ``trioseg`` (in a terminal, with the full-screen display) and writes, for the
download itself (from the manifest's streams being known to the end of the job): the
seconds it took, the main thread's CPU seconds, those spent in trio's ticks (the
download, and the events folded for the screen) and the rest (the app: redraws, the
compositor, Textual's messages and timers), and the number of redraws.  The share of the
rest is the display's cost while downloading, measured in one process, so it is free of
the run-to-run noise that a comparison of two runs carries.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from trioseg import progress
from trioseg.events import Event
from trioseg.ui import guest


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    ticks = [0.0]
    draws = [0]
    marks: dict[str, tuple[float, float, float, int]] = {}

    run_ticks = guest.TickBatcher._run

    def counted_run(self: guest.TickBatcher, tick: Any) -> None:
        start = time.thread_time()
        try:
            run_ticks(self, tick)
        finally:
            ticks[0] += time.thread_time() - start

    draw = guest.GuestApp._draw

    def counted_draw(self: guest.GuestApp) -> None:
        draws[0] += 1
        draw(self)

    apply = progress.Progress.apply

    def marked_apply(self: progress.Progress, event: Event) -> None:
        name = type(event).__name__
        if name in ("JobStarted", "JobFinished") and name not in marks:
            marks[name] = (time.perf_counter(), time.thread_time(), ticks[0], draws[0])
        apply(self, event)

    guest.TickBatcher._run = counted_run  # type: ignore[method-assign]
    guest.GuestApp._draw = counted_draw  # type: ignore[method-assign]
    progress.Progress.apply = marked_apply  # type: ignore[method-assign]

    from trioseg.cli import main as trioseg_main

    try:
        trioseg_main(argv[1:])  # exits with trioseg's code
    finally:
        if "JobStarted" in marks and "JobFinished" in marks:
            (w0, c0, t0, d0), (w1, c1, t1, d1) = marks["JobStarted"], marks["JobFinished"]
            result = {
                "seconds": w1 - w0,
                "main_cpu": c1 - c0,
                "ticks_cpu": t1 - t0,
                "app_cpu": (c1 - c0) - (t1 - t0),
                "redraws": d1 - d0,
            }
            out.write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
