"""The download plan: what to fetch, in which order, for each selected stream.

Pure data, produced from a parsed manifest by :mod:`trioseg.select` and consumed by
the engine.  Every URL here is absolute; ``urls`` holds the alternatives derived from
sibling ``BaseURL`` elements, preferred first.
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
class SegmentRef:
    """One request's worth of media: an init or a media segment."""

    urls: tuple[str, ...]
    byte_range: ByteRange | None = None
    #: presentation time of the segment in seconds, relative to the Period start
    start: float | None = None
    duration: float | None = None
    #: the Period this segment belongs to (its id, or its index as text)
    period: str | None = None

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
