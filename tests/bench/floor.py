"""Reference clients: the least a Python download of the same URLs can cost here.

    python tests/bench/floor.py {h11,httpx} -N 16 -i URLS -d DIR

Fetches every URL of an aria2c input list (``URL`` lines, ``out=`` lines ignored) over
``N`` keep-alive connections and appends each body to one file per connection in ``DIR``:
no manifest, no journal, no retries, no progress, no checks.  Two stacks:

- ``h11``: trio sockets and h11, the parser httpcore itself uses; the floor for any
  Python client on trio.
- ``httpx``: httpx's ``AsyncClient`` under trio, one client of one connection per worker
  (as trioseg shards its pool) with one shared TLS context and httpcore's reads raised to
  1 MiB; the floor for a client that fetches with httpx, as trioseg does.

The benchmark runs them beside trioseg so that a target can be read against what the
language and the HTTP stack allow on this machine.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import h11
import httpcore
import httpx
import trio

READ = 1 << 20


def read_urls(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line[:1] not in ("", " ")]


async def h11_worker(urls: Iterator[str], out: Path) -> None:
    stream: trio.SocketStream | None = None
    conn = h11.Connection(h11.CLIENT)
    with open(out, "ab") as sink:  # noqa: ASYNC230 (page-cache writes, as trioseg)
        for url in urls:
            parts = urlsplit(url)
            if stream is None:
                stream = await trio.open_tcp_stream(parts.hostname or "", parts.port or 80)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            request = h11.Request(method="GET", target=target, headers=[("Host", parts.netloc)])
            await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(READ))
                elif isinstance(event, h11.Response) and event.status_code != 200:
                    raise SystemExit(f"{url}: HTTP {event.status_code}")
                elif isinstance(event, h11.Data):
                    sink.write(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
            conn.start_next_cycle()
    if stream is not None:
        await stream.aclose()


def httpx_workers() -> Callable[[Iterator[str], Path], Awaitable[None]]:
    # read up to 1 MiB per receive, as trioseg sets httpcore up (trioseg/fetch.py)
    httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = READ
    tls = httpx.create_ssl_context()

    async def worker(urls: Iterator[str], out: Path) -> None:
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(limits=one, verify=tls) as client:
            with open(out, "ab") as sink:  # noqa: ASYNC230 (page-cache writes, as trioseg)
                for url in urls:
                    async with client.stream("GET", url) as response:
                        response.raise_for_status()
                        async for chunk in response.aiter_raw():
                            sink.write(chunk)

    return worker


async def fetch_all(mode: str, urls: list[str], concurrency: int, out_dir: Path) -> None:
    worker = h11_worker if mode == "h11" else httpx_workers()
    shared = iter(urls)
    async with trio.open_nursery() as nursery:
        for n in range(concurrency):
            nursery.start_soon(worker, shared, out_dir / f"floor-{n:02d}.bin")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("h11", "httpx"))
    parser.add_argument("-N", type=int, default=16, dest="concurrency")
    parser.add_argument("-i", type=Path, required=True, dest="urls")
    parser.add_argument("-d", type=Path, required=True, dest="out_dir")
    args = parser.parse_args()
    trio.run(fetch_all, args.mode, read_urls(args.urls), args.concurrency, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
