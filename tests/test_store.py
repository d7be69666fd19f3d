from __future__ import annotations

import errno
import zlib
from pathlib import Path

import pytest

from trioseg.errors import StoreError, UsageError
from trioseg.plan import ByteRange, Plan, SegmentRef, StreamPlan
from trioseg.store import Journal, SegmentStore, plan_fingerprint, safe_name


def make_plan(n: int = 3, query: str = "") -> Plan:
    stream = StreamPlan(
        id="v/1",
        kind="video",
        init=SegmentRef((f"http://o.test/init.mp4{query}",), ByteRange(0, 99)),
        segments=tuple(SegmentRef((f"http://o.test/{i}.m4s{query}",)) for i in range(n)),
    )
    return Plan("http://o.test/m.mpd", (stream,))


def store_for(tmp_path: Path, plan: Plan, *, fresh: bool = False) -> SegmentStore:
    store = SegmentStore.for_output(tmp_path / "out.mp4")
    store.prepare(plan, fresh=fresh)
    return store


def commit(store: SegmentStore, index: int, data: bytes) -> None:
    with store.open_segment("v/1", index, f"http://o.test/{index}", None) as sink:
        sink.write(data)


def test_a_segment_is_complete_only_with_its_file_and_journal_line(tmp_path: Path) -> None:
    plan = make_plan()
    store = store_for(tmp_path, plan)
    commit(store, 1, b"abc")
    assert store.completed_size("v/1", 1) == 3
    # a .seg that a crash left without its journal line is not trusted
    store.segment_path("v/1", 2).write_bytes(b"xyz")
    assert store.completed_size("v/1", 2) is None
    # nor is one whose size disagrees with the journal
    store.segment_path("v/1", 1).write_bytes(b"ab")
    assert store.completed_size("v/1", 1) is None
    reopened = store_for(tmp_path, plan)
    assert reopened.completed_size("v/1", 2) is None


def test_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    plan = make_plan()
    store = store_for(tmp_path, plan)
    commit(store, 0, b"init")
    journal = store.workdir / "journal"
    with open(journal, "ab") as f:
        f.write(b'{"s":"v/1","i":1,"u":"http://o.t')  # power lost mid-line
    store = store_for(tmp_path, plan)
    assert store.completed_size("v/1", 0) == 4
    commit(store, 1, b"one")
    store = store_for(tmp_path, plan)
    assert store.completed_size("v/1", 1) == 3
    assert all(line.startswith(b"{") for line in journal.read_bytes().splitlines())


def test_a_different_plan_is_refused_until_fresh(tmp_path: Path) -> None:
    store = store_for(tmp_path, make_plan(3))
    commit(store, 0, b"init")
    with pytest.raises(UsageError, match="--fresh"):
        store_for(tmp_path, make_plan(4))
    store = store_for(tmp_path, make_plan(4), fresh=True)
    assert store.completed_size("v/1", 0) is None


def test_fingerprint_ignores_query_strings_but_not_paths_or_ranges() -> None:
    base = plan_fingerprint(make_plan())
    assert plan_fingerprint(make_plan(query="?token=abc")) == base
    assert plan_fingerprint(make_plan(4)) != base
    other = make_plan()
    s = other.streams[0]
    moved = StreamPlan(s.id, s.kind, SegmentRef(s.init.urls, ByteRange(0, 98)), s.segments)  # type: ignore[union-attr]
    assert plan_fingerprint(Plan(other.manifest_url, (moved,))) != base


def test_failure_inside_a_segment_leaves_no_part_and_no_journal_line(tmp_path: Path) -> None:
    store = store_for(tmp_path, make_plan())
    with pytest.raises(KeyboardInterrupt), store.open_segment("v/1", 1, "u", None) as sink:
        sink.write(b"half")
        raise KeyboardInterrupt
    assert not list(store.stream_dir("v/1").iterdir())
    assert store.journal is not None and ("v/1", 1) not in store.journal.entries


def test_write_errors_become_one_line_store_errors(tmp_path: Path) -> None:
    store = store_for(tmp_path, make_plan())

    class Full:
        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(StoreError, match="No space left on device"):  # noqa: SIM117
        with store.open_segment("v/1", 1, "u", None) as sink:
            sink._file = Full()
            sink.write(b"x")
    assert not list(store.stream_dir("v/1").iterdir())


def test_assembly_checks_checksums(tmp_path: Path) -> None:
    plan = make_plan(2)
    store = store_for(tmp_path, plan)
    for i, data in enumerate([b"init", b"one", b"two"]):
        commit(store, i, data)
    assert store.assemble("v/1", 3, tmp_path / "a.mp4") == 10
    assert (tmp_path / "a.mp4").read_bytes() == b"initonetwo"
    store.close()
    # a later run trusts nothing it did not write itself
    store = store_for(tmp_path, plan)
    assert store.assemble("v/1", 3, tmp_path / "c.mp4") == 10
    store.segment_path("v/1", 1).write_bytes(b"0ne")  # same size, different bytes
    with pytest.raises(StoreError, match="segment 1 of stream v/1 changed on disk"):
        store.assemble("v/1", 3, tmp_path / "b.mp4")
    assert not (tmp_path / "b.mp4").exists() and not (tmp_path / "b.mp4.part").exists()
    assert store_for(tmp_path, plan).completed_size("v/1", 1) is None


def test_journal_records_url_range_size_and_checksum(tmp_path: Path) -> None:
    store = store_for(tmp_path, make_plan())
    with store.open_segment("v/1", 0, "http://o.test/init.mp4", ByteRange(0, 99)) as sink:
        sink.write(b"x" * 100)
    journal = Journal.open(store.workdir / "journal", plan_fingerprint(make_plan()))
    entry = journal.entries["v/1", 0]
    assert (entry.url, entry.byte_range, entry.size) == ("http://o.test/init.mp4", "0-99", 100)
    assert entry.crc32 == zlib.crc32(b"x" * 100)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("../../etc/passwd", "etc_passwd"),
        ("..", "stream"),
        ("a b/c", "a_b_c"),
        (".hidden", "hidden"),
    ],
)
def test_safe_name_never_escapes(text: str, expected: str) -> None:
    assert safe_name(text) == expected
