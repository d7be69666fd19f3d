"""The MPD model and its parser (ISO/IEC 23009-1), pure: bytes in, frozen values out.

:func:`parse_mpd` reads a manifest with :mod:`defusedxml` (no entity expansion, no
external references) into a :class:`Manifest`.  What a Representation inherits from its
Period and AdaptationSet is resolved here: ``BaseURL`` alternatives become absolute URLs
and SegmentBase / SegmentList / SegmentTemplate are merged attribute-wise into one
:class:`SegmentInfo`.  Turning that into segment URLs is :mod:`trioseg.addressing`'s job.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import Literal
from urllib.parse import urljoin
from xml.etree.ElementTree import Element, ParseError

import attrs
import isodate
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from .errors import LimitExceeded, ManifestParseError, UnsupportedManifest
from .plan import ByteRange

__all__ = [
    "MPD_NAMESPACE",
    "AdaptationSet",
    "Manifest",
    "ManifestLimits",
    "Period",
    "Representation",
    "Scope",
    "SegmentInfo",
    "SegmentURL",
    "Template",
    "TemplateField",
    "TimelineEntry",
    "URLRange",
    "UTCTiming",
    "datetime_seconds",
    "drm_name",
    "parse_datetime",
    "parse_mpd",
    "xlink_targets",
]

MPD_NAMESPACE = "urn:mpeg:dash:schema:mpd:2011"

SegmentKind = Literal["base", "list", "template"]


@attrs.frozen
class ManifestLimits:
    """Safety limits applied while parsing and addressing."""

    #: largest accepted manifest, in bytes
    max_bytes: int = 16 * 1024 * 1024
    #: most segments one stream may expand to
    max_segments: int = 500_000
    #: most sidx boxes one segment index may consist of (hierarchical indexes)
    max_index_requests: int = 1000


# -- attribute readers ------------------------------------------------------------------------

_INT_RE = re.compile(r"\s*[+-]?\d+(?:\.0*)?\s*\Z")
_BARE_FRACTION = re.compile(r"(?<!\d)\.(?=\d)")


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _where(el: Element, name: str) -> str:
    return f"{_local(el.tag)}@{name}"


def _bad(el: Element, name: str, expected: str, value: str) -> ManifestParseError:
    return ManifestParseError(f"{_where(el, name)}: expected {expected}, got {value!r}")


def _missing(el: Element, name: str) -> ManifestParseError:
    return ManifestParseError(f"{_where(el, name)}: required attribute is missing")


def _str(el: Element, name: str) -> str | None:
    value = el.get(name)
    return value.strip() if value is not None else None


def _req_str(el: Element, name: str) -> str:
    value = _str(el, name)
    if value is None:
        raise _missing(el, name)
    return value


def _int(el: Element, name: str, minimum: int | None = 0) -> int | None:
    value = el.get(name)
    if value is None:
        return None
    if not _INT_RE.match(value):
        raise _bad(el, name, "an integer", value)
    number = int(value.strip().partition(".")[0])
    if minimum is not None and number < minimum:
        raise _bad(el, name, f"an integer >= {minimum}", value)
    return number


def _req_int(el: Element, name: str, minimum: int | None = 0) -> int:
    value = _int(el, name, minimum)
    if value is None:
        raise _missing(el, name)
    return value


def _positive(el: Element, name: str) -> int | None:
    return _int(el, name, minimum=1)


def _range(el: Element, name: str) -> ByteRange | None:
    value = el.get(name)
    if value is None:
        return None
    try:
        return ByteRange.parse(value)
    except ValueError:
        raise _bad(el, name, "a byte range 'first-last'", value) from None


def parse_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration such as ``PT1H2M3.5S`` or ``P1DT2H``."""
    value = isodate.parse_duration(_BARE_FRACTION.sub("0.", text.strip()))
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    else:
        seconds = value.totimedelta(start=datetime.datetime(2000, 1, 1)).total_seconds()
    return float(seconds)


