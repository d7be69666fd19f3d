"""Segment states as compact arrays, for drawing maps of any length quickly (pure).

A stream's states are a ``bytearray`` with one rank per segment, ordered so that the
worst state has the highest rank: a map cell holding several segments shows their
``max``, and counting a state is ``bytearray.count``, both done in C.  The arrays are a
function of the :class:`~trioseg.progress.Progress` state: :func:`states_of` builds one,
:class:`SegmentStates` keeps them up to date event by event.
"""

from __future__ import annotations

from typing import cast, get_args

import attrs

from ..events import Event, JobStarted, SegmentDone, SegmentFailed, SegmentRetry, SegmentStarted
from ..progress import Progress, SegmentState, StreamState

__all__ = ["ORDER", "RANK", "SegmentStates", "cells_of", "states_of"]

#: best first: a cell shows the highest rank of its segments
ORDER: tuple[SegmentState, ...] = ("done", "waiting", "in_flight", "retrying", "failed")
RANK: dict[SegmentState, int] = {state: rank for rank, state in enumerate(ORDER)}


_FAILED = RANK["failed"]
#: the events that change one segment's state
_SegmentEvent = SegmentStarted | SegmentRetry | SegmentFailed | SegmentDone
_SEGMENT_EVENTS = frozenset(get_args(_SegmentEvent))


def states_of(st: StreamState) -> bytearray:
    """The rank of every segment of ``st``."""
    states = bytearray([RANK["waiting"]]) * st.total
    for index, (_, state) in st.segments.items():
        if 0 <= index < st.total:
            states[index] = RANK[state]
    return states


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def cells_of(states: bytes | bytearray, cells: int) -> tuple[list[SegmentState], int]:
    """At most ``cells`` cells for these segments, and how many segments share a cell.

    Consecutive segments share a cell when they do not fit one each; the cell shows the
    worst state among them (failed > retrying > in flight > waiting > done).
    """
    total = len(states)
    if total == 0:
        return [], 1
    per = _ceil_div(total, max(1, cells))
    if per == 1:
        return [ORDER[rank] for rank in states], 1
    view = memoryview(states)
    return [ORDER[max(view[start : start + per])] for start in range(0, total, per)], per


@attrs.define
class SegmentStates:
    """The rank arrays of a progress's streams, updated as each event is folded."""

    by_stream: dict[str, bytearray] = attrs.Factory(dict)
    #: changes whenever the set of failed segments (or a failure's details) changes
    failures: int = 0

    def update(self, progress: Progress, event: Event) -> None:
        """Call after ``progress.apply(event)``."""
        # two events a segment come through here: the common case is looked up first
        if type(event) in _SEGMENT_EVENTS:
            event = cast(_SegmentEvent, event)
            index = event.index
            states = self.by_stream.get(event.stream)
            st = progress.streams.get(event.stream)
            if states is not None and st is not None and 0 <= index < len(states):
                old, new = states[index], RANK[st.state_of(index)]
                states[index] = new
                if old != new and (old == _FAILED or new == _FAILED):
                    self.failures += 1
            if type(event) is SegmentFailed:
                self.failures += 1
        elif isinstance(event, JobStarted):
            for info in event.streams:
                self.by_stream[info.id] = states_of(progress.streams[info.id])

    def of(self, st: StreamState) -> bytearray:
        states = self.by_stream.get(st.info.id)
        if states is None or len(states) != st.total:
            states = self.by_stream[st.info.id] = states_of(st)
        return states

    def in_flight(self, st: StreamState) -> int:
        return self.of(st).count(RANK["in_flight"])
