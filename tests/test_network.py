"""Network options: headers, cookies, rate limit, proxy, HTTP/2."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trustme
from conftest import rel
from test_download import options, run_cli

from trioseg.engine import JobConfig, run_job
from trioseg.events import Event, SegmentDone
from trioseg.fetch import NetworkOptions, open_fetcher
from trioseg.media import DashContent
from trioseg.origin import open_origin
from trioseg.plan import Plan, SegmentRef, StreamPlan
from trioseg.ratelimit import TokenBucket, parse_rate

Factory = Callable[..., DashContent]


@pytest.mark.trio
async def test_headers_user_agent_and_cookies_reach_manifest_and_segments(
    dash_factory: Factory, tmp_path: Path
) -> None:
    content = dash_factory()
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(
        "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc123\n"
    )
    net = NetworkOptions(
        timeout=5.0,
        headers=(("X-Team", "trioseg"), ("Referer", "https://example.com/")),
        user_agent="tester/1.0",
        cookies=cookies,
    )
    async with open_origin(content.root) as origin:
        url = origin.url(rel(content, content.manifest))
        code, _, err = await run_cli(options(url, tmp_path / "m.mp4", network=net))
        log = list(origin.requests)
    assert code == 0, err
    assert len(log) == 1 + sum(len(r.files) for r in content.representations)
    for record in log:
        assert record.header("x-team") == "trioseg"
        assert record.header("referer") == "https://example.com/"
        assert record.header("user-agent") == "tester/1.0"
        assert record.header("cookie") == "session=abc123"


@pytest.mark.trio
async def test_per_host_headers_apply_only_to_that_host(
    dash_factory: Factory, tmp_path: Path
) -> None:
    content = dash_factory()
    net = NetworkOptions(timeout=5.0, host_headers={"127.0.0.1": {"Authorization": "Bearer t"}})
    async with open_origin(content.root) as origin:
        url = origin.url(rel(content, content.manifest))
        code, _, err = await run_cli(options(url, tmp_path / "m.mp4", network=net))
        assert code == 0, err
        assert all(r.header("authorization") == "Bearer t" for r in origin.requests)
    net = NetworkOptions(timeout=5.0, host_headers={"example.com": {"Authorization": "x"}})
    async with open_origin(content.root) as origin:
        url = origin.url(rel(content, content.manifest))
        code, _, err = await run_cli(options(url, tmp_path / "n.mp4", network=net))
        assert code == 0, err
        assert not any(r.header("authorization") for r in origin.requests)


@pytest.mark.parametrize(
    ("text", "rate"),
    [("500000", 500000.0), ("500K", 512000.0), ("2.5M", 2.5 * 1024**2), ("1MiB", 1024.0**2)],
)
def test_parse_rate(text: str, rate: float) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "fast", "-1K", "0", "5X"])
def test_parse_rate_rejects(text: str) -> None:
    with pytest.raises(Exception, match="malformed rate"):
        parse_rate(text)


@pytest.mark.trio
async def test_limit_rate_bounds_the_whole_run_in_virtual_time(
    tmp_path: Path, autojump_clock: object
) -> None:
    body = bytes(100 * 1024)

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    stream = StreamPlan(
        id="v",
        kind="video",
        init=None,
        segments=tuple(SegmentRef((f"http://o.test/{i}",)) for i in range(20)),
    )
    plan = Plan("http://o.test/m.mpd", (stream,))
    rate = 200 * 1024.0
    net = NetworkOptions(timeout=60.0, limit_rate=rate)
    events: list[Event] = []
    config = JobConfig(output=tmp_path / "o.mp4", concurrency=8, mux=False)
    start = trio.current_time()
    async with open_fetcher(
        concurrency=8, network=net, transport=httpx.MockTransport(handler)
    ) as fetcher:
        outcome = await run_job(plan, config, fetcher, events.append)
    assert outcome.status == "complete"
    last = max(e.at for e in events if isinstance(e, SegmentDone)) - start
    burst = TokenBucket.per_second(rate).burst
    # 2,000 KiB at 200 KiB/s, less the initial burst
    assert last == pytest.approx((20 * len(body) - burst) / rate, abs=0.01)


async def _relay(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        with trio.CancelScope(shield=True):
            await sink.aclose()


class ForwardProxy:
    """A minimal HTTP forward proxy: connects to the absolute-form target's host and
    relays the connection both ways."""

    def __init__(self) -> None:
        self.targets: list[str] = []

    async def handle(self, client: trio.SocketStream) -> None:
        head = b""
        while b"\r\n" not in head:
            data = await client.receive_some(65536)
            if not data:
                return
            head += data
        target = head.split(b" ", 2)[1].decode()
        self.targets.append(target)
        hostport = httpx.URL(target)
        upstream = await trio.open_tcp_stream(hostport.host, hostport.port or 80)
        await upstream.send_all(head)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_relay, client, upstream)
            nursery.start_soon(_relay, upstream, client)


@pytest.mark.trio
async def test_downloads_through_a_forward_proxy(dash_factory: Factory, tmp_path: Path) -> None:
    content = dash_factory()
    proxy = ForwardProxy()
    async with open_origin(content.root) as origin, trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, proxy.handle, 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        url = origin.url(rel(content, content.manifest))
        net = NetworkOptions(timeout=5.0, proxy=f"http://127.0.0.1:{port}")
        code, _, err = await run_cli(options(url, tmp_path / "m.mp4", network=net))
        nursery.cancel_scope.cancel()
    assert code == 0, err
    assert proxy.targets[0] == url
    # every request the origin saw came through the proxy, in absolute form
    assert all(r.target.startswith("http://127.0.0.1:") for r in origin.requests)


def _files_app(root: Path, seen: list[str]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        seen.append(scope["http_version"])
        path = (root / scope["path"].lstrip("/")).resolve()
        if not path.is_file() or root not in path.parents:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body = path.read_bytes()
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.mark.trio
async def test_http2_against_a_local_h2_origin(
    dash_factory: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve

    content = dash_factory()
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.certfile, config.keyfile = str(cert_file), str(key_file)
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = config.errorlog = None
    seen: list[str] = []
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            functools.partial(serve, _files_app(content.root.resolve(), seen), config)
        )
        base = binds[0].replace("http://", "https://").rstrip("/")
        url = base + rel(content, content.manifest)
        net = NetworkOptions(timeout=5.0, http2=True)
        code, events, err = await run_cli(options(url, tmp_path / "m.mp4", network=net))
        nursery.cancel_scope.cancel()
    assert code == 0, err
    assert events[-1]["status"] == "complete"
    assert seen and set(seen) == {"2"}
    assert ssl.HAS_ALPN