def _duration(el: Element, name: str) -> float | None:
    value = el.get(name)
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except (isodate.ISO8601Error, ValueError, OverflowError, ArithmeticError):
        raise _bad(el, name, "an ISO 8601 duration", value) from None
    if seconds < 0 or not math.isfinite(seconds):
        raise _bad(el, name, "a non-negative ISO 8601 duration", value)
    return seconds


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def datetime_seconds(text: str) -> Fraction:
    """The exact epoch seconds of an xs:dateTime (ISO 8601); no time zone means UTC.

    Raises :class:`ValueError` when ``text`` is not a date and time.
    """
    value = datetime.datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    delta = value - _EPOCH
    return Fraction(delta.days * 86400 + delta.seconds) + Fraction(delta.microseconds, 1_000_000)


def parse_datetime(text: str | None) -> float | None:
    """Epoch seconds of an xs:dateTime, or None when absent or unreadable."""
    if text is None:
        return None
    try:
        return float(datetime_seconds(text))
    except (ValueError, OverflowError):
        return None


def _offset(el: Element, name: str) -> float | None:
    """An ``availabilityTimeOffset``-like attribute: seconds, or ``INF``."""
    value = el.get(name)
    if value is None:
        return None
    text = value.strip()
    if text.upper() in ("INF", "+INF"):
        return math.inf
    try:
        seconds = float(text)
    except ValueError:
        raise _bad(el, name, "a number of seconds or INF", value) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise _bad(el, name, "a non-negative number of seconds or INF", value)
    return seconds


# -- element navigation -----------------------------------------------------------------------


def _children(el: Element, name: str) -> Iterator[Element]:
    for child in el:
        if _local(child.tag) == name and _namespace(child.tag) in _MPD_NAMESPACES:
            yield child


def _child(el: Element, name: str) -> Element | None:
    return next(_children(el, name), None)


def _namespace(tag: object) -> str:
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].partition("}")[0].lower()
    return ""


_MPD_NAMESPACES = frozenset({"", MPD_NAMESPACE})


def _text(el: Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip()


def resolve_base_urls(parents: tuple[str, ...], el: Element) -> tuple[str, ...]:
    """Resolve the ``BaseURL`` children of ``el`` against each parent alternative."""
    own = [(_text(b) or "") for b in _children(el, "BaseURL")]
    if not own:
        return parents
    resolved = (urljoin(parent, ref) for parent in parents for ref in own)
    return tuple(dict.fromkeys(resolved))


# -- templates --------------------------------------------------------------------------------

TEMPLATE_FIELDS = frozenset({"RepresentationID", "Number", "Time", "Bandwidth", "SubNumber"})
_TEMPLATE_TOKEN = re.compile(r"\$([^$]*)\$|\$")
_FIELD_RE = re.compile(r"([A-Za-z]+)(?:%0(\d+)d)?\Z")


@attrs.frozen
class TemplateField:
    """One ``$Identifier%0Nd$`` in a template."""

    name: str
    width: int | None = None

    def format(self, value: int | str) -> str:
        if self.width is None or isinstance(value, str):
            return str(value)
        return f"{value:0{self.width}d}"


@attrs.frozen
class Template:
    """A parsed SegmentTemplate string: literal text and :class:`TemplateField` parts."""

    text: str
    parts: tuple[str | TemplateField, ...]

    @classmethod
    def parse(cls, text: str, where: str, allowed: frozenset[str] = TEMPLATE_FIELDS) -> Template:
        """Parse ``text``; ``where`` (``Element@attr``) names it in errors."""
        parts: list[str | TemplateField] = []
        literal: list[str] = []
        pos = 0
        for match in _TEMPLATE_TOKEN.finditer(text):
            literal.append(text[pos : match.start()])
            pos = match.end()
            body = match.group(1)
            if body is None:
                raise ManifestParseError(f"{where}: unmatched '$' in template {text!r}")
            if body == "":
                literal.append("$")
                continue
            parts.extend(_flush(literal))
            parts.append(_parse_field(body, text, where, allowed))
        literal.append(text[pos:])
        parts.extend(_flush(literal))
        return cls(text, tuple(parts))

    @property
    def names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.parts if isinstance(p, TemplateField))

    def substitute(self, values: dict[str, int | str]) -> str:
        """The text with every field replaced by its value (all must be given)."""
        return "".join(p if isinstance(p, str) else p.format(values[p.name]) for p in self.parts)


def _flush(literal: list[str]) -> list[str]:
    text = "".join(literal)
    literal.clear()
    return [text] if text else []


