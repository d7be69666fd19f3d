"""Serve a folder with trioseg's test origin in its own process; print the base URL.

    python tests/bench/serve.py ROOT [--latency SECONDS]

Runs until SIGTERM or SIGINT, or until standard input closes.  Each line ``span`` read
from standard input is answered with ``span FIRST LAST COUNT``: over the requests since
the previous ``span``, when the first one arrived and when the last exchange ended
(seconds, one monotonic clock), and how many there were.
"""

from __future__ import annotations

import argparse
import functools
import logging
import signal
import sys
from pathlib import Path

import trio

from trioseg.origin import Origin


async def _answer_stdin(origin: Origin) -> None:
    """Answer ``span`` lines until standard input closes."""
    stream = trio.lowlevel.FdStream(sys.stdin.fileno())
    mark = 0
    pending = b""
    while data := await stream.receive_some(4096):
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip() != b"span":
                continue
            done = origin.requests[mark:]
            mark += len(done)
            first = min((r.started for r in done), default=0.0)
            last = max((r.ended for r in done), default=0.0)
            print(f"span {first:.6f} {last:.6f} {len(done)}", flush=True)


async def _wait_signal() -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            return


async def serve(root: Path, latency: float) -> None:
    origin = Origin(root, latency=latency)
    async with trio.open_nursery() as nursery:
        url = await nursery.start(origin.serve)
        print(url, flush=True)
        async with trio.open_nursery() as stop:
            for waiter in (functools.partial(_answer_stdin, origin), _wait_signal):

                async def run(waiter=waiter) -> None:  # type: ignore[no-untyped-def]
                    await waiter()
                    stop.cancel_scope.cancel()

                stop.start_soon(run)
        nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    trio.run(serve, args.root, args.latency)


if __name__ == "__main__":
    main()
