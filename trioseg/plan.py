"""The download plan: what to fetch, in which order, for each selected stream.

Pure data, produced from a parsed manifest by :mod:`trioseg.select` and consumed by
the engine.  Every URL here is absolute; ``urls`` holds the alternatives derived from
sibling ``BaseURL`` elements, preferred first.

A Representation addressed by ``SegmentBase@indexRange`` cannot list its segments before
its ``sidx`` box is fetched: its plan holds a placeholder :class:`SegmentRef` (the whole
file, with :attr:`SegmentRef.index` set) which :func:`trioseg.sidx.expand_index` replaces
by the init range and one ranged SegmentRef per subsegment.
"""

from __future__ import annotations

from typing import Literal

import attrs

Kind = Literal["video", "audio", "text"]


@attrs.frozen
class ByteRange:
    """An HTTP byte range, inclusive at both ends; ``last`` None means to the end."""

    first: int
    last: int | None = None

    @classmethod
    def parse(cls, text: str) -> ByteRange:
        """Parse the MPD form ``"FIRST-LAST"`` (e.g. ``mediaRange="0-861"``)."""
        first_s, sep, last_s = text.strip().partition("-")
        if not sep or not first_s.isdigit() or (last_s and not last_s.isdigit()):
            raise ValueError(f"invalid byte range {text!r}")
        first = int(first_s)
        last = int(last_s) if last_s else None
        if last is not None and last < first:
            raise ValueError(f"invalid byte range {text!r}")
        return cls(first, last)

    @property
    def length(self) -> int | None:
        return None if self.last is None else self.last - self.first + 1

    def header(self) -> str:
        return f"bytes={self.first}-{'' if self.last is None else self.last}"

    def __str__(self) -> str:
        return f"{self.first}-{'' if self.last is None else self.last}"


@attrs.frozen
class IndexRef:
    """Where a SegmentBase Representation's segment index (a ``sidx`` box) is.

    Fetch :attr:`range` of :attr:`index_urls` (any alternative), then call
    :func:`trioseg.sidx.expand_index`.
    """

    #: the media file (alternatives); sidx offsets are byte offsets into it
    urls: tuple[str, ...]
    #: ``indexRange`` (or ``RepresentationIndex@range``)
    range: ByteRange
    #: ``Initialization@range``; None: the bytes before the index, when it is in the media file
    init_range: ByteRange | None = None
    #: ``Initialization@sourceURL`` resolved, when the init is in another file
    init_urls: tuple[str, ...] | None = None
    #: ``RepresentationIndex@sourceURL`` resolved, when the index is in another file
    index_urls: tuple[str, ...] | None = None
    #: the Period (key) the segments belong to
    period: str | None = None
    #: presentationTimeOffset in seconds: subtracted from sidx times
    offset: float = 0.0
    #: when set, only subsegments starting in [window_start, window_end) seconds of the
    #: file's timeline belong to this Period (several Periods sharing one file)
    window: tuple[float, float] | None = None

    @property
    def fetch_urls(self) -> tuple[str, ...]:
        """The URLs the index range is fetched from."""
        return self.index_urls or self.urls

    @property
    def init(self) -> SegmentRef | None:
        """The init segment the manifest gives, or the bytes before the index."""
        if self.init_urls is not None:
            return SegmentRef(self.init_urls, self.init_range, period=self.period)
        if self.init_range is not None:
            return SegmentRef(self.urls, self.init_range, period=self.period)
        if self.index_urls is None and self.range.first > 0:
            return SegmentRef(self.urls, ByteRange(0, self.range.first - 1), period=self.period)
        return None


@attrs.frozen
class SegmentRef:
    """One request's worth of media: an init or a media segment."""

    urls: tuple[str, ...]
    byte_range: ByteRange | None = None
    #: presentation time of the segment in seconds, relative to the Period start
    start: float | None = None
    duration: float | None = None
    #: the Period this segment belongs to (its id, or its index as text)
    period: str | None = None
    #: an init segment inside ``StreamPlan.segments``: a later Period of a joined stream
    #: whose initialization differs from the previous Period's
    is_init: bool = False
    #: set on a placeholder standing for the segments a sidx lists (whole file until expanded)
    index: IndexRef | None = None

    @property
    def url(self) -> str:
        return self.urls[0]


@attrs.frozen
class StreamPlan:
    """One selected Representation and everything to fetch for it."""

    id: str
    kind: Kind
    init: SegmentRef | None
    segments: tuple[SegmentRef, ...]
    bandwidth: int = 0
    codecs: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: str | None = None
    lang: str | None = None
    #: a file-type hint for naming the output: ``mp4``, ``webm``, ``ts``, ``vtt``, ``ttml``
    container: str | None = None
    #: Role@value of the AdaptationSet/Representation (``main``, ``subtitle``, ...)
    roles: tuple[str, ...] = ()
    #: the Periods (keys) this stream spans, in order
    periods: tuple[str, ...] = ()

    @property
    def pending_index(self) -> tuple[IndexRef, ...]:
        """The sidx indexes still to fetch and expand (see :func:`trioseg.sidx.expand_index`)."""
        refs = [s.index for s in self.segments if s.index is not None]
        return tuple(dict.fromkeys(refs))

    @property
    def label(self) -> str:
        """A short human description: ``1280x720 avc1.64001f 2.5 Mb/s``."""
        parts: list[str] = []
        if self.width and self.height:
            parts.append(f"{self.width}x{self.height}")
        if self.lang:
            parts.append(self.lang)
        if self.codecs:
            parts.append(self.codecs)
        if self.bandwidth:
            parts.append(
                f"{self.bandwidth / 1e6:.2f} Mb/s"
                if self.bandwidth >= 1e6
                else f"{self.bandwidth / 1e3:.0f} kb/s"
            )
        return " ".join(parts)


@attrs.frozen
class Plan:
    manifest_url: str
    streams: tuple[StreamPlan, ...]
    title: str | None = None
    #: mediaPresentationDuration in seconds, when known
    duration: float | None = None
    #: why some Periods could not be joined into continuous streams (one line each)
    period_notes: tuple[str, ...] = ()

    @property
    def pending_index(self) -> bool:
        """Whether some stream still needs its sidx fetched and expanded."""
        return any(s.pending_index for s in self.streams)