def _parse_field(body: str, text: str, where: str, allowed: frozenset[str]) -> TemplateField:
    match = _FIELD_RE.match(body)
    if match is None or match.group(1) not in TEMPLATE_FIELDS:
        raise ManifestParseError(f"{where}: invalid identifier ${body}$ in template {text!r}")
    name, width = match.group(1), match.group(2)
    if name not in allowed:
        raise ManifestParseError(f"{where}: ${name}$ is not allowed here (template {text!r})")
    if width is not None and name == "RepresentationID":
        raise ManifestParseError(f"{where}: $RepresentationID$ takes no width ({text!r})")
    return TemplateField(name, int(width) if width is not None else None)


# -- segment information ----------------------------------------------------------------------


@attrs.frozen
class TimelineEntry:
    """One ``S`` element: ``t`` start, ``d`` duration, ``r`` repeats (-1: to the next t/end)."""

    t: int | None
    d: int
    r: int = 0
    n: int | None = None

    @classmethod
    def from_element(cls, el: Element) -> TimelineEntry:
        return cls(
            t=_int(el, "t"),
            d=_req_int(el, "d", minimum=1),
            r=_int(el, "r", minimum=-1) or 0,
            n=_int(el, "n"),
        )


@attrs.frozen
class URLRange:
    """An ``Initialization`` or ``RepresentationIndex``: optional URL and byte range."""

    source_url: str | None
    byte_range: ByteRange | None

    @classmethod
    def from_element(cls, el: Element) -> URLRange:
        return cls(_str(el, "sourceURL"), _range(el, "range"))


@attrs.frozen
class SegmentURL:
    """A ``SegmentURL`` of a SegmentList; ``media`` None means the BaseURL itself."""

    media: str | None
    media_range: ByteRange | None

    @classmethod
    def from_element(cls, el: Element) -> SegmentURL:
        return cls(_str(el, "media"), _range(el, "mediaRange"))


@attrs.frozen
class SegmentInfo:
    """SegmentBase, SegmentList or SegmentTemplate; ``None`` fields are unset."""

    kind: SegmentKind
    timescale: int | None = None
    duration: int | None = None
    start_number: int | None = None
    end_number: int | None = None
    presentation_time_offset: int | None = None
    index_range: ByteRange | None = None
    initialization: URLRange | None = None
    representation_index: URLRange | None = None
    media: Template | None = None
    init_template: Template | None = None
    index_template: Template | None = None
    timeline: tuple[TimelineEntry, ...] | None = None
    segment_urls: tuple[SegmentURL, ...] | None = None
    #: availabilityTimeOffset in seconds (``math.inf`` for INF)
    availability_time_offset: float | None = None

    @classmethod
    def from_element(cls, el: Element, kind: SegmentKind) -> SegmentInfo:
        init = _child(el, "Initialization")
        index = _child(el, "RepresentationIndex")
        timeline = _child(el, "SegmentTimeline")
        urls = list(_children(el, "SegmentURL"))
        return cls(
            kind=kind,
            timescale=_positive(el, "timescale"),
            duration=_positive(el, "duration"),
            start_number=_int(el, "startNumber"),
            end_number=_int(el, "endNumber"),
            presentation_time_offset=_int(el, "presentationTimeOffset", minimum=None),
            index_range=_range(el, "indexRange"),
            initialization=URLRange.from_element(init) if init is not None else None,
            representation_index=URLRange.from_element(index) if index is not None else None,
            media=_template(el, "media"),
            init_template=_template(el, "initialization"),
            index_template=_template(el, "index"),
            timeline=(
                tuple(TimelineEntry.from_element(s) for s in _children(timeline, "S"))
                if timeline is not None
                else None
            ),
            segment_urls=tuple(SegmentURL.from_element(u) for u in urls) if urls else None,
            availability_time_offset=_offset(el, "availabilityTimeOffset"),
        )

    @classmethod
    def from_parent(cls, el: Element) -> SegmentInfo | None:
        """The segment information declared directly in ``el``, if any."""
        for name, kind in _SEGMENT_ELEMENTS:
            child = _child(el, name)
            if child is not None:
                return cls.from_element(child, kind)
        return None

    def over(self, parent: SegmentInfo | None) -> SegmentInfo:
        """This (lower-level) information merged over what it inherits from ``parent``."""
        if parent is None:
            return self
        kind = parent.kind if self.kind == "base" else self.kind
        merged = {
            f.name: v if (v := getattr(self, f.name)) is not None else getattr(parent, f.name)
            for f in attrs.fields(SegmentInfo)
            if f.name != "kind"
        }
        return SegmentInfo(kind=kind, **merged)

    @property
    def has_index(self) -> bool:
        return (
            self.index_range is not None
            or self.representation_index is not None
            or self.index_template is not None
        )


