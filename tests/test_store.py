from __future__ import annotations

import errno
import json
import os
import zlib
from pathlib import Path

import pytest

from trioseg.errors import StoreError, UsageError
from trioseg.plan import ByteRange, Plan, SegmentRef, StreamPlan
from trioseg.store import (
    PROGRESS_EVERY,
    RESUME_MIN,
    Journal,
    SegmentSink,
    SegmentStore,
    plan_fingerprint,
    safe_name,
)


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
    store.close()
    reopened = store_for(tmp_path, plan)
    assert reopened.completed_size("v/1", 2) is None


def test_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    plan = make_plan()
    store = store_for(tmp_path, plan)
    commit(store, 0, b"init")
    journal = store.workdir / "journal"
    with open(journal, "ab") as f:
        f.write(b'{"s":"v/1","i":1,"u":"http://o.t')  # power lost mid-line
    store.close()
    store = store_for(tmp_path, plan)
    assert store.completed_size("v/1", 0) == 4
    commit(store, 1, b"one")
    store.close()
    store = store_for(tmp_path, plan)
    assert store.completed_size("v/1", 1) == 3
    assert all(line.startswith(b"{") for line in journal.read_bytes().splitlines())


def test_a_different_plan_is_refused_until_fresh(tmp_path: Path) -> None:
    store = store_for(tmp_path, make_plan(3))
    commit(store, 0, b"init")
    store.close()
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
    for index in (0, 1):  # one placed in the data file, one in a file of its own
        with pytest.raises(KeyboardInterrupt), store.open_segment("v/1", index, "u", None) as sink:
            sink.write(b"half")
            raise KeyboardInterrupt
    assert not list(store.stream_dir("v/1").iterdir())
    assert store.journal is not None and not store.journal.entries
    assert store.completed_size("v/1", 0) is None


def test_write_errors_become_one_line_store_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_for(tmp_path, make_plan())

    def full(*args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(StoreError, match=r"cannot write .*v_1\.data: No space left on device"):  # noqa: SIM117
        with store.open_segment("v/1", 0, "u", None) as sink:
            sink.write(b"x")
    assert not list(store.stream_dir("v/1").iterdir())
    assert store.completed_size("v/1", 0) is None


def begun(store: SegmentStore, index: int, length: int, **kw: object) -> SegmentSink:
    sink = store.open_segment("v/1", index, f"http://o.test/{index}", None)
    opened = sink.__enter__()
    opened.begin(kw.get("validator"), bool(kw.get("resumable")), length)  # type: ignore[arg-type]
    opened._cm = sink  # type: ignore[attr-defined]
    return opened


def done(sink: SegmentSink) -> None:
    sink._cm.__exit__(None, None, None)  # type: ignore[attr-defined]


def test_segments_are_written_once_at_their_place(tmp_path: Path) -> None:
    store = store_for(tmp_path, make_plan(2))
    # heads arrive in order, bodies complete in any order
    init, one, two = begun(store, 0, 4), begun(store, 1, 3), begun(store, 2, 3)
    two.write(b"two")
    done(two)
    one.write(b"one")
    init.write(b"init")
    done(one)
    assert store.completed_size("v/1", 2) == 3 and store.completed_size("v/1", 0) is None
    done(init)
    path = store.data_file("v/1", [0, 1, 2])
    assert path is not None and path.read_bytes() == b"initonetwo"
    assert not list(store.stream_dir("v/1").iterdir())  # no file per segment
    store.close()
    lines = (store.workdir / "journal").read_bytes().splitlines()[1:]
    assert [json.loads(line)["o"] for line in lines] == [7, 4, 0]


def test_a_segment_whose_place_is_unknown_waits_and_then_moves_in(tmp_path: Path) -> None:
    store = store_for(tmp_path, make_plan(2))
    commit(store, 2, b"two")  # no length, predecessors unknown: a .seg of its own
    assert store.segment_path("v/1", 2).read_bytes() == b"two"
    commit(store, 0, b"init")
    assert store.data_file("v/1", [0, 1, 2]) is None
    commit(store, 1, b"one")  # now segment 2's place is known: it moves in
    path = store.data_file("v/1", [0, 1, 2])
    assert path is not None and path.read_bytes() == b"initonetwo"
    assert not store.segment_path("v/1", 2).exists()
    assert store.read_segment("v/1", 2) == b"two"


def test_a_body_that_no_longer_fits_its_place_gets_a_file(tmp_path: Path) -> None:
    store = store_for(tmp_path, make_plan(2))
    init, one, two = begun(store, 0, 4), begun(store, 1, 3), begun(store, 2, 3)
    for sink, data in ((init, b"init"), (two, b"two")):
        sink.write(data)
        done(sink)
    with pytest.raises(KeyboardInterrupt):
        one._cm.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)  # type: ignore[attr-defined]
        raise KeyboardInterrupt
    # the retry's body is longer than the place kept between 0 and 2
    again = begun(store, 1, 5)
    again.write(b"ONE!!")
    done(again)
    assert store.segment_path("v/1", 1).read_bytes() == b"ONE!!"
    assert store.data_file("v/1", [0, 1, 2]) is None
    assert store.assemble("v/1", 3, tmp_path / "a.mp4") == 12
    assert (tmp_path / "a.mp4").read_bytes() == b"initONE!!two"


