"""Recording a live (``type="dynamic"``) presentation.

The same engine parts as a static download (the run's limiter, per-host limits,
retries, the segment store, events), driven by a loop instead of a fixed plan:

- the clock is synchronised through the MPD's ``UTCTiming`` (http-head, http-iso,
  http-xsdate, direct) before anything is scheduled;
- the manifest is refreshed every ``minimumUpdatePeriod`` (at its ``Location`` when it
  gives one), and each refresh's :class:`~trioseg.live.LiveView` adds the segments not
  seen before to each track's queue;
- a feeder per track waits for each segment's availability, then takes a slot and
  fetches it; a segment that stays unavailable (late, 404) is retried until it leaves
  the time-shift buffer, and one that leaves it first is reported as a gap;
- an ordered appender per track appends each segment to the track's file as soon as
  everything before it is there, so ``--no-mux`` files are playable while recording;
- recording stops at ``--duration``, when the MPD turns static and its last segment is
  in, or gracefully on ``q``/signals; the files are then completed (and muxed).
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import attrs
import trio

from .engine import (
    Emit,
    JobConfig,
    JobControl,
    JobOutcome,
    Session,
    _Job,
    _muxable,
    stream_output_path,
)
from .errors import FetchError, ManifestError, TriosegError
from .events import (
    Event,
    JobFinished,
    JobStarted,
    Notice,
    SegmentDone,
    SegmentFailed,
    StreamFinished,
    StreamGrew,
    StreamInfo,
)
from .fetch import Fetcher
from .live import (
    LiveSegment,
    LiveTrack,
    LiveView,
    clock_offset,
    live_view,
    parse_utc_response,
    supported_timing,
    timing_kind,
)
from .mpd import Manifest, ManifestLimits, parse_mpd
from .plan import Plan, SegmentRef, StreamPlan
from .prepare import with_retries
from .store import SegmentStore, safe_name, store_error

__all__ = ["LiveOptions", "WallClock", "record_live"]


@attrs.frozen
class LiveOptions:
    from_start: bool = False
    #: seconds of media to record; None = until the event ends or the user stops
    duration: float | None = None
    #: how often to refresh when the MPD gives no minimumUpdatePeriod
    default_refresh: float = 2.0


@attrs.define
class WallClock:
    """Wall-clock time (epoch seconds) on trio's clock, once synchronised."""

    offset: float

    @classmethod
    def local(cls) -> WallClock:
        return cls(time.time() - trio.current_time())

    def now(self) -> float:
        return trio.current_time() + self.offset

    def trio_time(self, wall: float) -> float:
        return wall - self.offset


async def sync_clock(fetcher: Fetcher, view: LiveView, clock: WallClock, emit: Emit) -> None:
    """Set ``clock`` from the first UTCTiming source that answers (half the round trip
    is allowed for)."""
    for source in supported_timing(view.utc_timing):
        kind = timing_kind(source.scheme)
        for value in source.value.split() or [source.value]:
            sent = trio.current_time()
            try:
                if kind == "direct":
                    payload = source.value
                elif kind == "http-head":
                    payload = await fetcher.head_date(value)
                else:
                    body = (await fetcher.fetch_bytes(value, max_bytes=4096)).content
                    payload = body.decode("utf-8", "replace")
                wall = parse_utc_response(source.scheme, payload)
            except (FetchError, ManifestError) as exc:
                emit(Notice(f"UTCTiming {kind} {value}: {exc}", trio.current_time()))
                continue
            received = trio.current_time()
            clock.offset = clock_offset(wall, sent, received)
            return
    if view.utc_timing:
        emit(
            Notice("no UTCTiming source answered: using this machine's clock", trio.current_time())
        )