_SEGMENT_ELEMENTS: tuple[tuple[str, SegmentKind], ...] = (
    ("SegmentTemplate", "template"),
    ("SegmentList", "list"),
    ("SegmentBase", "base"),
)


def _template(el: Element, name: str) -> Template | None:
    value = el.get(name)
    return Template.parse(value, _where(el, name)) if value is not None else None


def _merge(parent: SegmentInfo | None, el: Element) -> SegmentInfo | None:
    own = SegmentInfo.from_parent(el)
    return own.over(parent) if own is not None else parent


@attrs.frozen
class Scope:
    """What an element inherits from its ancestors: base URLs and segment information."""

    base_urls: tuple[str, ...]
    segment_info: SegmentInfo | None = None
    period_index: int = 0
    has_base_url: bool = False
    #: availabilityTimeOffset of the innermost BaseURL that sets one (its first alternative)
    base_url_time_offset: float | None = None

    def enter(self, el: Element) -> Scope:
        """The scope inside ``el``, which may add BaseURLs and segment information."""
        bases = resolve_base_urls(self.base_urls, el)
        first = _child(el, "BaseURL")
        offset = _offset(first, "availabilityTimeOffset") if first is not None else None
        return Scope(
            base_urls=bases,
            segment_info=_merge(self.segment_info, el),
            period_index=self.period_index,
            has_base_url=self.has_base_url or first is not None,
            base_url_time_offset=offset if offset is not None else self.base_url_time_offset,
        )


# -- the model --------------------------------------------------------------------------------

_VIDEO_CODECS = (
    "avc",
    "hvc",
    "hev",
    "av01",
    "vp08",
    "vp09",
    "vp8",
    "vp9",
    "dvh",
    "dva",
    "vvc",
    "vvi",
    "mp4v",
    "lvc",
)
_AUDIO_CODECS = (
    "mp4a",
    "ac-3",
    "ec-3",
    "ac-4",
    "opus",
    "flac",
    "mha",
    "mhm",
    "dts",
    "vorbis",
    "alac",
    "mp3",
    "ipcm",
    "fpcm",
)
_TEXT_CODECS = ("stpp", "wvtt", "tx3g", "c608", "ttml", "vtt")
_TEXT_MIME = ("application/ttml+xml", "application/x-subrip")


def content_kind(content_type: str | None, mime_type: str | None, codecs: str | None) -> str:
    """``video``, ``audio``, ``text`` or another word, from the most explicit hint given."""
    if content_type:
        return content_type.lower()
    mime = (mime_type or "").lower()
    if mime.startswith(("video/", "audio/", "text/", "image/")):
        return mime.partition("/")[0]
    if mime in _TEXT_MIME:
        return "text"
    codec = (codecs or "").split(",")[0].strip().lower()
    for kind, prefixes in (
        ("video", _VIDEO_CODECS),
        ("audio", _AUDIO_CODECS),
        ("text", _TEXT_CODECS),
    ):
        if codec.startswith(prefixes):
            return kind
    return "unknown"


def _inherited(name: str, *elements: Element) -> str | None:
    for el in elements:
        value = _str(el, name)
        if value is not None:
            return value
    return None


def _inherited_int(name: str, *elements: Element) -> int | None:
    for el in elements:
        value = _int(el, name)
        if value is not None:
            return value
    return None


def _protected(el: Element) -> bool:
    return _child(el, "ContentProtection") is not None


