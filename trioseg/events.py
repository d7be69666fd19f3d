"""Progress events: frozen values the engine sends on a trio memory channel.

The engine never prints; the headless reporter, ``--json`` and the full-screen UI all
fold these events with :class:`trioseg.progress.Progress`.  Each event class has a
``name`` used as the ``"event"`` key of its JSON form.

Segment indices count in download order within a stream: the init segment, when the
stream has one, is index 0 and the media segments follow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import attrs

if TYPE_CHECKING:
    import trio

__all__ = [
    "Event",
    "EventConsumer",
    "HostLimit",
    "JobFinished",
    "JobPaused",
    "JobStarted",
    "Listing",
    "MuxFinished",
    "MuxProgress",
    "MuxStarted",
    "Notice",
    "SegmentDone",
    "SegmentFailed",
    "SegmentRetry",
    "SegmentStarted",
    "Status",
    "StreamFinished",
    "StreamGrew",
    "StreamInfo",
]

Status = Literal["complete", "partial", "failed", "cancelled"]


@attrs.frozen
class StreamInfo:
    id: str
    kind: str
    label: str
    segments_total: int
    path: str | None
    has_init: bool = True


@attrs.frozen
class JobStarted:
    name: ClassVar[str] = "start"
    manifest_url: str
    title: str | None
    streams: tuple[StreamInfo, ...]
    concurrency: int
    at: float = 0.0


@attrs.frozen
class StreamGrew:
    """A live stream has more segments to fetch than announced so far."""

    name: ClassVar[str] = "stream_grew"
    stream: str
    segments_total: int
    at: float = 0.0


@attrs.frozen
class SegmentStarted:
    name: ClassVar[str] = "segment_started"
    stream: str
    index: int
    attempt: int
    at: float = 0.0


@attrs.frozen
class SegmentDone:
    name: ClassVar[str] = "segment_done"
    stream: str
    index: int
    nbytes: int
    #: True when the segment was already on disk from an earlier run
    resumed: bool = False
    at: float = 0.0
    #: the URL that served it (one of the segment's alternatives)
    url: str = ""


@attrs.frozen
class SegmentRetry:
    name: ClassVar[str] = "retry"
    stream: str
    index: int
    url: str
    attempt: int
    error: str
    delay: float
    at: float = 0.0


@attrs.frozen
class SegmentFailed:
    name: ClassVar[str] = "segment_failed"
    stream: str
    index: int
    url: str
    error: str
    attempts: int
    at: float = 0.0
    #: the segment's time span in seconds (relative to its Period), when known
    start: float | None = None
    end: float | None = None


@attrs.frozen
class HostLimit:
    """A host's connection limit changed (throttled, recovering) or it is avoided."""

    name: ClassVar[str] = "host_limit"
    host: str
    limit: int
    reason: str
    at: float = 0.0


@attrs.frozen
class StreamFinished:
    name: ClassVar[str] = "stream_finished"
    stream: str
    path: str | None
    at: float = 0.0


@attrs.frozen
class MuxStarted:
    name: ClassVar[str] = "mux_started"
    output: str
    at: float = 0.0


@attrs.frozen
class MuxProgress:
    name: ClassVar[str] = "mux_progress"
    output: str
    fraction: float
    at: float = 0.0


@attrs.frozen
class MuxFinished:
    name: ClassVar[str] = "mux_finished"
    output: str
    duration: float | None
    at: float = 0.0


@attrs.frozen
class Notice:
    """A warning for the user (failover, skipped work, ...)."""

    name: ClassVar[str] = "warning"
    message: str
    at: float = 0.0


@attrs.frozen
class Listing:
    """What ``-F`` or ``--simulate`` shows instead of downloading: ``data`` is the JSON
    object (its ``"event"`` is ``kind``), ``text`` the human form."""

    name: ClassVar[str] = "listing"
    kind: str
    data: dict[str, Any]
    text: str
    at: float = 0.0


@attrs.frozen
class JobPaused:
    """Fetching was paused (no new segment starts) or resumed."""

    name: ClassVar[str] = "paused"
    paused: bool
    at: float = 0.0


@attrs.frozen
class JobFinished:
    name: ClassVar[str] = "job_finished"
    status: Status
    outputs: tuple[str, ...]
    error: str | None = None
    at: float = 0.0


Event = (
    JobStarted
    | SegmentStarted
    | StreamGrew
    | SegmentDone
    | SegmentRetry
    | SegmentFailed
    | StreamFinished
    | HostLimit
    | MuxStarted
    | MuxProgress
    | MuxFinished
    | Notice
    | JobPaused
    | Listing
    | JobFinished
)


class EventConsumer(Protocol):
    """A front end: folds a job's events until the channel is closed."""

    async def consume(self, receive: trio.MemoryReceiveChannel[Event]) -> None: ...
