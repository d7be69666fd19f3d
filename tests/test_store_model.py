"""The store against a model: random interleavings of concurrent attempts (lengths
announced or not, bodies failing midway, ranged continuations) and crashes at random
instants.  Whatever happens, what the journal vouches for is exactly what was sent,
and the finished stream is the exact concatenation."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trioseg.plan import Plan, SegmentRef, StreamPlan
from trioseg.store import RESUME_MIN, SegmentSink, SegmentStore


def plan_of(n: int) -> Plan:
    stream = StreamPlan(
        id="v",
        kind="video",
        init=SegmentRef(("http://o.test/0",)),
        segments=tuple(SegmentRef((f"http://o.test/{i}",)) for i in range(1, n)),
    )
    return Plan("http://o.test/m.mpd", (stream,))


class Attempt:
    def __init__(self, store: SegmentStore, index: int, body: bytes, announce: bool) -> None:
        self.cm: Any = store.open_segment("v", index, f"http://o.test/{index}", None)
        self.sink: SegmentSink = self.cm.__enter__()
        self.index = index
        self.body = body
        self.pos = self.sink.offset
        assert self.sink.crc32 is not None
        rest = len(body) - self.pos
        self.sink.begin('"v"', True, rest if announce else None)

    def step(self, size: int) -> bool:
        """Write up to ``size`` more bytes; True when the body is all written."""
        chunk = self.body[self.pos : self.pos + size]
        if chunk:
            self.sink.write(chunk)
        self.pos += len(chunk)
        return self.pos >= len(self.body)

    def finish(self) -> None:
        self.cm.__exit__(None, None, None)

    def fail(self) -> None:
        error = ConnectionError("reset")
        assert not self.cm.__exit__(ConnectionError, error, None)


bodies_st = st.lists(
    st.one_of(
        st.binary(min_size=0, max_size=40),
        st.integers(RESUME_MIN, RESUME_MIN + 5000).map(lambda n: bytes([n % 251]) * n),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(bodies=bodies_st, data=st.data())
def test_whatever_the_interleaving_the_result_is_exact(bodies: list[bytes], data: Any) -> None:
    n = len(bodies)
    plan = plan_of(n)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        store = SegmentStore.for_output(out)
        store.prepare(plan)
        open_: dict[int, Attempt] = {}
        zombies: list[Attempt] = []  # attempts of a "killed" process, kept referenced
        for _ in range(400):
            done = {i for i in range(n) if store.completed("v", i) is not None}
            if len(done) == n and not open_:
                break
            idle = [i for i in range(n) if i not in done and i not in open_]
            action = data.draw(st.sampled_from(["open", "step", "fail", "crash"]))
            if action == "open" and idle:
                index = data.draw(st.sampled_from(idle))
                open_[index] = Attempt(store, index, bodies[index], data.draw(st.booleans()))
            elif action == "step" and open_:
                index = data.draw(st.sampled_from(sorted(open_)))
                if open_[index].step(data.draw(st.sampled_from([1, 7, 40, 30_000, 1 << 20]))):
                    open_.pop(index).finish()
            elif action == "fail" and open_:
                index = data.draw(st.sampled_from(sorted(open_)))
                open_.pop(index).fail()
            elif action == "crash" and data.draw(st.integers(0, 9)) == 0:
                zombies.extend(open_.values())
                open_.clear()
                store.close()
                store = SegmentStore.for_output(out)
                store.prepare(plan)
            # the journal never vouches for anything but the real bytes
            for i in range(n):
                got = store.read_segment("v", i)
                assert got is None or got == bodies[i], i
        # finish whatever is left, one attempt at a time
        for attempt in open_.values():
            attempt.step(1 << 30)
            attempt.finish()
        for i in range(n):
            if store.completed("v", i) is None:
                attempt = Attempt(store, i, bodies[i], True)
                attempt.step(1 << 30)
                attempt.finish()
        expected = b"".join(bodies)
        whole = store.data_file("v", list(range(n)))
        if whole is not None:
            assert whole.read_bytes() == expected
        assert store.assemble("v", n, Path(tmp) / "a.mp4") == len(expected)
        assert (Path(tmp) / "a.mp4").read_bytes() == expected
        assert store.assemble("v", n, Path(tmp) / "b.mp4", move=True) == len(expected)
        assert (Path(tmp) / "b.mp4").read_bytes() == expected
        store.close()
        assert zombies is not None