#: well-known ContentProtection system ids (lower-case UUIDs) and their names
DRM_SYSTEMS = {
    "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed": "Widevine",
    "9a04f079-9840-4286-ab92-e65be0885f95": "PlayReady",
    "94ce86fb-07ff-4f43-adb8-93d2fa968ca2": "FairPlay",
    "e2719d58-a985-b3c9-781a-b030af78d30e": "ClearKey",
    "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b": "ClearKey",
    "5e629af5-38da-4063-8977-97ffbd9902d4": "Marlin",
    "f239e769-efa3-4850-9c16-a903c6932efb": "PrimeTime",
    "3d5e6d35-9b9a-41e8-b843-dd3c6e72c42c": "ChinaDRM",
}
_MP4_PROTECTION = "urn:mpeg:dash:mp4protection:2011"


def drm_name(scheme_id_uri: str, value: str | None = None) -> str:
    """A short name for a ContentProtection scheme: ``cenc``, ``Widevine``, ``PlayReady``."""
    uri = scheme_id_uri.strip()
    if uri.lower() == _MP4_PROTECTION:
        return (value or "cenc").strip() or "cenc"
    if uri.lower().startswith("urn:uuid:"):
        return DRM_SYSTEMS.get(uri[9:].lower(), uri)
    return uri


def protection_schemes(*elements: Element) -> tuple[str, ...]:
    """The names of every ContentProtection scheme declared in ``elements``, in order."""
    names = (
        drm_name(_str(cp, "schemeIdUri") or "unknown", _str(cp, "value"))
        for el in elements
        for cp in _children(el, "ContentProtection")
    )
    return tuple(dict.fromkeys(names))


def roles(*elements: Element) -> tuple[str, ...]:
    """Role@value of ``elements``, in order, without repeats."""
    values = (_str(r, "value") for el in elements for r in _children(el, "Role"))
    return tuple(dict.fromkeys(v for v in values if v))


@attrs.frozen
class Representation:
    """One encoded version of a component, with everything it inherits resolved."""

    id: str
    bandwidth: int
    kind: str
    codecs: str | None
    mime_type: str | None
    width: int | None
    height: int | None
    frame_rate: str | None
    lang: str | None
    encrypted: bool
    audio_sampling_rate: str | None
    #: absolute base URL alternatives, preferred first
    base_urls: tuple[str, ...]
    segment_info: SegmentInfo | None
    #: index of the Period in :attr:`Manifest.periods`
    period_index: int
    #: whether a BaseURL element applies (else ``base_urls`` is just the manifest URL)
    has_base_url: bool = True
    #: ContentProtection scheme names (``cenc``, ``Widevine``, ...), Representation's first
    drm: tuple[str, ...] = ()
    #: Role@value of the Representation and its AdaptationSet
    roles: tuple[str, ...] = ()
    #: the AdaptationSet's id and its position in the Period
    adaptation_id: str | None = None
    adaptation_index: int = 0
    #: availabilityTimeOffset of the BaseURL that applies (seconds, ``math.inf`` for INF)
    base_url_time_offset: float | None = None

    @property
    def availability_time_offset(self) -> float:
        """Seconds by which segments become available early: the BaseURL's offset plus the
        SegmentBase/SegmentList/SegmentTemplate one (``math.inf``: as soon as they start)."""
        own = self.segment_info.availability_time_offset if self.segment_info else None
        return (own or 0.0) + (self.base_url_time_offset or 0.0)

    @classmethod
    def from_element(
        cls, el: Element, adaptation: Element, parent: Scope, adaptation_index: int = 0
    ) -> Representation:
        inner = parent.enter(el)
        scope = (el, adaptation)
        codecs = _inherited("codecs", *scope)
        mime_type = _inherited("mimeType", *scope)
        component = _child(adaptation, "ContentComponent")
        content_type = _inherited("contentType", *scope) or (
            _str(component, "contentType") if component is not None else None
        )
        return cls(
            id=_req_str(el, "id"),
            bandwidth=_req_int(el, "bandwidth"),
            kind=content_kind(content_type, mime_type, codecs),
            codecs=codecs,
            mime_type=mime_type,
            width=_inherited_int("width", *scope),
            height=_inherited_int("height", *scope),
            frame_rate=_inherited("frameRate", *scope),
            lang=_inherited("lang", *scope),
            encrypted=_protected(el) or _protected(adaptation),
            audio_sampling_rate=_inherited("audioSamplingRate", *scope),
            base_urls=inner.base_urls,
            segment_info=inner.segment_info,
            period_index=inner.period_index,
            has_base_url=inner.has_base_url,
            drm=protection_schemes(el, adaptation),
            roles=roles(el, adaptation),
            adaptation_id=_str(adaptation, "id"),
            adaptation_index=adaptation_index,
            base_url_time_offset=inner.base_url_time_offset,
        )