def test_a_later_run_trusts_only_what_checksums_confirm(tmp_path: Path) -> None:
    plan = make_plan(2)
    store = store_for(tmp_path, plan)
    for i, data in enumerate([b"init", b"one", b"two"]):
        commit(store, i, data)
    store.close()
    with open(store.data_path("v/1"), "r+b") as f:
        f.seek(5)
        f.write(b"N")  # same size, different bytes
    store = store_for(tmp_path, plan)
    assert [store.completed_size("v/1", i) for i in range(3)] == [4, None, 3]
    commit(store, 1, b"one")
    path = store.data_file("v/1", [0, 1, 2])
    assert path is not None and path.read_bytes() == b"initonetwo"
    assert store.assemble("v/1", 3, tmp_path / "out.mp4", move=True) == 10
    assert (tmp_path / "out.mp4").read_bytes() == b"initonetwo"
    assert not store.data_path("v/1").exists()


def test_a_changed_segment_file_is_forgotten(tmp_path: Path) -> None:
    plan = make_plan(2)
    store = store_for(tmp_path, plan)
    commit(store, 2, b"two")
    store.close()
    store.segment_path("v/1", 2).write_bytes(b"tw0")
    store = store_for(tmp_path, plan)
    assert store.completed_size("v/1", 2) is None
    assert not store.segment_path("v/1", 2).exists()


def test_bytes_written_without_a_journal_line_are_not_trusted(tmp_path: Path) -> None:
    plan = make_plan(2)
    store = store_for(tmp_path, plan)
    killed = begun(store, 0, 4)
    killed.write(b"init")
    store.close()  # the process died before the commit (``killed`` stays referenced)
    assert store.data_path("v/1").read_bytes() == b"init"
    store = store_for(tmp_path, plan)
    assert store.completed_size("v/1", 0) is None
    assert killed.size == 4


def test_a_large_body_resumes_from_its_last_progress_line(tmp_path: Path) -> None:
    plan = make_plan(2)
    store = store_for(tmp_path, plan)
    commit(store, 0, b"init")
    body = bytes(range(256)) * 4096  # 1 MiB
    killed = begun(store, 1, len(body), validator='"v1"', resumable=True)
    for start in range(0, 550_000, 50_000):
        killed.write(body[start : start + 50_000])
    store.close()  # killed: no abandon, no commit (``killed`` stays referenced)
    store = store_for(tmp_path, plan)
    sink = store.open_segment("v/1", 1, "http://o.test/1", None).__enter__()
    assert sink.validator == '"v1"'
    assert PROGRESS_EVERY <= sink.offset < 550_000 and sink.offset % 50_000 == 0
    assert sink.crc32 == zlib.crc32(body[: sink.offset])
    assert killed.size == 550_000


def test_a_failed_body_is_continued_in_the_same_run(tmp_path: Path) -> None:
    store = store_for(tmp_path, make_plan(2))
    commit(store, 0, b"init")
    body = b"x" * (RESUME_MIN * 2)
    with pytest.raises(ConnectionError), store.open_segment("v/1", 1, "http://o.test/1", None) as s:
        s.begin('"e"', True, len(body))
        s.write(body[:1000])
        raise ConnectionError
    with store.open_segment("v/1", 1, "http://o.test/1", None) as sink:
        assert (sink.offset, sink.validator) == (1000, '"e"')
        sink.begin('"e"', True, len(body) - 1000)
        sink.write(body[1000:])
    assert store.read_segment("v/1", 1) == body
    path = store.data_file("v/1", [0, 1])
    assert path is not None and path.read_bytes() == b"init" + body


def test_without_placement_every_segment_keeps_its_file(tmp_path: Path) -> None:
    plan = make_plan(2)
    store = SegmentStore.for_output(tmp_path / "out.mp4")
    store.prepare(plan, place=False)
    for i, data in enumerate([b"init", b"one", b"two"]):
        commit(store, i, data)
    assert sorted(p.name for p in store.stream_dir("v/1").iterdir()) == [
        "000000.seg",
        "000001.seg",
        "000002.seg",
    ]
    assert store.assemble("v/1", 3, tmp_path / "a.mp4") == 10
    assert (tmp_path / "a.mp4").read_bytes() == b"initonetwo"


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


def test_when_the_first_segment_comes_last_everything_still_lands_in_place(
    tmp_path: Path,
) -> None:
    n = 600  # more than LOOK_BACK: the later ones wait in files, not in a long search
    plan = make_plan(n - 1)
    store = store_for(tmp_path, plan)
    bodies = [f"<{i}>".encode() for i in range(n)]
    for i in range(1, n):
        sink = begun(store, i, len(bodies[i]))
        sink.write(bodies[i])
        done(sink)
    assert store.data_file("v/1", list(range(n))) is None
    assert store.completed_size("v/1", n - 1) == len(bodies[-1])
    sink = begun(store, 0, len(bodies[0]))
    sink.write(bodies[0])
    done(sink)
    path = store.data_file("v/1", list(range(n)))
    assert path is not None and path.read_bytes() == b"".join(bodies)
    assert not list(store.stream_dir("v/1").iterdir())


def test_one_run_at_a_time_per_output(tmp_path: Path) -> None:
    plan = make_plan(2)
    first = store_for(tmp_path, plan)
    commit(first, 0, b"init")
    second = SegmentStore.for_output(tmp_path / "out.mp4")
    for fresh in (False, True):
        with pytest.raises(UsageError, match="another trioseg is writing to the same output"):
            second.prepare(plan, fresh=fresh)
    # --fresh did not wipe the running download's folder
    assert first.completed_size("v/1", 0) == 4
    first.close()
    second.prepare(plan)
    assert second.completed_size("v/1", 0) == 4
    second.close()
    third = store_for(tmp_path, plan, fresh=True)
    assert third.completed_size("v/1", 0) is None
    assert (third.workdir / "lock").exists()
