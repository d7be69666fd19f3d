"""The download engine: a trio nursery tree, job → stream → segment.

One :class:`trio.CapacityLimiter` bounds the whole run.  Each stream task walks its
segments in order and *acquires a slot before spawning* the segment task, so the number
of live tasks stays near the concurrency whatever the stream's length, and each stream's
init and first segment are the first requests it makes.  A segment task waiting out a
retry delay gives its slot back.

The engine never prints: it reports through ``emit`` (a trio memory channel's
``send_nowait``, in practice) and returns a :class:`JobOutcome`.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import trio

from .errors import FetchError, HTTPStatusError, MuxError, TriosegError
from .events import (
    Event,
    JobFinished,
    JobPaused,
    JobStarted,
    MuxFinished,
    MuxProgress,
    MuxStarted,
    Notice,
    SegmentDone,
    SegmentFailed,
    SegmentRetry,
    SegmentStarted,
    Status,
    StreamFinished,
    StreamInfo,
)
from .fetch import Fetcher
from .hosts import Hosts, take
from .plan import Plan, SegmentRef, StreamPlan
from .progress import host_of
from .retry import RetryPolicy
from .store import SegmentStore, safe_name

__all__ = [
    "JobConfig",
    "JobControl",
    "JobOutcome",
    "Session",
    "planned_outputs",
    "run_job",
    "stream_output_path",
    "unwrap_group",
]

if TYPE_CHECKING:
    from .mux import MuxInput, MuxResult

Emit = Callable[[Event], None]


@attrs.frozen
class JobConfig:
    output: Path
    concurrency: int = 16
    retry: RetryPolicy = attrs.Factory(RetryPolicy)
    mux: bool = True
    container: str = "mp4"
    keep_segments: bool = False
    #: discard an earlier run's segments and journal instead of resuming
    fresh: bool = False
    #: connection caps for particular hosts (below the run's concurrency)
    host_limits: Mapping[str, int] = attrs.Factory(dict)


@attrs.frozen
class JobOutcome:
    status: Status
    outputs: tuple[str, ...]
    error: str | None = None


def stream_output_path(output: Path, stream: StreamPlan) -> Path:
    """The file of one stream beside the output (``--no-mux``, and subtitles whatever the
    container): ``movie.video-720p.mp4``, ``movie.audio-en.m4a``, ``movie.text-fr.vtt``."""
    container = stream.container or "mp4"
    if container == "mp4":
        ext = ".m4a" if stream.kind == "audio" else ".mp4"
    else:
        ext = "." + safe_name(container, fallback="bin")
    return output.with_name(f"{output.stem}.{stream.kind}-{safe_name(stream.id)}{ext}")


def text_output_path(output: Path, stream: StreamPlan) -> Path:
    """Where a subtitle track is saved beside the output, as plain WebVTT or TTML."""
    codecs = (stream.codecs or "").lower()
    container = stream.container or ""
    ext = "ttml" if "stpp" in codecs or container == "ttml" else "vtt"
    if container == "srt":
        ext = "srt"
    return output.with_name(f"{output.stem}.text-{safe_name(stream.id)}.{ext}")


def _muxable(stream: StreamPlan, config: JobConfig) -> bool:
    """Streams that go into the output container; the others are saved beside it."""
    return (
        config.mux
        and stream.kind in ("video", "audio")
        and (stream.container or "mp4")
        in (
            "mp4",
            "webm",
        )
    )


def _beside(stream: StreamPlan, config: JobConfig) -> Path:
    """The file a stream that is not muxed is written to."""
    if config.mux and stream.kind == "text":
        return text_output_path(config.output, stream)
    return stream_output_path(config.output, stream)


def planned_outputs(plan: Plan, config: JobConfig) -> list[str]:
    """Every file a complete run of ``plan`` writes."""
    paths = [str(_beside(s, config)) for s in plan.streams if not _muxable(s, config)]
    if any(_muxable(s, config) for s in plan.streams):
        paths.insert(0, str(config.output))
    return paths


def _all_segments(stream: StreamPlan) -> list[SegmentRef]:
    return ([stream.init] if stream.init is not None else []) + list(stream.segments)


@attrs.define(eq=False)
class JobControl:
    """Commands from a front end to a running job.  Call its methods in trio's thread
    (from a trio task, or through ``TrioToken.run_sync_soon`` in guest mode)."""

    emit: Emit | None = None
    paused: bool = False
    #: the signal that cancelled the job, if one did
    signal: int | None = None
    _running: trio.Event = attrs.Factory(trio.Event)
    _scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    _retry: Callable[[], int] | None = None
    #: a live recording installs this: the first stop request ends the recording
    #: gracefully (the files are completed); a second one cancels at once
    on_stop: Callable[[], object] | None = None

    def __attrs_post_init__(self) -> None:
        self._running.set()

    @property
    def scope(self) -> trio.CancelScope:
        """The cancel scope the job runs in."""
        return self._scope

    def cancel(self, signum: int | None = None) -> None:
        """Stop the job gracefully: in-flight segments are abandoned, none is lost."""
        if self.signal is None:
            self.signal = signum
        if self.on_stop is not None:
            stop, self.on_stop = self.on_stop, None
            stop()
            return
        self._scope.cancel()

    def set_paused(self, paused: bool) -> None:
        """Pause (no new segment starts; in-flight ones finish) or resume fetching."""
        if paused == self.paused:
            return
        self.paused = paused
        if paused:
            self._running = trio.Event()
        else:
            self._running.set()
        if self.emit is not None:
            self.emit(JobPaused(paused, trio.current_time()))

    def toggle_pause(self) -> None:
        self.set_paused(not self.paused)

    async def wait_running(self) -> None:
        await self._running.wait()

    def retry_failed(self) -> int:
        """Retry every failed segment now, with a fresh retry budget.

        Returns how many were queued: 0 when none failed or the job has stopped fetching.
        """
        return self._retry() if self._retry is not None else 0


@attrs.define
class _Job:
    plan: Plan
    config: JobConfig
    fetcher: Fetcher
    emit: Emit
    rng: random.Random
    store: SegmentStore
    limiter: trio.CapacityLimiter
    control: JobControl
    hosts: Hosts
    failed: dict[tuple[str, int], tuple[StreamPlan, SegmentRef, int]] = attrs.Factory(dict)
    done: int = 0
    work: trio.Nursery | None = None
    #: live segments: the trio time at which each leaves the time-shift buffer; until
    #: then every error (a 404 for a late segment too) is worth another try
    deadlines: dict[tuple[str, int], float] = attrs.Factory(dict)

    async def run_stream(self, stream: StreamPlan) -> None:
        async with trio.open_nursery() as nursery:
            for index, segment in enumerate(_all_segments(stream)):
                entry = self.store.completed(stream.id, index)
                if entry is not None:
                    self.done += 1
                    now = trio.current_time()
                    self.emit(SegmentDone(stream.id, index, entry.size, True, now, entry.url))
                    continue
                token = object()
                await self._acquire(token)
                nursery.start_soon(self.run_segment, stream, index, segment, token, 1)

    def retry_failed(self) -> int:
        if self.work is None:
            return 0
        queued = list(self.failed.values())
        self.failed.clear()
        for stream, segment, attempts in queued:
            index = next(i for i, s in enumerate(_all_segments(stream)) if s is segment)
            self.work.start_soon(self.rerun_segment, stream, index, segment, attempts + 1)
        return len(queued)

    async def rerun_segment(
        self, stream: StreamPlan, index: int, segment: SegmentRef, first_attempt: int
    ) -> None:
        token = object()
        await self._acquire(token)
        await self.run_segment(stream, index, segment, token, first_attempt)

    async def _acquire(self, token: object) -> None:
        """Take a slot of the run's limiter, never while the job is paused.

        A free slot still costs one pass through the scheduler: when several segments
        end together, their successors then start one per pass instead of all at once,
        so their requests reach the origin spread out rather than in one burst (against
        a 50 ms origin that queues requests, a burst made the run 8 % slower).
        """
        while True:
            if self.control.paused:
                await self.control.wait_running()
            if not await take(self.limiter, token):
                await trio.lowlevel.checkpoint()
            if not self.control.paused:
                return
            self.limiter.release_on_behalf_of(token)

    async def run_segment(
        self,
        stream: StreamPlan,
        index: int,
        segment: SegmentRef,
        token: object,
        first_attempt: int,
    ) -> None:
        """Fetch one segment with retries; the caller has acquired ``token``'s slot."""
        held = True
        attempt = first_attempt - 1
        previous: str | None = None
        try:
            while True:
                attempt += 1
                tries = attempt - first_attempt + 1
                url = self.hosts.choose(segment.urls, tries)
                host = self.hosts.get(url)
                if previous is not None and host_of(previous) != host.name:
                    self.emit(
                        Notice(
                            f"{stream.kind} {stream.id} segment {index}: failing over from "
                            f"{host_of(previous)} to {host.name}",
                            trio.current_time(),
                        )
                    )
                previous = url
                await host.wait_unblocked()
                self.emit(SegmentStarted(stream.id, index, attempt, trio.current_time()))
                try:
                    borrower = trio.lowlevel.current_task()
                    await take(host.limiter, borrower)
                    try:
                        with self.store.open_segment(
                            stream.id, index, url, segment.byte_range
                        ) as sink:
                            nbytes = await self.fetcher.fetch_to(
                                url, sink, byte_range=segment.byte_range
                            )
                    finally:
                        host.limiter.release_on_behalf_of(borrower)
                except FetchError as exc:
                    self.hosts.failed(host, exc)
                    delay, error = self._next_try(exc, tries, segment, stream.id, index)
                    if delay is None:
                        self.failed[stream.id, index] = (stream, segment, attempt)
                        start = segment.start
                        end = None if start is None else start + (segment.duration or 0.0)
                        self.emit(
                            SegmentFailed(
                                stream.id,
                                index,
                                url,
                                error,
                                attempt,
                                trio.current_time(),
                                start,
                                end,
                            )
                        )
                        return
                    self.emit(
                        SegmentRetry(
                            stream.id, index, url, attempt, error, delay, trio.current_time()
                        )
                    )
                    self.limiter.release_on_behalf_of(token)
                    held = False
                    await trio.sleep(delay)
                    await self._acquire(token)
                    held = True
                    continue
                self.hosts.succeeded(host)
                self.done += 1
                self.emit(SegmentDone(stream.id, index, nbytes, False, trio.current_time(), url))
                return
        finally:
            if held:
                self.limiter.release_on_behalf_of(token)

    def _next_try(
        self, exc: FetchError, tries: int, segment: SegmentRef, stream: str, index: int
    ) -> tuple[float | None, str]:
        """How long to wait before trying again (None: give up), and the error to report.

        A live segment is worth another try until it leaves the time-shift buffer, at
        least once a second (a late segment answers 404 until it is published)."""
        deadline = self.deadlines.get((stream, index))
        if deadline is not None:
            delay = min(self.config.retry.delay(exc, tries, self.rng), 1.0)
            if trio.current_time() + delay < deadline:
                return delay, str(exc)
            return None, f"gap: {exc}, and the segment left the time-shift buffer"
        if not self._should_retry(exc, tries, segment):
            return None, str(exc)
        return self.config.retry.delay(exc, tries, self.rng), str(exc)

    def _should_retry(self, exc: FetchError, attempt: int, segment: SegmentRef) -> bool:
        if attempt > self.config.retry.retries:
            return False
        if exc.transient:
            return True
        # a permanent error on one BaseURL may not hold on the next alternative
        return isinstance(exc, HTTPStatusError) and attempt < len(segment.urls)

    def _present(self, stream: StreamPlan) -> list[int]:
        """Indices of the stream's segments that are on disk (all but the failed ones)."""
        return [i for i in range(len(_all_segments(stream))) if (stream.id, i) not in self.failed]

    async def finish(self) -> tuple[tuple[str, ...], list[str]]:
        """Assemble each stream, mux and verify; returns the paths written and the
        problems found.  With failed segments the output is written with gaps."""
        config = self.config
        if any(_muxable(s, config) or s.kind == "text" for s in self.plan.streams):
            # PyAV is imported only when there is something to mux or convert
            from . import subtitles
            from .mux import MuxInput
        outputs: list[str] = []
        inputs: list[MuxInput] = []
        seen_kinds: set[str] = set()
        for stream in self.plan.streams:
            present = self._present(stream)
            if _muxable(stream, config):
                paths = []
                for number, indices in enumerate(_parts(stream, present)):
                    dest = self.store.workdir / f"{safe_name(stream.id)}.p{number}.mp4"
                    paths.append(await self._stream_file(stream, indices, dest))
                if paths:
                    first = stream.kind not in seen_kinds
                    seen_kinds.add(stream.kind)
                    inputs.append(
                        MuxInput(paths[0], stream.kind, stream.lang, tuple(paths[1:]), first)
                    )
            elif config.mux and stream.kind == "text":
                raw = self.store.workdir / f"{safe_name(stream.id)}.text"
                raw = await self._stream_file(stream, present, raw)
                target = text_output_path(config.output, stream)
                convert = functools.partial(
                    subtitles.convert,
                    raw,
                    stream.codecs,
                    stream.container,
                    target.parent,
                    target.stem,
                    timestamp_map=False,
                )
                dest = await trio.to_thread.run_sync(convert)
                outputs.append(str(dest))
                self.emit(StreamFinished(stream.id, str(dest), trio.current_time()))
                if config.container == "matroska" and dest.suffix in (".vtt", ".srt"):
                    first = "text" not in seen_kinds
                    seen_kinds.add("text")
                    inputs.append(MuxInput(dest, "text", stream.lang, (), first))
            else:
                dest = stream_output_path(config.output, stream)
                assemble = functools.partial(
                    self.store.assemble, stream.id, 0, dest, indices=present, move=True
                )
                await trio.to_thread.run_sync(assemble)
                outputs.append(str(dest))
                self.emit(StreamFinished(stream.id, str(dest), trio.current_time()))
        problems: list[str] = []
        if inputs:
            await self._mux(inputs)
            outputs.insert(0, str(config.output))
            for stream in self.plan.streams:
                if _muxable(stream, config):
                    self.emit(StreamFinished(stream.id, str(config.output), trio.current_time()))
            problems = await self._verify(
                ["subtitle" if i.kind == "text" else i.kind for i in inputs]
            )
        if not config.keep_segments and not self.failed and not problems:
            await trio.to_thread.run_sync(self.store.remove)
        return tuple(outputs), problems

    async def _stream_file(self, stream: StreamPlan, indices: list[int], dest: Path) -> Path:
        """A file holding exactly these segments: the stream's data file when it does
        (no copy), else ``dest``, assembled."""
        whole = self.store.data_file(stream.id, indices)
        if whole is not None:
            return whole
        assemble = functools.partial(self.store.assemble, stream.id, 0, dest, indices=indices)
        await trio.to_thread.run_sync(assemble)
        return dest

    async def _verify(self, kinds: list[str]) -> list[str]:
        plan = self.plan
        durations = [
            ref.duration for s in plan.streams for ref in s.segments if ref.duration is not None
        ]
        tolerance = max(durations, default=10.0)
        expected = plan.duration
        if expected is None and durations:
            expected = max(
                sum(ref.duration or 0 for ref in s.segments)
                for s in plan.streams
                if _muxable(s, self.config)
            )
        from .verify import verify_output

        check = functools.partial(
            verify_output,
            self.config.output,
            kinds,
            expected_duration=None if self.failed else expected,
            tolerance=tolerance,
            gaps_allowed=bool(self.failed),
            gap_threshold=max(min(durations, default=1.0) / 2, 0.1),
        )
        result = await trio.to_thread.run_sync(check)
        for gap in result.gaps:
            self.emit(
                Notice(
                    f"{gap.kind} has no media from {gap.start:.2f} s to {gap.end:.2f} s "
                    "(segments that failed)",
                    trio.current_time(),
                )
            )
        return list(result.problems)

    async def _mux(self, inputs: list[MuxInput]) -> None:
        output = self.config.output
        part = output.with_name(output.name + ".part")
        self.emit(MuxStarted(str(output), trio.current_time()))
        token = trio.lowlevel.current_trio_token()
        cancelled = threading.Event()
        last = [0.0]

        def progress(fraction: float) -> None:
            if cancelled.is_set():
                raise MuxError("muxing was cancelled")
            if fraction - last[0] >= 0.01 or fraction >= 1.0:
                last[0] = fraction
                event = MuxProgress(str(output), round(fraction, 3))
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(
                        lambda: self.emit(attrs.evolve(event, at=trio.current_time()))
                    )

        finished = threading.Event()

        from .mux import mux

        def job() -> MuxResult:
            try:
                return mux(inputs, part, container=self.config.container, progress=progress)
            finally:
                finished.set()

        try:
            result = await trio.to_thread.run_sync(job, abandon_on_cancel=True)
            part.replace(output)
        except trio.Cancelled:
            # stop the worker at its next progress call, and wait for it to clean up
            cancelled.set()
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(finished.wait)
            part.unlink(missing_ok=True)
            raise
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise MuxError(f"cannot write {output}: {exc.strerror or exc}") from None
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        self.emit(MuxFinished(str(output), result.duration, trio.current_time()))


