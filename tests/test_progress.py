import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from trioseg.events import (
    JobFinished,
    JobStarted,
    SegmentDone,
    SegmentFailed,
    SegmentRetry,
    SegmentStarted,
    StreamInfo,
)
from trioseg.progress import SPEED_WINDOW, Progress, StreamState

INFO = StreamInfo("v1", "video", "320x240", 4, None)
START = JobStarted("http://x/m.mpd", None, (INFO,), 4, at=0.0)

EVENTS = [
    SegmentStarted("v1", 0, 1, at=0.1),
    SegmentDone("v1", 0, 100, at=0.2),
    SegmentStarted("v1", 1, 1, at=0.1),
    SegmentRetry("v1", 1, "http://x/1", 1, "HTTP 503", 0.5, at=0.3),
    SegmentStarted("v1", 1, 2, at=0.8),
    SegmentDone("v1", 1, 200, at=1.0),
    SegmentStarted("v1", 2, 1, at=0.2),
    SegmentRetry("v1", 2, "http://x/2", 1, "HTTP 404", 0.1, at=0.4),
    SegmentStarted("v1", 2, 2, at=0.5),
    SegmentFailed("v1", 2, "http://x/2", "HTTP 404", 2, at=0.6),
    SegmentStarted("v1", 3, 1, at=1.1),
]


def fold(events: list[object]) -> Progress:
    p = Progress()
    p.apply(START)
    for e in events:
        p.apply(e)  # type: ignore[arg-type]
    return p


def snapshot(p: Progress) -> tuple[object, ...]:
    st = p.streams["v1"]
    return (
        st.done,
        st.bytes_done,
        tuple(st.state_of(i) for i in range(4)),
        tuple(f.index for f in st.failed),
        p.retries,
    )


def test_fold_gives_each_segment_its_latest_state() -> None:
    st = fold(EVENTS).streams["v1"]
    assert [st.state_of(i) for i in range(4)] == ["done", "done", "failed", "in_flight"]
    assert st.done == 2 and st.bytes_done == 300
    assert [f.error for f in st.failed] == ["HTTP 404"]
    assert st.count("done") == 2 and st.count("in_flight") == 1 and st.count("waiting") == 0


def test_state_is_a_function_of_the_set_of_events() -> None:
    expected = snapshot(fold(EVENTS))
    rng = random.Random(1)
    for _ in range(200):
        shuffled = EVENTS[:]
        rng.shuffle(shuffled)
        assert snapshot(fold(shuffled)) == expected


def test_duplicate_done_counts_once() -> None:
    p = fold([SegmentDone("v1", 0, 100, at=0.2), SegmentDone("v1", 0, 100, at=0.2)])
    assert p.streams["v1"].done == 1 and p.bytes_done == 100


def test_speed_uses_a_sliding_window() -> None:
    events = [SegmentDone("v1", i, 1000, at=float(i)) for i in range(4)]
    st = fold(events).streams["v1"]  # type: ignore[arg-type]
    assert st.speed(3.0) == 4000 / 3.0
    assert st.speed(100.0) == 0.0


def test_summary_is_the_finished_contract() -> None:
    p = fold([*EVENTS, JobFinished("partial", (), "1 segment(s) failed", at=2.0)])
    summary = p.summary()
    assert summary["event"] == "finished"
    assert summary["status"] == "partial"
    (stream,) = summary["streams"]
    assert stream == {
        "id": "v1",
        "kind": "video",
        "path": None,
        "segments_total": 4,
        "segments_done": 2,
        "failed": [
            {
                "index": 2,
                "url": "http://x/2",
                "error": "HTTP 404",
                "attempts": 2,
                "start": None,
                "end": None,
            }
        ],
    }


def test_every_permutation_of_a_small_history_agrees() -> None:
    small = EVENTS[:4]
    results = {snapshot(fold(list(perm))) for perm in itertools.permutations(small)}
    assert len(results) == 1


@given(
    st.lists(
        st.tuples(st.integers(0, 40).map(lambda t: t / 4), st.integers(0, 10_000)),
        max_size=40,
    ),
    st.integers(0, 50).map(lambda t: t / 4),
)
def test_speed_sums_the_window_whatever_the_arrival_order(
    arrivals: list[tuple[float, int]], now: float
) -> None:
    info = StreamInfo("v", "video", "v", 100, "out.mp4", True)
    state = StreamState(info)
    for at, nbytes in arrivals:
        state.add_history(at, nbytes)
    window = sum(n for at, n in arrivals if now - SPEED_WINDOW <= at <= now)
    span = min(SPEED_WINDOW, max(now - state.started_at, 0.1))
    assert state.speed(now) == window / span
    assert state.history == sorted(arrivals)
