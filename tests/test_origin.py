"""The test origin: files, ranges, keep-alive, latency, scripted faults, shutdown."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import attrs
import httpx
import pytest
import trio

from trioseg.origin import Fault, FaultPlan, Origin, RequestInfo, RequestRecord, open_origin

BIG_SIZE = 300_000
HUGE_SIZE = 8 * 1024 * 1024


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "video").mkdir(parents=True)
    (root / "manifest.mpd").write_bytes(b"<MPD/>\n")
    (root / "video" / "init.mp4").write_bytes(b"\x00\x00\x00\x18ftypiso6")
    (root / "video" / "big.m4s").write_bytes(os.urandom(BIG_SIZE))
    (root / "small.m4s").write_bytes(bytes(range(100)))
    (root / "empty.m4s").write_bytes(b"")
    (tmp_path / "secret.txt").write_bytes(b"do not serve")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture
def big(root: Path) -> bytes:
    return (root / "video" / "big.m4s").read_bytes()


def client(origin: Origin, **kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=origin.base_url, **kwargs)  # type: ignore[arg-type]


def port_of(origin: Origin) -> int:
    return int(origin.base_url.rsplit(":", 1)[1].rstrip("/"))


async def raw_request(origin: Origin, head: bytes) -> bytes:
    """Send ``head`` as is on a new connection; return everything until the server closes."""
    received = bytearray()
    with trio.fail_after(5):
        stream = await trio.open_tcp_stream("127.0.0.1", port_of(origin))
        async with stream:
            await stream.send_all(head)
            while chunk := await stream.receive_some():
                received += chunk
    return bytes(received)


async def raw_status(origin: Origin, target: str, method: str = "GET") -> int:
    head = f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    answer = await raw_request(origin, head)
    return int(answer.split(b" ", 2)[1])


async def wait_for(predicate: Callable[[], bool]) -> None:
    for _ in range(200):
        if predicate():
            return
        await trio.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.fixture
async def origin(root: Path) -> AsyncIterator[Origin]:
    async with open_origin(root) as origin:
        yield origin


def test_base_url_needs_start(root: Path) -> None:
    with pytest.raises(RuntimeError):
        _ = Origin(root).base_url


@pytest.mark.trio
async def test_serve_reports_base_url(root: Path) -> None:
    origin = Origin(root)
    async with trio.open_nursery() as nursery:
        base_url = await nursery.start(origin.serve)
        assert base_url == origin.base_url
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/")
        assert port_of(origin) > 0
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_get_files_with_types_and_lengths(origin: Origin, big: bytes) -> None:
    async with client(origin) as http:
        mpd = await http.get("/manifest.mpd")
        seg = await http.get("/video/big.m4s")
        init = await http.get("/video/init.mp4")
    assert mpd.status_code == 200
    assert mpd.content == b"<MPD/>\n"
    assert mpd.headers["content-type"] == "application/dash+xml"
    assert seg.status_code == 200
    assert seg.headers["content-type"] == "video/mp4"
    assert seg.headers["content-length"] == str(BIG_SIZE)
    assert seg.headers["accept-ranges"] == "bytes"
    assert seg.content == big
    assert init.headers["content-type"] == "video/mp4"


@pytest.mark.trio
async def test_large_file_streams_in_chunks(tmp_path: Path) -> None:
    data = os.urandom(HUGE_SIZE)
    (tmp_path / "huge.m4s").write_bytes(data)
    async with open_origin(tmp_path) as origin, client(origin) as http:
        response = await http.get("/huge.m4s")
    assert response.content == data
    assert origin.requests[-1].bytes_sent == HUGE_SIZE


@pytest.mark.trio
async def test_query_string_ignored(origin: Origin) -> None:
    async with client(origin) as http:
        response = await http.get("/small.m4s", params={"token": "abc", "n": "1"})
    assert response.status_code == 200
    assert response.content == bytes(range(100))
    assert origin.requests[-1].path == "/small.m4s"
    assert origin.count("/small.m4s") == 1
    assert origin.count("small.m4s?token=x") == 1


@pytest.mark.trio
async def test_head(origin: Origin) -> None:
    async with client(origin) as http:
        response = await http.head("/video/big.m4s")
        ranged = await http.head("/video/big.m4s", headers={"Range": "bytes=0-9"})
    assert response.status_code == 200
    assert response.headers["content-length"] == str(BIG_SIZE)
    assert response.content == b""
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes 0-9/{BIG_SIZE}"
    assert [r.bytes_sent for r in origin.requests] == [0, 0]
    assert [r.method for r in origin.requests] == ["HEAD", "HEAD"]


@pytest.mark.trio
@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("bytes=10-19", 10, 19),
        ("bytes=0-0", 0, 0),
        ("bytes=299990-", 299_990, BIG_SIZE - 1),
        ("bytes=-5", BIG_SIZE - 5, BIG_SIZE - 1),
        ("bytes=-999999", 0, BIG_SIZE - 1),
        ("bytes=100-999999", 100, BIG_SIZE - 1),
    ],
)
async def test_range(origin: Origin, big: bytes, spec: str, first: int, last: int) -> None:
    async with client(origin) as http:
        response = await http.get("/video/big.m4s", headers={"Range": spec})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {first}-{last}/{BIG_SIZE}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert response.content == big[first : last + 1]
    assert origin.requests[-1].range == spec


@pytest.mark.trio
@pytest.mark.parametrize("spec", ["bytes=300000-", "bytes=400000-400010", "bytes=-0"])
async def test_range_unsatisfiable(origin: Origin, spec: str) -> None:
    async with client(origin) as http:
        response = await http.get("/video/big.m4s", headers={"Range": spec})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{BIG_SIZE}"


@pytest.mark.trio
async def test_range_on_empty_file_unsatisfiable(origin: Origin) -> None:
    async with client(origin) as http:
        response = await http.get("/empty.m4s", headers={"Range": "bytes=0-"})
        whole = await http.get("/empty.m4s")
    assert response.status_code == 416
    assert whole.status_code == 200
    assert whole.content == b""


@pytest.mark.trio
@pytest.mark.parametrize("spec", ["bytes=5-1", "items=0-1", "bytes=0-1,5-6", "bytes=x-y"])
async def test_range_ignored_when_invalid_or_multiple(
    origin: Origin, big: bytes, spec: str
) -> None:
    async with client(origin) as http:
        response = await http.get("/video/big.m4s", headers={"Range": spec})
    assert response.status_code == 200
    assert response.content == big


@pytest.mark.trio
@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/video/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/video/..%2f..%2fsecret.txt",
        "/%252e%252e/secret.txt",
        "/..\\secret.txt",
        "/small.m4s%00.txt",
        "/%ff%fe",
        "//etc/passwd",
        "/etc/passwd",
        "http://127.0.0.1/../secret.txt",
        "../secret.txt",
        "*",
        "/link.txt",
        "/missing.m4s",
        "/video",
        "/",
    ],
)
async def test_traversal_and_missing_are_404(origin: Origin, target: str) -> None:
    assert await raw_status(origin, target) == 404


@pytest.mark.trio
async def test_absolute_form_and_dot_free_encoding_served(origin: Origin) -> None:
    assert await raw_status(origin, f"{origin.base_url}small.m4s") == 200
    assert await raw_status(origin, "/%73mall.m4s") == 200
    assert await raw_status(origin, "/video//init.mp4") == 200


@pytest.mark.trio
async def test_other_methods_405(origin: Origin) -> None:
    async with client(origin) as http:
        response = await http.post("/small.m4s", content=b"x" * 1000)
        after = await http.get("/small.m4s")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert after.status_code == 200


@pytest.mark.trio
async def test_malformed_request_400(origin: Origin) -> None:
    answer = await raw_request(origin, b"NOT HTTP AT ALL\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    async with client(origin) as http:
        assert (await http.get("/small.m4s")).status_code == 200


@pytest.mark.trio
async def test_keep_alive_reuses_one_connection(origin: Origin) -> None:
    async with client(origin) as http:
        for path in ["/manifest.mpd", "/small.m4s", "/video/big.m4s", "/missing", "/small.m4s"]:
            await http.get(path)
    assert origin.connections_total == 1
    assert {r.connection for r in origin.requests} == {1}
    assert [r.status for r in origin.requests] == [200, 200, 200, 404, 200]
    assert origin.count("/small.m4s") == 2


@pytest.mark.trio
async def test_connection_close_honoured(origin: Origin) -> None:
    async with client(origin) as http:
        for _ in range(3):
            await http.get("/small.m4s", headers={"Connection": "close"})
    assert origin.connections_total == 3


@pytest.mark.trio
async def test_latency_applied(root: Path) -> None:
    async with open_origin(root, latency=0.2) as origin, client(origin) as http:
        start = trio.current_time()
        response = await http.get("/small.m4s")
        elapsed = trio.current_time() - start
    assert response.status_code == 200
    assert 0.2 <= elapsed < 1.5


@pytest.mark.trio
async def test_many_concurrent_connections(root: Path) -> None:
    n = 80
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    statuses: list[int] = []
    async with open_origin(root, latency=0.3) as origin, client(origin, limits=limits) as http:

        async def fetch(i: int) -> None:
            response = await http.get(f"/video/big.m4s?i={i}")
            assert len(response.content) == BIG_SIZE
            statuses.append(response.status_code)

        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(fetch, i)
        elapsed = trio.current_time() - start
    assert statuses == [200] * n
    assert origin.connections_total == n
    assert elapsed < 0.3 * 4


@pytest.mark.trio
async def test_request_log(origin: Origin) -> None:
    async with client(origin) as http:
        await http.get("/small.m4s", headers={"Range": "bytes=0-9"})
        await http.get("/missing.m4s")
    plain = [attrs.evolve(r, headers=(), target="", started=0, ended=0) for r in origin.requests]
    assert plain == [
        RequestRecord("GET", "/small.m4s", "bytes=0-9", 206, 10, None, 1, True),
        RequestRecord("GET", "/missing.m4s", None, 404, len(b"not found\n"), None, 1, True),
    ]
    # each exchange is timed on trio's clock, in order
    first, second = origin.requests
    assert 0 < first.started <= first.ended <= second.started <= second.ended
    assert [r.target for r in origin.requests] == ["/small.m4s", "/missing.m4s"]
    assert origin.requests[0].header("Range") == "bytes=0-9"


@pytest.mark.trio
@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("2", "2"), (5, "5"), ("Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT")],
)
async def test_fault_status_with_retry_after(
    root: Path, retry_after: str | int, expected: str
) -> None:
    plan = FaultPlan({"video/big.m4s": [Fault.http_status(503, retry_after=retry_after)]})
    async with open_origin(root, faults=plan) as origin, client(origin) as http:
        failed = await http.get("/video/big.m4s")
        ok = await http.get("/video/big.m4s")
    assert failed.status_code == 503
    assert failed.headers["retry-after"] == expected
    assert ok.status_code == 200
    assert "retry-after" not in ok.headers
    assert [r.fault for r in origin.requests] == ["status", None]
    assert origin.requests[0].status == 503


@pytest.mark.trio
async def test_scripted_faults_consumed_in_order(root: Path, big: bytes) -> None:
    plan = FaultPlan().add(
        "/video/big.m4s", Fault.http_status(500), Fault.http_status(404), Fault.http_status(429)
    )
    async with open_origin(root, faults=plan) as origin, client(origin) as http:
        statuses = [(await http.get("/video/big.m4s")).status_code for _ in range(4)]
        other = await http.get("/small.m4s")
    assert statuses == [500, 404, 429, 200]
    assert other.status_code == 200
    assert plan.pending("/video/big.m4s") == 0
    assert "retry-after" not in other.headers
    assert origin.count("/video/big.m4s") == 4


@pytest.mark.trio
@pytest.mark.parametrize(("after_bytes", "expected_sent"), [(None, BIG_SIZE // 2), (1000, 1000)])
async def test_fault_reset(root: Path, after_bytes: int | None, expected_sent: int) -> None:
    plan = FaultPlan({"/video/big.m4s": [Fault.connection_reset(after_bytes)]})
    async with open_origin(root, faults=plan) as origin, client(origin) as http:
        with pytest.raises(httpx.ReadError) as caught:
            await http.get("/video/big.m4s")
        assert isinstance(caught.value, httpx.TransportError)
        assert (await http.get("/video/big.m4s")).status_code == 200
    record = origin.requests[0]
    assert (record.fault, record.status, record.completed) == ("reset", 200, False)
    assert record.bytes_sent == expected_sent
    assert origin.connections_total == 2


@pytest.mark.trio
async def test_fault_truncate_is_a_protocol_error(root: Path) -> None:
    # httpx (h11 underneath) reports a body shorter than Content-Length as an error, not as a
    # short body: RemoteProtocolError naming the received and expected byte counts.
    plan = FaultPlan({"/video/big.m4s": [Fault.truncated(), Fault.truncated(1000)]})
    async with open_origin(root, faults=plan) as origin, client(origin) as http:
        with pytest.raises(
            httpx.RemoteProtocolError, match=r"received 150000 bytes, expected 300000"
        ):
            await http.get("/video/big.m4s")
        received = 0
        with pytest.raises(httpx.RemoteProtocolError):
            async with http.stream("GET", "/video/big.m4s") as response:
                assert response.headers["content-length"] == str(BIG_SIZE)
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
        assert received == response.num_bytes_downloaded == 1000
        assert (await http.get("/video/big.m4s")).status_code == 200
    assert [r.fault for r in origin.requests] == ["truncate", "truncate", None]
    assert [r.bytes_sent for r in origin.requests] == [BIG_SIZE // 2, 1000, BIG_SIZE]


@pytest.mark.trio
async def test_fault_stall_hits_client_read_timeout(root: Path) -> None:
    plan = FaultPlan({"/video/big.m4s": [Fault.stalled()]})
    async with open_origin(root, faults=plan) as origin:
        async with client(origin, timeout=httpx.Timeout(5.0, read=0.3)) as http:
            start = trio.current_time()
            with pytest.raises(httpx.ReadTimeout):
                await http.get("/video/big.m4s")
            assert 0.3 <= trio.current_time() - start < 2.0
        await wait_for(lambda: origin.active_connections == 0)
    (record,) = origin.requests
    assert (record.fault, record.completed, record.bytes_sent) == ("stall", False, BIG_SIZE // 2)


@pytest.mark.trio
async def test_short_stall_then_body_completes(root: Path, big: bytes) -> None:
    plan = FaultPlan({"/video/big.m4s": [Fault.stalled(0.3, after_bytes=10)]})
    async with open_origin(root, faults=plan) as origin, client(origin) as http:
        start = trio.current_time()
        response = await http.get("/video/big.m4s")
        elapsed = trio.current_time() - start
        again = await http.get("/video/big.m4s")
    assert response.content == big
    assert again.content == big
    assert elapsed >= 0.3
    assert [r.fault for r in origin.requests] == ["stall", None]
    assert origin.connections_total == 1


@pytest.mark.trio
async def test_faults_on_ranged_requests(root: Path, big: bytes) -> None:
    plan = FaultPlan({"/video/big.m4s": [Fault.truncated(5)]})
    async with open_origin(root, faults=plan) as origin, client(origin) as http:
        with pytest.raises(httpx.RemoteProtocolError, match="received 5 bytes, expected 100"):
            await http.get("/video/big.m4s", headers={"Range": "bytes=100-199"})
    assert origin.requests[0].status == 206


def test_fault_constructors() -> None:
    assert Fault.http_status(429, retry_after=2.5).retry_after == "2.5"
    assert Fault.http_status(retry_after=3.0).retry_after == "3"
    assert Fault.connection_reset().cut(101) == 50
    assert Fault.truncated(500).cut(100) == 100
    assert Fault.stalled(1.0, after_bytes=0).cut(100) == 0
    with pytest.raises(ValueError):
        Fault("explode")  # type: ignore[arg-type]


def test_random_plan_deterministic_per_seed() -> None:
    def decisions(plan: FaultPlan) -> list[Fault | None]:
        return [
            plan.take(RequestInfo("GET", f"/v/{i}.m4s", None, attempt))
            for i in range(200)
            for attempt in range(3)
        ]

    first = decisions(FaultPlan.random(rate=0.3, seed=7))
    assert first == decisions(FaultPlan.random(rate=0.3, seed=7))
    assert first != decisions(FaultPlan.random(rate=0.3, seed=8))
    faulted = [fault for fault in first if fault is not None]
    assert 0.2 < len(faulted) / len(first) < 0.4
    assert {fault.kind for fault in faulted} == {"status", "reset", "truncate"}
    assert {fault.status for fault in faulted if fault.kind == "status"} == {500, 503}


def test_random_plan_pattern_limit_and_script_first() -> None:
    plan = FaultPlan.random(rate=1.0, seed=1, kinds=("stall",), stall_seconds=2, max_per_path=2)
    assert plan.take(RequestInfo("GET", "/manifest.mpd", None, 0)) is None
    assert plan.take(RequestInfo("GET", "/a.m4s", None, 0)) == Fault.stalled(2)
    assert plan.take(RequestInfo("GET", "/a.m4s", None, 1)) == Fault.stalled(2)
    assert plan.take(RequestInfo("GET", "/a.m4s", None, 2)) is None
    plan.add("/a.m4s", Fault.http_status(404))
    assert plan.take(RequestInfo("GET", "/a.m4s", None, 5)) == Fault.http_status(404)
    with pytest.raises(ValueError):
        FaultPlan.random(rate=1.5)


@pytest.mark.trio
async def test_random_plan_through_server_is_order_independent(root: Path) -> None:
    async def run() -> list[tuple[str, str]]:
        plan = FaultPlan.random(rate=0.5, seed=3, kinds=("status",), pattern="*")
        async with open_origin(root, faults=plan) as origin, client(origin) as http:
            for path in ["/small.m4s", "/manifest.mpd", "/small.m4s", "/video/init.mp4"] * 3:
                await http.get(path)
        return sorted((r.path, str(r.fault)) for r in origin.requests)

    assert await run() == await run()


@pytest.mark.trio
async def test_client_disconnect_mid_response(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "huge.m4s").write_bytes(os.urandom(HUGE_SIZE))
    caplog.set_level(logging.INFO, logger="trioseg.origin")
    async with open_origin(tmp_path) as origin:
        stream = await trio.open_tcp_stream("127.0.0.1", port_of(origin))
        async with stream:
            await stream.send_all(b"GET /huge.m4s HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await stream.receive_some()).startswith(b"HTTP/1.1 200 ")
        await wait_for(lambda: origin.active_connections == 0)
        async with client(origin) as http:
            assert (await http.get("/huge.m4s")).status_code == 200
    first = origin.requests[0]
    assert not first.completed
    assert 0 < first.bytes_sent < HUGE_SIZE
    assert "client went away" in caplog.text


def _task_names() -> list[str]:
    names = []
    root = trio.lowlevel.current_root_task()
    assert root is not None
    stack = [root]
    while stack:
        task = stack.pop()
        names.append(task.name)
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return names


def _server_tasks() -> list[str]:
    return [n for n in _task_names() if "trioseg.origin" in n or "serve_listeners" in n]


@pytest.mark.trio
async def test_shutdown_ends_every_connection_task(root: Path) -> None:
    origin = Origin(root, faults=FaultPlan({"/video/big.m4s": [Fault.stalled()]}))
    errors: list[BaseException] = []
    with trio.fail_after(5):
        async with trio.open_nursery() as clients:
            async with trio.open_nursery() as server:
                await server.start(origin.serve)

                async def stalled_get() -> None:
                    async with client(origin, timeout=None) as http:
                        try:
                            await http.get("/video/big.m4s")
                        except httpx.TransportError as exc:
                            errors.append(exc)

                idle = await trio.open_tcp_stream("127.0.0.1", port_of(origin))
                clients.start_soon(stalled_get)
                await wait_for(
                    lambda: origin.active_connections == 2 and origin.count("/video/big.m4s") == 1
                )
                assert _server_tasks()
                server.cancel_scope.cancel()
            assert _server_tasks() == []
            assert origin.active_connections == 0
            assert await idle.receive_some() == b""
            await idle.aclose()
    assert len(errors) == 1
    (record,) = origin.requests
    assert (record.fault, record.completed) == ("stall", False)
