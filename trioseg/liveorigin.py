"""A live DASH origin for tests: a ``type="dynamic"`` presentation looped from real media.

:class:`LivePresentation` takes the files of a generated presentation
(:func:`trioseg.media.make_dash` with ``addressing="number"``: per Representation an init
segment and N media segments of equal duration) and serves them as an endless live stream
timed by a clock it is given::

    live = LivePresentation(content, availability_start=T0, clock=lambda: T0 + trio.current_time())
    transport = httpx.MockTransport(live.handler())      # virtual time, no sockets
    origin = live.origin()                               # or real HTTP through trioseg.origin
    base_url = await nursery.start(origin.serve)

Segment number ``k`` of a Period (numbered from 1 at the Period start) is file
``(k - 1) % N`` of its Representation.  Times (all epoch seconds, as ``clock()`` returns):
segment ``k`` of a Period starting ``S`` seconds after ``availability_start`` with segments
of ``d`` seconds ends at ``E = availability_start + S + k*d``; it is served from
``E - availability_time_offset`` (plus ``late[k]`` seconds) until ``E + d + tsbd``, and
answers 404 outside that time.

Paths: ``/manifest.mpd`` (and the path of ``location``, when given), ``utc_path`` (the
clock as ISO 8601 with milliseconds), ``/live/<period>/<rep>/init.mp4`` and
``/live/<period>/<rep>/<k>.m4s`` (``t<time>.m4s`` with ``addressing="timeline"``, the time in
milliseconds from the Period start).  Every request is recorded in
:attr:`LivePresentation.requests`.

``period_change_at`` (epoch seconds, a whole number of segments after
``availability_start``): from then on the MPD has a second Period starting there, with the
same AdaptationSet and Representation ids and numbering from 1 again; the first Period gets a
duration and leaves the MPD once all of its segments have expired.  ``end_at`` (epoch
seconds): the presentation ends there; once ``clock()`` reaches it, the MPD is
``type="static"`` with a ``mediaPresentationDuration`` and lists every segment.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import attrs

from .media import DashContent
from .origin import FaultPlan, Origin

if TYPE_CHECKING:
    import httpx

__all__ = ["LivePresentation", "LiveRequest", "iso_time", "trio_clock"]

TIMESCALE = 1000
_MPD_NS = "urn:mpeg:dash:schema:mpd:2011"
_UTC_SCHEME = "urn:mpeg:dash:utc:http-iso:2014"
_REP_ATTRIBUTES = (
    "mimeType",
    "codecs",
    "bandwidth",
    "width",
    "height",
    "frameRate",
    "sar",
    "audioSamplingRate",
)

Reply = tuple[int, list[tuple[str, str]], bytes]


@attrs.frozen
class LiveRequest:
    """One request the live origin answered."""

    method: str
    path: str
    status: int
    #: clock() when it was answered (epoch seconds)
    time: float


@attrs.frozen
class _Rep:
    id: str
    kind: str
    adaptation_id: str
    adaptation_attributes: tuple[tuple[str, str], ...]
    attributes: tuple[tuple[str, str], ...]
    init: bytes
    segments: tuple[bytes, ...]


@attrs.frozen
class _Period:
    id: str
    #: seconds from availability_start
    start: Fraction
    #: seconds; None: open
    duration: Fraction | None


def iso_time(seconds: float) -> str:
    """Epoch ``seconds`` as ``2026-11-21T07:00:00.123Z`` (milliseconds, UTC)."""
    millis = math.floor(seconds * 1000 + 0.5)
    moment = datetime.datetime.fromtimestamp(millis // 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis % 1000:03d}Z"


def trio_clock(epoch_at_zero: float) -> Callable[[], float]:
    """A clock for virtual-time tests: ``epoch_at_zero + trio.current_time()``."""
    import trio

    return lambda: epoch_at_zero + trio.current_time()


def _seconds(value: Fraction) -> str:
    text = f"{float(value):.3f}".rstrip("0").rstrip(".")
    return f"PT{text}S"


def _millis(value: float) -> Fraction:
    return Fraction(round(Fraction(value) * 1000), 1000)


def _read_reps(content: DashContent) -> list[_Rep]:
    root = ET.parse(content.manifest).getroot()
    q = f"{{{_MPD_NS}}}"
    found: dict[str, _Rep] = {}
    for aset in root.iter(f"{q}AdaptationSet"):
        aset_attrs = tuple(
            (k, v) for k, v in aset.attrib.items() if k in ("contentType", "frameRate", "lang")
        )
        for rep in aset.iter(f"{q}Representation"):
            files = content.representation(rep.attrib["id"])
            found[files.id] = _Rep(
                id=files.id,
                kind=files.kind,
                adaptation_id=aset.get("id", files.id),
                adaptation_attributes=aset_attrs,
                attributes=tuple((k, v) for k, v in rep.attrib.items() if k in _REP_ATTRIBUTES),
                init=files.init.read_bytes(),
                segments=tuple(path.read_bytes() for path in files.segments),
            )
    return [found[r.id] for r in content.representations]


class LivePresentation:
    """A live presentation looped from ``content``; see the module docstring."""

    def __init__(
        self,
        content: DashContent,
        *,
        availability_start: float,
        clock: Callable[[], float],
        addressing: Literal["number", "timeline"] = "number",
        tsbd: float = 30.0,
        minimum_update_period: float = 2.0,
        end_at: float | None = None,
        period_change_at: float | None = None,
        late: Mapping[int, float] | None = None,
        location: str | None = None,
        utc_path: str = "/time",
        availability_time_offset: float = 0.0,
        suggested_presentation_delay: float | None = None,
    ) -> None:
        if addressing not in ("number", "timeline"):
            raise ValueError(f"unknown addressing {addressing!r}")
        self.content = content
        self.clock = clock
        self.addressing = addressing
        self.reps = _read_reps(content)
        count = len(self.reps[0].segments)
        #: segment duration in seconds (exact, whole milliseconds)
        self.segment_duration = _millis(content.duration) / count
        if (self.segment_duration * TIMESCALE).denominator != 1:
            raise ValueError("the segment duration must be a whole number of milliseconds")
        self.ast = _millis(availability_start)
        self.tsbd = _millis(tsbd)
        self.minimum_update_period = _millis(minimum_update_period)
        self.ato = _millis(availability_time_offset)
        self.suggested_presentation_delay = (
            _millis(suggested_presentation_delay)
            if suggested_presentation_delay is not None
            else 2 * self.segment_duration
        )
        self.change = self._media_time(period_change_at, "period_change_at")
        self.end = self._media_time(end_at, "end_at") if end_at is not None else None
        self.late = dict(late or {})
        self.location = location
        self.utc_path = "/" + utc_path.lstrip("/")
        self.manifest_paths = {"/manifest.mpd"}
        if location is not None:
            self.manifest_paths.add(urlsplit(location).path or "/manifest.mpd")
        self.requests: list[LiveRequest] = []

    def _media_time(self, at: float | None, name: str) -> Fraction | None:
        if at is None:
            return None
        offset = _millis(at) - self.ast
        if offset <= 0 or (offset / self.segment_duration).denominator != 1:
            raise ValueError(f"{name} must be a whole number of segments after the start")
        return offset

    # -- time -----------------------------------------------------------------------------------

    def now(self) -> Fraction:
        return Fraction(self.clock())

    def ended(self, now: Fraction | None = None) -> bool:
        """Whether the MPD is static by now."""
        now = self.now() if now is None else now
        return self.end is not None and now >= self.ast + self.end

    def periods(self, now: Fraction | None = None) -> list[_Period]:
        """The Periods the presentation has at ``now`` (expired ones included)."""
        now = self.now() if now is None else now
        if self.change is not None and now >= self.ast + self.change:
            second_end = self.end - self.change if self.end is not None else None
            return [_Period("p0", Fraction(0), self.change), _Period("p1", self.change, second_end)]
        return [_Period("p0", Fraction(0), self.end)]

    def _count(self, period: _Period) -> int | None:
        """How many segments ``period`` has in all (None: unbounded)."""
        length = period.duration
        if length is None and self.end is not None:
            length = self.end - period.start
        if length is None:
            return None
        return math.ceil(length / self.segment_duration)

    def segment_end(self, period: _Period, number: int) -> Fraction:
        """Epoch seconds at which segment ``number`` of ``period`` ends."""
        return self.ast + period.start + number * self.segment_duration

    def available_at(self, period: _Period, number: int) -> Fraction:
        return self.segment_end(period, number) - self.ato

    def expires_at(self, period: _Period, number: int) -> Fraction:
        return self.segment_end(period, number) + self.segment_duration + self.tsbd

    def _exists(self, period: _Period, number: int) -> bool:
        count = self._count(period)
        return number >= 1 and (count is None or number <= count)

    def listed(self, period: _Period, now: Fraction) -> range:
        """The numbers of ``period`` that are available and not expired at ``now``."""
        d = self.segment_duration
        base = self.ast + period.start
        newest = math.floor((now - base + self.ato) / d)
        oldest = math.floor((now - base - self.tsbd - d) / d) + 1
        count = self._count(period)
        if count is not None:
            newest = min(newest, count)
        return range(max(oldest, 1), newest + 1)

    # -- the manifest ---------------------------------------------------------------------------

    def manifest(self, now: Fraction | None = None) -> bytes:
        """The MPD as it is at ``now``."""
        now = self.now() if now is None else now
        static = self.ended(now)
        ET.register_namespace("", _MPD_NS)
        q = f"{{{_MPD_NS}}}"
        d = self.segment_duration
        root = ET.Element(
            f"{q}MPD",
            {
                "profiles": "urn:mpeg:dash:profile:isoff-live:2011",
                "type": "static" if static else "dynamic",
                "availabilityStartTime": iso_time(float(self.ast)),
                "publishTime": iso_time(float(now)),
                "minBufferTime": _seconds(d),
                "maxSegmentDuration": _seconds(d),
            },
        )
        if static:
            assert self.end is not None
            root.set("mediaPresentationDuration", _seconds(self.end))
        else:
            root.set("minimumUpdatePeriod", _seconds(self.minimum_update_period))
            root.set("timeShiftBufferDepth", _seconds(self.tsbd))
            root.set("suggestedPresentationDelay", _seconds(self.suggested_presentation_delay))
        if self.location is not None and not static:
            ET.SubElement(root, f"{q}Location").text = self.location
        for period in self.periods(now):
            count = self._count(period)
            last_end = self.expires_at(period, count) if count is not None and not static else None
            if last_end is not None and now >= last_end:
                continue
            attributes = {"id": period.id, "start": _seconds(period.start)}
            if period.duration is not None:
                attributes["duration"] = _seconds(period.duration)
            element = ET.SubElement(root, f"{q}Period", attributes)
            ET.SubElement(element, f"{q}BaseURL").text = f"/live/{period.id}/"
            self._adaptation_sets(element, period, now, static)
        ET.SubElement(root, f"{q}UTCTiming", {"schemeIdUri": _UTC_SCHEME, "value": self.utc_path})
        ET.indent(root)
        data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return data

    def _adaptation_sets(
        self, element: ET.Element, period: _Period, now: Fraction, static: bool
    ) -> None:
        q = f"{{{_MPD_NS}}}"
        ticks = int(self.segment_duration * TIMESCALE)
        sets: dict[str, ET.Element] = {}
        for rep in self.reps:
            aset = sets.get(rep.adaptation_id)
            if aset is None:
                aset = ET.SubElement(
                    element,
                    f"{q}AdaptationSet",
                    {"id": rep.adaptation_id, **dict(rep.adaptation_attributes)},
                )
                aset.set("segmentAlignment", "true")
                aset.set("startWithSAP", "1")
                sets[rep.adaptation_id] = aset
            node = ET.SubElement(aset, f"{q}Representation", {"id": rep.id, **dict(rep.attributes)})
            template = ET.SubElement(
                node,
                f"{q}SegmentTemplate",
                {"timescale": str(TIMESCALE), "initialization": "$RepresentationID$/init.mp4"},
            )
            if self.ato:
                template.set("availabilityTimeOffset", f"{float(self.ato):g}")
            if self.addressing == "number":
                template.set("media", "$RepresentationID$/$Number$.m4s")
                template.set("duration", str(ticks))
                template.set("startNumber", "1")
                continue
            numbers = (
                range(1, (self._count(period) or 0) + 1) if static else self.listed(period, now)
            )
            template.set("media", "$RepresentationID$/t$Time$.m4s")
            template.set("startNumber", str(numbers.start if numbers else 1))
            timeline = ET.SubElement(template, f"{q}SegmentTimeline")
            if numbers:
                attributes = {"t": str((numbers.start - 1) * ticks), "d": str(ticks)}
                if len(numbers) > 1:
                    attributes["r"] = str(len(numbers) - 1)
                ET.SubElement(timeline, f"{q}S", attributes)

    # -- serving --------------------------------------------------------------------------------

    def respond(self, method: str, path: str) -> Reply:
        """Answer one request (``path`` without query), and record it."""
        now = self.now()
        status, content_type, body = self._answer(path.split("?", 1)[0], now)
        if method not in ("GET", "HEAD"):
            status, content_type, body = 405, "text/plain; charset=utf-8", b"method not allowed\n"
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Date", email.utils.formatdate(float(now), usegmt=True)),
            ("Cache-Control", "no-store"),
        ]
        self.requests.append(LiveRequest(method, path, status, float(now)))
        return status, headers, (b"" if method == "HEAD" else body)

    def route(self, method: str, path: str) -> Reply:
        """:attr:`trioseg.origin.Origin.routes`: every path is answered here."""
        return self.respond(method, path)

    def _answer(self, path: str, now: Fraction) -> tuple[int, str, bytes]:
        if path in self.manifest_paths:
            return 200, "application/dash+xml", self.manifest(now)
        if path == self.utc_path:
            return 200, "text/plain; charset=utf-8", iso_time(float(now)).encode()
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "live":
            return _not_found()
        _, period_id, rep_id, name = parts
        period = next((p for p in self.periods(now) if p.id == period_id), None)
        rep = next((r for r in self.reps if r.id == rep_id), None)
        if period is None or rep is None:
            return _not_found()
        if name == "init.mp4":
            return 200, "video/mp4", rep.init
        number = self._number(name)
        if number is None or not self._exists(period, number):
            return _not_found()
        opens = self.available_at(period, number) + _millis(self.late.get(number, 0.0))
        if now < opens or now >= self.expires_at(period, number):
            return _not_found()
        return 200, "video/mp4", rep.segments[(number - 1) % len(rep.segments)]

    def _number(self, name: str) -> int | None:
        stem, _, extension = name.partition(".")
        if extension != "m4s":
            return None
        if self.addressing == "timeline":
            if not stem.startswith("t") or not stem[1:].isdigit():
                return None
            ticks = int(stem[1:])
            step = int(self.segment_duration * TIMESCALE)
            return ticks // step + 1 if ticks % step == 0 else None
        return int(stem) if stem.isdigit() else None

    def file_for(self, rep_id: str, number: int) -> bytes:
        """The bytes served for segment ``number`` of ``rep_id`` (any Period)."""
        rep = next(r for r in self.reps if r.id == rep_id)
        return rep.segments[(number - 1) % len(rep.segments)]

    def init_for(self, rep_id: str) -> bytes:
        return next(r for r in self.reps if r.id == rep_id).init

    def statuses(self, path: str) -> list[tuple[float, int]]:
        """(time, status) of every request to ``path``, in order."""
        return [(r.time, r.status) for r in self.requests if r.path == path]

    # -- adapters -------------------------------------------------------------------------------

    def handler(self) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
        """An async handler for ``httpx.MockTransport`` (no sockets; virtual time works)."""
        import httpx

        async def handle(request: httpx.Request) -> httpx.Response:
            status, headers, body = self.respond(request.method, request.url.path)
            return httpx.Response(status, headers=headers, content=body)

        return handle

    def origin(self, *, latency: float = 0.0, faults: FaultPlan | None = None) -> Origin:
        """A :class:`trioseg.origin.Origin` serving this presentation over real HTTP
        (``await nursery.start(origin.serve)`` gives its base URL)."""
        return Origin(self.content.root, latency=latency, faults=faults, routes=self.route)


def _not_found() -> tuple[int, str, bytes]:
    return 404, "text/plain; charset=utf-8", b"not found\n"