@attrs.frozen
class AdaptationSet:
    """A set of interchangeable Representations of one component."""

    id: str | None
    content_type: str | None
    mime_type: str | None
    lang: str | None
    encrypted: bool
    representations: tuple[Representation, ...]
    #: position in the Period
    index: int = 0

    @classmethod
    def from_element(cls, el: Element, parent: Scope, index: int = 0) -> AdaptationSet:
        scope = parent.enter(el)
        return cls(
            id=_str(el, "id"),
            content_type=_str(el, "contentType"),
            mime_type=_str(el, "mimeType"),
            lang=_str(el, "lang"),
            encrypted=_protected(el),
            representations=tuple(
                Representation.from_element(r, el, scope, index)
                for r in _children(el, "Representation")
            ),
            index=index,
        )


XLINK_NAMESPACE = "http://www.w3.org/1999/xlink"
_XLINK_HREF = f"{{{XLINK_NAMESPACE}}}href"
_XLINK_ACTUATE = f"{{{XLINK_NAMESPACE}}}actuate"
RESOLVE_TO_ZERO = "urn:mpeg:dash:resolve-to-zero"


@attrs.frozen
class Period:
    """A time span of the presentation.  ``start``/``duration`` are resolved, in seconds."""

    id: str | None
    index: int
    start: float
    #: Period@duration, else the next Period's start minus this start, else what is left of
    #: mediaPresentationDuration; None when none of these is known
    duration: float | None
    base_urls: tuple[str, ...]
    adaptation_sets: tuple[AdaptationSet, ...]
    #: xlink:href of a remote Period that was not resolved
    xlink_href: str | None = None
    #: xlink:actuate (``onLoad``, the default, or ``onRequest``)
    xlink_actuate: str | None = None

    @property
    def key(self) -> str:
        """The Period's id, or its index as text."""
        return self.id if self.id is not None else str(self.index)

    @property
    def representations(self) -> tuple[Representation, ...]:
        return tuple(r for a in self.adaptation_sets for r in a.representations)

    @classmethod
    def from_element(
        cls,
        el: Element,
        index: int,
        timing: tuple[float, float | None],
        parent: Scope,
    ) -> Period:
        scope = attrs.evolve(parent, period_index=index).enter(el)
        return cls(
            id=_str(el, "id"),
            index=index,
            start=timing[0],
            duration=timing[1],
            base_urls=scope.base_urls,
            adaptation_sets=tuple(
                AdaptationSet.from_element(a, scope, i)
                for i, a in enumerate(_children(el, "AdaptationSet"))
            ),
            xlink_href=el.get(_XLINK_HREF),
            xlink_actuate=el.get(_XLINK_ACTUATE),
        )


def period_timing(elements: list[Element], total: float | None) -> list[tuple[float, float | None]]:
    """Each Period's (start, duration) in seconds, per ISO/IEC 23009-1 5.3.2.1."""
    starts: list[float | None] = []
    for i, el in enumerate(elements):
        start = _duration(el, "start")
        if start is None:
            prev_duration = _duration(elements[i - 1], "duration") if i else None
            prev_start = starts[i - 1] if i else None
            if i == 0:
                start = 0.0
            elif prev_start is not None and prev_duration is not None:
                start = prev_start + prev_duration
        starts.append(start)
    timing: list[tuple[float, float | None]] = []
    for i, el in enumerate(elements):
        start = starts[i]
        duration = _duration(el, "duration")
        following = starts[i + 1] if i + 1 < len(starts) else None
        if duration is None and start is not None:
            if following is not None:
                duration = max(following - start, 0.0)
            elif i + 1 == len(elements) and total is not None:
                duration = _remaining(total, start, starts[0] or 0.0)
        if start is None:
            prev_start, prev_duration = timing[i - 1]
            start = prev_start + (prev_duration or 0.0)
        timing.append((start, duration))
    return timing