def _parts(stream: StreamPlan, present: list[int]) -> list[list[int]]:
    """The present segments split into runs that each start with their init segment:
    a later Period whose init differs starts a new part (muxed as a continuation)."""
    refs = _all_segments(stream)
    parts: list[list[int]] = []
    init: int | None = 0 if stream.init is not None else None
    current: list[int] = []
    for index in present:
        ref = refs[index]
        if index == 0 and stream.init is not None:
            continue
        if ref.is_init:
            if current:
                parts.append(current)
            init, current = index, []
            continue
        if not current and init is not None:
            current.append(init)
        current.append(index)
    if current:
        parts.append(current)
    return parts


def unwrap_group(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to report from a nursery's group: a lone error or the first of ours."""
    matched, rest = group.split(TriosegError)
    if matched is not None and rest is None:
        first: BaseException = matched
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        return first
    return group


@attrs.define(eq=False)
class Session:
    """What concurrent jobs share: the run's connection budget and per-host state."""

    limiter: trio.CapacityLimiter
    hosts: Hosts

    @classmethod
    def create(cls, concurrency: int, host_limits: Mapping[str, int] | None = None) -> Session:
        return cls(
            trio.CapacityLimiter(concurrency), Hosts(concurrency, caps=dict(host_limits or {}))
        )


async def run_job(
    plan: Plan,
    config: JobConfig,
    fetcher: Fetcher,
    emit: Emit,
    *,
    rng: random.Random | None = None,
    control: JobControl | None = None,
    session: Session | None = None,
) -> JobOutcome:
    """Download every stream of ``plan`` and write the output.

    Emits :class:`JobStarted` first and :class:`JobFinished` last (also when cancelled,
    in which case the :class:`trio.Cancelled` propagates after it).  Jobs that run at
    the same time share one ``session`` (one connection budget, one view of each host).
    """
    store = SegmentStore.for_output(config.output)
    control = control or JobControl()
    session = session or Session.create(config.concurrency, config.host_limits)
    job = _Job(
        plan,
        config,
        fetcher,
        emit,
        rng or random.Random(),
        store,
        session.limiter,
        control,
        session.hosts,
    )
    infos = tuple(
        StreamInfo(
            s.id,
            s.kind,
            s.label,
            len(_all_segments(s)),
            str(config.output) if _muxable(s, config) else str(_beside(s, config)),
            s.init is not None,
        )
        for s in plan.streams
    )
    # a journal of another plan is refused before anything starts
    store.prepare(plan, fresh=config.fresh, place=not config.keep_segments)
    emit(JobStarted(plan.manifest_url, plan.title, infos, config.concurrency, trio.current_time()))
    outcome = JobOutcome("cancelled", ())
    session.hosts.listeners.append(emit)
    try:
        control.emit = emit
        control._retry = job.retry_failed
        try:
            async with trio.open_nursery() as nursery:
                job.work = nursery
                for stream in plan.streams:
                    nursery.start_soon(job.run_stream, stream)
        except BaseExceptionGroup as group:
            raise unwrap_group(group) from None
        finally:
            job.work = None
            control._retry = None
        total_failed = len(job.failed)
        if total_failed and not job.done:
            outcome = JobOutcome("failed", (), "every segment failed")
        else:
            outputs, problems = await job.finish()
            if total_failed:
                problems.insert(
                    0,
                    f"{total_failed} segment(s) failed, the output has gaps; "
                    "re-run the same command to fetch them",
                )
            status: Status = "partial" if problems else "complete"
            outcome = JobOutcome(status, outputs, "; ".join(problems) or None)
    except TriosegError as exc:
        outcome = JobOutcome("failed", (), str(exc))
    finally:
        store.close()
        session.hosts.listeners.remove(emit)
        emit(JobFinished(outcome.status, outcome.outputs, outcome.error, trio.current_time()))
    return outcome