@attrs.define
class _Appender:
    """Appends a track's segments to its file(s) in order, as soon as they are there.

    ``parts``: when muxing, a later Period's init starts a new part file.
    """

    store: SegmentStore
    stream: str
    first: Path
    split_parts: bool
    paths: list[Path] = attrs.Factory(list)
    next: int = 0
    ready: dict[int, bool] = attrs.Factory(dict)
    inits: set[int] = attrs.Factory(set)
    _file: Any = None

    def _open(self, path: Path) -> None:
        if self._file is not None:
            self._file.close()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise store_error(exc, path) from None
        self.paths.append(path)

    def settle(self, index: int, present: bool) -> None:
        self.ready[index] = present
        while self.next in self.ready:
            present = self.ready.pop(self.next)
            if present:
                self._append(self.next)
            self.next += 1

    def _append(self, index: int) -> None:
        if self._file is None:
            self._open(self.first)
        elif index in self.inits and self.split_parts:
            self._open(self.first.with_name(f"{self.first.stem}.p{len(self.paths)}.mp4"))
        path = self.store.segment_path(self.stream, index)
        try:
            self._file.write(path.read_bytes())
            self._file.flush()
            path.unlink()
        except OSError as exc:
            raise store_error(exc, self.first) from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@attrs.define
class _Track:
    id: str
    plan: StreamPlan
    appender: _Appender
    send: trio.MemorySendChannel[tuple[int, LiveSegment | None, SegmentRef]]
    receive: trio.MemoryReceiveChannel[tuple[int, LiveSegment | None, SegmentRef]]
    seen: set[str] = attrs.Factory(set)
    last_order: float = -math.inf
    count: int = 0
    init_key: str | None = None
    closed: bool = False
    last_number: tuple[str | None, int] | None = None


@attrs.define
class _Recorder:
    job: _Job
    clock: WallClock
    options: LiveOptions
    config: JobConfig
    emit: Emit
    tracks: dict[str, _Track] = attrs.Factory(dict)
    start_order: float | None = None
    stopping: bool = False
    done: bool = False

    def add_track(self, track: LiveTrack) -> _Track:
        plan = StreamPlan(
            id=track.id,
            kind=track.kind,
            init=track.init,
            segments=(),
            bandwidth=track.bandwidth,
            codecs=track.codecs,
            width=track.width,
            height=track.height,
            lang=track.lang,
            container=track.container,
        )
        muxed = _muxable(plan, self.config)
        if muxed:
            first = self.job.store.workdir / f"{safe_name(track.id)}.mp4"
        else:
            first = stream_output_path(self.config.output, plan)
        send, receive = trio.open_memory_channel[tuple[int, LiveSegment | None, SegmentRef]](
            math.inf
        )
        state = _Track(
            track.id, plan, _Appender(self.job.store, track.id, first, muxed), send, receive
        )
        self.tracks[track.id] = state
        return state

    def queue(self, view: LiveView) -> None:
        """Add what ``view`` shows that was not queued before; segments that vanished
        before they could be queued are recorded as gaps."""
        end = None
        if self.options.duration is not None and self.start_order is not None:
            end = self.start_order + self.options.duration
        for track in view.tracks:
            state = self.tracks.get(track.id)
            if state is None or state.closed:
                continue
            for segment in track.segments:
                if segment.ident in state.seen or segment.order <= state.last_order:
                    continue
                if self.start_order is not None and segment.end <= self.start_order:
                    continue
                if end is not None and segment.order >= end - 1e-6:
                    self._close(state)
                    break
                self._fill_gap(state, segment)
                init = track.init_for(segment)
                if init is not None and state.init_key != _key(init):
                    is_init = state.init_key is not None
                    state.init_key = _key(init)
                    self._push(state, None, attrs.evolve(init, is_init=is_init))
                state.seen.add(segment.ident)
                state.last_order = segment.order
                state.last_number = (segment.ref.period, segment.number)
                self._push(state, segment, segment.ref)
            if view.static:
                self._close(state)
        if all(t.closed for t in self.tracks.values()):
            self.done = True

    def _fill_gap(self, state: _Track, segment: LiveSegment) -> None:
        """Numbers skipped since the last queued segment of the same Period left the
        time-shift buffer between two refreshes: report each as a gap."""
        if state.last_number is None or state.last_number[0] != segment.ref.period:
            return
        for number in range(state.last_number[1] + 1, segment.number):
            index = state.count
            state.count += 1
            message = f"gap: segment {number} left the time-shift buffer before it was listed"
            self.job.failed[state.id, index] = (state.plan, segment.ref, 0)
            self.emit(StreamGrew(state.id, state.count, trio.current_time()))
            self.emit(SegmentFailed(state.id, index, "", message, 0, trio.current_time()))
            state.appender.settle(index, False)

    def _push(self, state: _Track, segment: LiveSegment | None, ref: SegmentRef) -> None:
        index = state.count
        if ref.is_init:
            state.appender.inits.add(index)
        state.count += 1
        state.send.send_nowait((index, segment, ref))
        self.emit(StreamGrew(state.id, state.count, trio.current_time()))

    def _close(self, state: _Track) -> None:
        if not state.closed:
            state.closed = True
            state.send.close()

    def close_all(self) -> None:
        for state in self.tracks.values():
            self._close(state)
        self.done = True

    async def feed(self, state: _Track) -> None:
        """Fetch a track's segments in order, each once it is available."""
        async with trio.open_nursery() as nursery, state.receive:
            async for index, segment, ref in state.receive:
                if segment is not None:
                    available = self.clock.trio_time(segment.available_at)
                    await trio.sleep_until(available)
                    if segment.expires_at is not None:
                        deadline = self.clock.trio_time(segment.expires_at)
                        self.job.deadlines[state.id, index] = deadline
                token = object()
                await self.job._acquire(token)
                nursery.start_soon(self.job.run_segment, state.plan, index, ref, token, 1)

    def observe(self, event: Event) -> None:
        """Hook on the job's events: settle each track's appender as segments end."""
        if isinstance(event, SegmentDone) and event.stream in self.tracks:
            self.tracks[event.stream].appender.settle(event.index, True)
        elif isinstance(event, SegmentFailed) and event.stream in self.tracks:
            self.tracks[event.stream].appender.settle(event.index, False)