def _remaining(total: float, start: float, first_start: float) -> float:
    """The last Period's share of mediaPresentationDuration.

    When the Period starts after the presentation would have ended (a VOD cut from a live
    timeline keeps its Period@start), the presentation is measured from the first Period.
    """
    if total > start:
        return total - start
    return max(total - (start - first_start), 0.0)


@attrs.frozen
class UTCTiming:
    """One MPD-level ``UTCTiming``: how to learn the time the presentation is timed by.

    ``scheme`` is the schemeIdUri (``urn:mpeg:dash:utc:http-iso:2014``, ...); ``value`` is
    as written (URLs separated by spaces for the http schemes, an xs:dateTime for direct).
    """

    scheme: str
    value: str

    @classmethod
    def from_element(cls, el: Element) -> UTCTiming:
        return cls(_str(el, "schemeIdUri") or "", _str(el, "value") or "")


@attrs.frozen
class Manifest:
    """A parsed MPD."""

    url: str
    type: Literal["static", "dynamic"]
    title: str | None
    #: mediaPresentationDuration in seconds
    duration: float | None
    periods: tuple[Period, ...]
    base_urls: tuple[str, ...]
    profiles: str | None = None
    min_buffer_time: float | None = None
    availability_start_time: str | None = None
    publish_time: str | None = None
    minimum_update_period: float | None = None
    time_shift_buffer_depth: float | None = None
    locations: tuple[str, ...] = ()
    limits: ManifestLimits = ManifestLimits()
    #: the MPD-level UTCTiming elements, in order
    utc_timing: tuple[UTCTiming, ...] = ()
    #: suggestedPresentationDelay and maxSegmentDuration, in seconds
    suggested_presentation_delay: float | None = None
    max_segment_duration: float | None = None
    availability_end_time: str | None = None
    #: availabilityStartTime / availabilityEndTime as epoch seconds (None: absent or unreadable)
    availability_start: float | None = None
    availability_end: float | None = None

    @classmethod
    def from_element(
        cls,
        root: Element,
        url: str,
        limits: ManifestLimits,
        xlinks: Mapping[str, bytes] | None = None,
    ) -> Manifest:
        if _local(root.tag) != "MPD" or _namespace(root.tag) not in _MPD_NAMESPACES:
            raise ManifestParseError(f"not an MPD: the root element is <{_local(root.tag)}>")
        duration = _duration(root, "mediaPresentationDuration")
        scope = Scope((url,)).enter(root)
        period_elements = resolve_period_xlinks(
            list(_children(root, "Period")), url, xlinks or {}, limits
        )
        timing = period_timing(period_elements, duration)
        info = _child(root, "ProgramInformation")
        return cls(
            url=url,
            type=_mpd_type(root),
            title=_text(_child(info, "Title")) if info is not None else None,
            duration=duration,
            periods=tuple(
                Period.from_element(el, i, timing[i], scope) for i, el in enumerate(period_elements)
            ),
            base_urls=scope.base_urls,
            profiles=_str(root, "profiles"),
            min_buffer_time=_duration(root, "minBufferTime"),
            availability_start_time=_str(root, "availabilityStartTime"),
            publish_time=_str(root, "publishTime"),
            minimum_update_period=_duration(root, "minimumUpdatePeriod"),
            time_shift_buffer_depth=_duration(root, "timeShiftBufferDepth"),
            locations=tuple(urljoin(url, _text(el) or "") for el in _children(root, "Location")),
            limits=limits,
            utc_timing=tuple(UTCTiming.from_element(el) for el in _children(root, "UTCTiming")),
            suggested_presentation_delay=_duration(root, "suggestedPresentationDelay"),
            max_segment_duration=_duration(root, "maxSegmentDuration"),
            availability_end_time=_str(root, "availabilityEndTime"),
            availability_start=parse_datetime(_str(root, "availabilityStartTime")),
            availability_end=parse_datetime(_str(root, "availabilityEndTime")),
        )

    @property
    def is_live(self) -> bool:
        return self.type == "dynamic"


def _mpd_type(root: Element) -> Literal["static", "dynamic"]:
    value = _str(root, "type") or "static"
    if value == "static":
        return "static"
    if value == "dynamic":
        return "dynamic"
    raise _bad(root, "type", "'static' or 'dynamic'", value)


def _parse_xml(data: bytes) -> Element:
    try:
        root = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ManifestParseError(f"unsafe XML refused: {type(exc).__name__}") from None
    except ParseError as exc:
        raise ManifestParseError(f"malformed XML: {exc}") from None
    except (ValueError, UnicodeError) as exc:
        raise ManifestParseError(f"malformed XML: {exc}") from None
    if not isinstance(root, Element):
        raise ManifestParseError("malformed XML: no root element")
    return root


def parse_mpd(
    data: bytes,
    url: str,
    *,
    limits: ManifestLimits | None = None,
    xlinks: Mapping[str, bytes] | None = None,
) -> Manifest:
    """Parse the MPD ``data`` fetched from ``url`` (relative BaseURLs resolve against it).

    ``xlinks`` maps the absolute URLs :func:`xlink_targets` returned to the bodies fetched
    from them; each body (zero or more Period elements) replaces its remote Period.
    """
    limits = limits or ManifestLimits()
    if len(data) > limits.max_bytes:
        raise LimitExceeded(
            f"manifest is {len(data)} bytes, more than the limit of {limits.max_bytes}"
        )
    return Manifest.from_element(_parse_xml(data), url, limits, xlinks)


# -- xlink ------------------------------------------------------------------------------------


def _loads_on_load(el: Element) -> bool:
    actuate = (el.get(_XLINK_ACTUATE) or "onLoad").strip()
    return actuate == "onLoad"


def xlink_targets(manifest: Manifest) -> tuple[str, ...]:
    """The absolute URLs of the remote Periods to fetch before planning (xlink onLoad).

    Fetch each (bounded by :attr:`ManifestLimits.max_bytes`) and parse again with
    ``parse_mpd(data, url, xlinks={target: body, ...})``.
    """
    targets = (
        urljoin(manifest.url, p.xlink_href.strip())
        for p in manifest.periods
        if p.xlink_href is not None
        and p.xlink_href.strip() != RESOLVE_TO_ZERO
        and (p.xlink_actuate or "onLoad").strip() == "onLoad"
    )
    return tuple(dict.fromkeys(targets))


def resolve_period_xlinks(
    elements: list[Element], url: str, xlinks: Mapping[str, bytes], limits: ManifestLimits
) -> list[Element]:
    """``elements`` with remote Periods replaced by the fetched bodies in ``xlinks``.

    ``resolve-to-zero`` removes a Period; a remote Period whose body is not in ``xlinks``
    is kept as it is (see :func:`xlink_targets`).  Remote bodies may not link further.
    """
    out: list[Element] = []
    for el in elements:
        href = _str(el, _XLINK_HREF)
        if href is None:
            out.append(el)
            continue
        if href == RESOLVE_TO_ZERO:
            continue
        target = urljoin(url, href)
        body = xlinks.get(target) if _loads_on_load(el) else None
        if body is None:
            out.append(el)
            continue
        for remote in _remote_periods(body, target, limits):
            inner = _str(remote, _XLINK_HREF)
            if inner == RESOLVE_TO_ZERO:
                continue
            if inner is not None:
                raise UnsupportedManifest(
                    f"Period@xlink:href: the remote Period from {target} links to {inner!r} "
                    "in turn; xlink chains are not followed"
                )
            out.append(remote)
    return out


_XML_DECLARATION = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>)?")


def _remote_periods(body: bytes, target: str, limits: ManifestLimits) -> list[Element]:
    if len(body) > limits.max_bytes:
        raise LimitExceeded(
            f"remote Period from {target} is {len(body)} bytes, more than the limit of "
            f"{limits.max_bytes}"
        )
    content = _XML_DECLARATION.sub(b"", body, count=1)
    wrapped = (
        f'<MPD xmlns="{MPD_NAMESPACE}" xmlns:xlink="{XLINK_NAMESPACE}">'.encode()
        + content
        + b"</MPD>"
    )
    try:
        root = _parse_xml(wrapped)
    except ManifestParseError as exc:
        raise ManifestParseError(f"remote Period from {target}: {exc}") from None
    others = [c for c in root if isinstance(c.tag, str) and _local(c.tag) != "Period"]
    if others:
        raise ManifestParseError(
            f"remote Period from {target}: expected Period elements, got <{_local(others[0].tag)}>"
        )
    return list(_children(root, "Period"))