def _horizon(view: LiveView, now: float, options: LiveOptions) -> float:
    """How far ahead to list segments: until the next refresh, so that the feeders can
    wait for each one's availability instead of for the next manifest."""
    refresh = view.next_refresh if view.next_refresh is not None else now
    return max(refresh - now, options.default_refresh)


def _next_wake(view: LiveView, now: float, options: LiveOptions) -> float:
    """When to look at the manifest again: its refresh time, or (a manifest that does
    not change) when its next segment becomes available."""
    times = [t for t in (view.next_refresh, view.next_available) if t is not None]
    return min(times) if times else now + options.default_refresh


def _key(ref: SegmentRef) -> str:
    return f"{ref.url} {ref.byte_range}"


async def record_live(
    manifest: Manifest,
    manifest_url: str,
    spec: str | None,
    config: JobConfig,
    fetcher: Fetcher,
    emit: Emit,
    *,
    control: JobControl,
    options: LiveOptions,
    limits: ManifestLimits,
    session: Session | None = None,
    clock: WallClock | None = None,
) -> JobOutcome:
    """Record the live presentation until it ends, ``options.duration`` is reached or
    the user stops it; returns the outcome (``complete`` unless segments were lost)."""
    policy = config.retry
    clock = clock or WallClock.local()
    view = live_view(manifest, spec, clock.now(), limits=limits)
    await sync_clock(fetcher, view, clock, emit)
    now = clock.now()
    horizon = _horizon(view, now, options)
    view = live_view(
        manifest, spec, now, limits=limits, edge=not options.from_start, horizon=horizon
    )
    store = SegmentStore.for_output(config.output)
    session = session or Session.create(config.concurrency, config.host_limits)
    recorder_box: list[_Recorder] = []

    def observe(event: Event) -> None:
        if recorder_box:
            recorder_box[0].observe(event)
        emit(event)

    job = _Job(
        Plan(manifest_url, ()),
        config,
        fetcher,
        observe,
        random.Random(),
        store,
        session.limiter,
        control,
        session.hosts,
    )
    recorder = _Recorder(job, clock, options, config, emit)
    recorder_box.append(recorder)
    for track in view.tracks:
        recorder.add_track(track)
    store.prepare_live(list(recorder.tracks))
    infos = tuple(
        StreamInfo(t.id, t.plan.kind, t.plan.label, 0, str(t.appender.first), True)
        for t in recorder.tracks.values()
    )
    emit(JobStarted(manifest_url, manifest.title, infos, config.concurrency, trio.current_time()))
    for note in view.period_notes:
        emit(Notice(note, trio.current_time()))
    if options.from_start:
        firsts = [t.segments[0].order for t in view.tracks if t.segments]
        recorder.start_order = min(firsts, default=None)
    else:
        recorder.start_order = view.edge_start
    recorder.queue(view)
    location = view.location or manifest_url
    outcome = JobOutcome("cancelled", ())
    session.hosts.listeners.append(emit)
    stop = trio.CancelScope()

    def stop_recording() -> None:
        recorder.stopping = True
        stop.cancel()

    control.on_stop = stop_recording
    try:
        with stop:
            async with trio.open_nursery() as nursery:
                for state in recorder.tracks.values():
                    nursery.start_soon(recorder.feed, state)
                while not recorder.done:
                    wait = _next_wake(view, clock.now(), options)
                    await trio.sleep_until(clock.trio_time(wait))
                    if view.next_refresh is not None or view.next_available is None:

                        async def refresh(url: str = location) -> tuple[bytes, str]:
                            got = await fetcher.fetch_bytes(url, max_bytes=limits.max_bytes)
                            return got.content, got.url

                        what = f"manifest {location}"
                        body, final = await with_retries(what, refresh, policy)
                        manifest = parse_mpd(body, final, limits=limits)
                    now = clock.now()
                    view = live_view(
                        manifest,
                        spec,
                        now,
                        limits=limits,
                        previous=view,
                        since=recorder.start_order,
                        horizon=_horizon(view, now, options),
                    )
                    location = view.location or location
                    if recorder.start_order is None:
                        recorder.start_order = view.edge_start
                    recorder.queue(view)
        recorder.close_all()
        outputs = await _finish(recorder, config, emit)
        lost = len(job.failed)
        status = "partial" if lost else ("cancelled" if recorder.stopping else "complete")
        error = f"{lost} segment(s) missing (gaps in the recording)" if lost else None
        outcome = JobOutcome(status, outputs, error)  # type: ignore[arg-type]
    except TriosegError as exc:
        outcome = JobOutcome("failed", (), str(exc))
    finally:
        control.on_stop = None
        session.hosts.listeners.remove(emit)
        for state in recorder.tracks.values():
            state.appender.close()
        emit(JobFinished(outcome.status, outcome.outputs, outcome.error, trio.current_time()))
    return outcome


async def _finish(recorder: _Recorder, config: JobConfig, emit: Emit) -> tuple[str, ...]:
    from .mux import MuxInput

    outputs: list[str] = []
    inputs: list[MuxInput] = []
    kinds: set[str] = set()
    for state in recorder.tracks.values():
        state.appender.close()
        paths = state.appender.paths
        if not paths:
            continue
        if state.appender.split_parts:
            first = state.plan.kind not in kinds
            kinds.add(state.plan.kind)
            inputs.append(
                MuxInput(paths[0], state.plan.kind, state.plan.lang, tuple(paths[1:]), first)
            )
        else:
            outputs.append(str(paths[0]))
            emit(StreamFinished(state.id, str(paths[0]), trio.current_time()))
    if inputs:
        await recorder.job._mux(inputs)
        outputs.insert(0, str(config.output))
    if not config.keep_segments and not recorder.job.failed:
        await trio.to_thread.run_sync(recorder.job.store.remove)
    return tuple(outputs)
