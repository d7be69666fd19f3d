"""Text tracks as plain subtitle files beside the output.

A DASH text stream arrives as one of:

- fragmented MP4 (init segment + media segments) whose sample entry is ``wvtt``
  (ISO/IEC 14496-30 WebVTT) or ``stpp`` (TTML, one XML document per sample);
- segmented plain WebVTT: one ``WEBVTT`` document per segment, concatenated, possibly with
  HLS-style ``X-TIMESTAMP-MAP`` headers;
- segmented plain TTML: one XML document per segment, concatenated;
- a single sidecar ``.vtt``/``.ttml``/``.srt`` file.

:func:`convert` turns the assembled file into one plain ``.vtt``/``.ttml``/``.srt`` document.
Everything here is synchronous and works on bytes already on disk; XML is parsed with
:mod:`defusedxml` (no entity expansion, no external resources).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import attrs
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from .errors import StoreError, TriosegError

__all__ = [
    "SubtitleError",
    "convert",
    "merge_ttml",
    "merge_webvtt",
    "stpp_to_ttml",
    "wvtt_to_webvtt",
]


class SubtitleError(TriosegError):
    """A text stream could not be read or converted (one line, naming the file)."""


# --------------------------------------------------------------------------- ISO BMFF


@attrs.frozen
class _Box:
    type: bytes
    start: int
    body: int
    end: int

    @property
    def name(self) -> str:
        return self.type.decode("latin-1")


def _boxes(data: bytes, start: int, end: int) -> Iterator[_Box]:
    """The boxes laid end to end in ``data[start:end]``."""
    pos = start
    while pos < end:
        if end - pos < 8:
            raise SubtitleError(f"truncated box header at byte {pos}")
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if end - pos < 16:
                raise SubtitleError(f"truncated box header at byte {pos}")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if kind == b"uuid":
            header += 16
        if size < header or pos + size > end:
            raise SubtitleError(
                f"invalid size {size} of box {kind.decode('latin-1')!r} at byte {pos}"
            )
        yield _Box(kind, pos, pos + header, pos + size)
        pos += size


def _child(data: bytes, box: _Box, kind: bytes, skip: int = 0) -> _Box | None:
    return next((b for b in _boxes(data, box.body + skip, box.end) if b.type == kind), None)


def _path(data: bytes, box: _Box | None, *kinds: bytes) -> _Box | None:
    for kind in kinds:
        if box is None:
            return None
        box = _child(data, box, kind)
    return box


class _Reader:
    """Big-endian fields of one box, bounds-checked."""

    def __init__(self, data: bytes, box: _Box) -> None:
        self.data = data
        self.pos = box.body
        self.end = box.end
        self.name = box.name

    def _take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.pos + size > self.end:
            raise SubtitleError(f"truncated {self.name!r} box")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return int(value)

    def u8(self) -> int:
        return self._take(">B")

    def u16(self) -> int:
        return self._take(">H")

    def u32(self) -> int:
        return self._take(">I")

    def s32(self) -> int:
        return self._take(">i")

    def u64(self) -> int:
        return self._take(">Q")

    def skip(self, count: int) -> None:
        if self.pos + count > self.end:
            raise SubtitleError(f"truncated {self.name!r} box")
        self.pos += count

    def full_header(self) -> tuple[int, int]:
        word = self.u32()
        return word >> 24, word & 0xFFFFFF

    def cstring(self) -> str:
        stop = self.data.find(b"\0", self.pos, self.end)
        stop = self.end if stop < 0 else stop
        text = self.data[self.pos : stop].decode("utf-8", errors="replace")
        self.pos = min(stop + 1, self.end)
        return text


@attrs.frozen
class _Track:
    """The text track an init segment describes."""

    track_id: int | None
    timescale: int
    #: sample entry type: ``wvtt``, ``stpp``, or whatever else was found
    entry: str
    #: ``vttC`` text (wvtt) or the TTML namespace (stpp)
    config: str
    default_duration: int = 0
    default_size: int = 0


@attrs.frozen
class _Sample:
    start: Fraction
    end: Fraction
    data: bytes


_TEXT_ENTRIES = ("wvtt", "stpp")


def _parse_trak(data: bytes, trak: _Box) -> _Track | None:
    track_id: int | None = None
    tkhd = _child(data, trak, b"tkhd")
    if tkhd is not None:
        r = _Reader(data, tkhd)
        version, _ = r.full_header()
        r.skip(16 if version == 1 else 8)
        track_id = r.u32()
    mdhd = _path(data, trak, b"mdia", b"mdhd")
    stsd = _path(data, trak, b"mdia", b"minf", b"stbl", b"stsd")
    if mdhd is None or stsd is None:
        return None
    r = _Reader(data, mdhd)
    version, _ = r.full_header()
    r.skip(16 if version == 1 else 8)
    timescale = r.u32()
    if timescale == 0:
        raise SubtitleError("track timescale is 0")
    entry = next(iter(_boxes(data, stsd.body + 8, stsd.end)), None)
    if entry is None:
        return None
    config = ""
    if entry.type == b"wvtt":
        vttc = _child(data, entry, b"vttC", skip=8)
        if vttc is not None:
            config = data[vttc.body : vttc.end].decode("utf-8", errors="replace")
    elif entry.type == b"stpp":
        r = _Reader(data, entry)
        r.skip(8)
        config = r.cstring()
    return _Track(track_id, timescale, entry.name, config)


def _parse_moov(data: bytes, moov: _Box) -> _Track:
    traks = [b for b in _boxes(data, moov.body, moov.end) if b.type == b"trak"]
    parsed = [_parse_trak(data, trak) for trak in traks]
    tracks = [t for t in parsed if t is not None]
    if not tracks:
        raise SubtitleError("the init segment describes no track")
    track = next((t for t in tracks if t.entry in _TEXT_ENTRIES), tracks[0])
    trex = None
    mvex = _child(data, moov, b"mvex")
    if mvex is not None:
        for box in _boxes(data, mvex.body, mvex.end):
            if box.type == b"trex":
                r = _Reader(data, box)
                r.full_header()
                if trex is None or r.u32() == track.track_id:
                    trex = box
    if trex is not None:
        r = _Reader(data, trex)
        r.full_header()
        r.skip(8)
        track = attrs.evolve(track, default_duration=r.u32(), default_size=r.u32())
    return track


def _subsample_sizes(data: bytes, subs: _Box) -> list[list[int]]:
    """Per sample of the fragment, its sub-sample sizes (empty: not split)."""
    r = _Reader(data, subs)
    version, _ = r.full_header()
    result: list[list[int]] = []
    for _ in range(r.u32()):
        delta = r.u32()
        if (delta == 0 and result) or delta > len(data):
            raise SubtitleError("invalid 'subs' box")
        result.extend([] for _ in range(delta - 1))
        count = r.u16()
        sizes: list[int] = []
        for _ in range(count):
            sizes.append(r.u32() if version == 1 else r.u16())
            r.skip(6)
        result.append(sizes)
    return result


def _parse_traf(
    data: bytes, traf: _Box, moof: _Box, mdat: _Box | None, track: _Track, decode: int
) -> tuple[list[_Sample], int] | None:
    """The samples of one track fragment and the decode time after it; None: another track."""
    tfhd = _child(data, traf, b"tfhd")
    if tfhd is None:
        raise SubtitleError("track fragment without a 'tfhd' box")
    r = _Reader(data, tfhd)
    _, flags = r.full_header()
    track_id = r.u32()
    if track.track_id is not None and track_id != track.track_id:
        return None
    base = moof.start
    if flags & 0x1:
        base = r.u64()
    if flags & 0x2:
        r.u32()
    default_duration = r.u32() if flags & 0x8 else track.default_duration
    default_size = r.u32() if flags & 0x10 else track.default_size

    runs: list[tuple[int | None, list[tuple[int, int, int]]]] = []
    subs: list[list[int]] = []
    for box in _boxes(data, traf.body, traf.end):
        if box.type == b"tfdt":
            r = _Reader(data, box)
            version, _ = r.full_header()
            decode = r.u64() if version == 1 else r.u32()
        elif box.type == b"subs":
            subs = _subsample_sizes(data, box)
        elif box.type == b"trun":
            runs.append(_parse_trun(data, box, default_duration, default_size))

    # (offset, size) of every sample, as the boxes say
    ranges: list[tuple[int, int]] = []
    position = base
    for offset, samples in runs:
        position = base + offset if offset is not None else position
        for _, size, _ in samples:
            ranges.append((position, size))
            position += size
    total = sum(size for _, size in ranges)
    if total:
        if mdat is None:
            raise SubtitleError("movie fragment without an 'mdat' box")
        if not all(mdat.body <= o and o + s <= mdat.end for o, s in ranges):
            # offsets that do not point into the following mdat (an explicit base offset
            # relative to a segment file, or a missing data offset): take the samples in order
            if mdat.body + total > mdat.end:
                raise SubtitleError("sample data extends past its 'mdat' box")
            ranges, position = [], mdat.body
            for _, samples in runs:
                for _, size, _ in samples:
                    ranges.append((position, size))
                    position += size

    result: list[_Sample] = []
    timescale = track.timescale
    index = 0
    for _, samples in runs:
        for duration, _, cto in samples:
            offset, size = ranges[index]
            payload = data[offset : offset + size]
            if index < len(subs) and subs[index]:
                payload = payload[: subs[index][0]]
            start = Fraction(decode + cto, timescale)
            result.append(_Sample(start, start + Fraction(duration, timescale), payload))
            decode += duration
            index += 1
    return result, decode


def _parse_trun(
    data: bytes, trun: _Box, default_duration: int, default_size: int
) -> tuple[int | None, list[tuple[int, int, int]]]:
    r = _Reader(data, trun)
    version, flags = r.full_header()
    count = r.u32()
    fields = sum(4 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
    if count > max(len(data), 1 << 16) or (fields and count * fields > r.end - r.pos):
        raise SubtitleError(f"invalid sample count {count} in 'trun' box")
    offset = r.s32() if flags & 0x1 else None
    if flags & 0x4:
        r.u32()
    samples: list[tuple[int, int, int]] = []
    for _ in range(count):
        duration = r.u32() if flags & 0x100 else default_duration
        size = r.u32() if flags & 0x200 else default_size
        if flags & 0x400:
            r.u32()
        cto = 0
        if flags & 0x800:
            cto = r.s32() if version == 1 else r.u32()
        samples.append((duration, size, cto))
    return offset, samples


def _read_mp4(data: bytes) -> tuple[_Track, list[_Sample]]:
    """The text track of a fragmented MP4 file and its samples, in decode order."""
    top = list(_boxes(data, 0, len(data)))
    next_mdat: list[_Box | None] = [None] * len(top)
    following: _Box | None = None
    for i in range(len(top) - 1, -1, -1):
        next_mdat[i] = following
        if top[i].type == b"mdat":
            following = top[i]
        elif top[i].type == b"moof":
            following = None
    track: _Track | None = None
    samples: list[_Sample] = []
    decode = 0
    for i, box in enumerate(top):
        if box.type == b"moov":
            track = _parse_moov(data, box)
            decode = 0
        elif box.type == b"moof":
            if track is None:
                raise SubtitleError("movie fragment before any 'moov' box (no init segment?)")
            found = False
            for traf in _boxes(data, box.body, box.end):
                if traf.type != b"traf":
                    continue
                parsed = _parse_traf(data, traf, box, next_mdat[i], track, decode)
                if parsed is not None and not found:
                    found = True
                    fragment, decode = parsed
                    samples.extend(fragment)
    if track is None:
        raise SubtitleError("no 'moov' box (no init segment?)")
    return track, samples


def _looks_like_mp4(data: bytes) -> bool:
    if len(data) < 8:
        return False
    size, kind = struct.unpack_from(">I4s", data, 0)
    known = {b"ftyp", b"styp", b"moov", b"moof", b"sidx", b"free", b"skip", b"emsg", b"prft"}
    return kind in known and (size in (0, 1) or size >= 8)


# --------------------------------------------------------------------------- WebVTT


def _timestamp(seconds: Fraction) -> str:
    ms = max(0, math.floor(seconds * 1000 + Fraction(1, 2)))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def _cue_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("-->", "--&gt;")
    return "\n".join(line for line in text.split("\n") if line.strip())


def _one_line(text: str) -> str:
    return " ".join(text.split())


@attrs.define
class _Cue:
    start: Fraction
    end: Fraction
    text: str
    ident: str = ""
    settings: str = ""
    #: a NOTE/STYLE/REGION block rather than a cue
    block: bool = False

    def render(self) -> str:
        if self.block:
            return self.text
        head = f"{self.ident}\n" if self.ident else ""
        settings = f" {self.settings}" if self.settings else ""
        return f"{head}{_timestamp(self.start)} --> {_timestamp(self.end)}{settings}\n{self.text}"


def _render_webvtt(header: str, items: Sequence[_Cue]) -> str:
    ordered = sorted(items, key=lambda c: c.start)
    used: set[str] = set()
    for cue in ordered:
        if cue.ident:
            ident, number = cue.ident, 1
            while ident in used:
                number += 1
                ident = f"{cue.ident}-{number}"
            cue.ident = ident
            used.add(ident)
    return header + "\n\n" + "".join(item.render() + "\n\n" for item in ordered)


def _parse_vttc(data: bytes, box: _Box) -> tuple[str, str, str]:
    text = ident = settings = ""
    for child in _boxes(data, box.body, box.end):
        value = data[child.body : child.end].decode("utf-8", errors="replace")
        if child.type == b"payl":
            text = value
        elif child.type == b"iden":
            ident = value
        elif child.type == b"sttg":
            settings = value
    ident = "" if "-->" in ident else _one_line(ident)
    return _cue_text(text), ident, _one_line(settings.replace("-->", ""))


def _webvtt_header(config: str) -> str:
    header = config.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").strip("\n")
    if not re.match(r"WEBVTT(?:[ \t]|$)", header.split("\n", 1)[0]) or "-->" in header:
        return "WEBVTT"
    return header


def _wvtt_cues(samples: Sequence[_Sample]) -> list[_Cue]:
    items: list[_Cue] = []
    # cues of the previous sample, by identity, that may continue into the next one
    open_cues: dict[tuple[str, str, str], _Cue] = {}
    for sample in samples:
        data = sample.data
        current: dict[tuple[str, str, str], _Cue] = {}
        for box in _boxes(data, 0, len(data)):
            if box.type == b"vttc":
                text, ident, settings = _parse_vttc(data, box)
                if not text or sample.end <= sample.start:
                    continue
                key = (ident, settings, text)
                cue = open_cues.get(key)
                if cue is not None and cue.end == sample.start:
                    cue.end = sample.end
                else:
                    cue = _Cue(sample.start, sample.end, text, ident, settings)
                    items.append(cue)
                current[key] = cue
            elif box.type == b"vtta":
                note = _cue_text(data[box.body : box.end].decode("utf-8", errors="replace"))
                if note:
                    if not re.match(r"NOTE(?:[ \t\n]|$)", note):
                        note = "NOTE\n" + note
                    items.append(_Cue(sample.start, sample.start, note, block=True))
        open_cues = current
    return items


def wvtt_to_webvtt(data: bytes) -> str:
    """Convert a fragmented MP4 WebVTT track (``wvtt``, ISO/IEC 14496-30) to a WebVTT file.

    ``data`` is the init segment followed by the media segments.  Cue start and end come from
    the sample times; a cue repeated in contiguous samples (also across fragments) becomes
    one cue.  Raises :class:`SubtitleError` for anything that is not such a track.
    """
    track, samples = _read_mp4(data)
    if track.entry != "wvtt":
        raise SubtitleError(f"sample entry is {track.entry!r}, not 'wvtt'")
    return _render_webvtt(_webvtt_header(track.config), _wvtt_cues(samples))


_TIMESTAMP = r"(?:\d+:)?[0-5]\d:[0-5]\d\.\d{3}"
_TIMING_RE = re.compile(rf"^\s*({_TIMESTAMP})[ \t]+-->[ \t]+({_TIMESTAMP})(.*)$")
_HEADER_RE = re.compile(r"^\ufeff?WEBVTT(?=[ \t]|$)", re.MULTILINE)
_BLOCK_SPLIT_RE = re.compile(r"\n(?:[ \t]*\n)+")


def _parse_timestamp(text: str) -> Fraction:
    *hours, minutes, rest = text.strip().split(":")
    secs, ms = rest.split(".")
    total = (int(hours[0]) if hours else 0) * 3600 + int(minutes) * 60 + int(secs)
    return total + Fraction(int(ms), 1000)


def _timestamp_offset(line: str) -> Fraction | None:
    """The offset an ``X-TIMESTAMP-MAP=MPEGTS:x,LOCAL:t`` header line asks for."""
    name, _, value = line.partition("=")
    if name.strip() != "X-TIMESTAMP-MAP":
        return None
    fields = dict(part.strip().partition(":")[::2] for part in value.split(","))
    try:
        mpegts = int(fields.get("MPEGTS", "0"))
        local = _parse_timestamp(fields.get("LOCAL", "00:00.000"))
    except ValueError:
        raise SubtitleError(f"invalid header {line.strip()!r}") from None
    return Fraction(mpegts, 90000) - local


def _normalize_text(text: str) -> str:
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def merge_webvtt(texts: Sequence[str], *, timestamp_map: bool = True) -> str:
    """Merge WebVTT documents (one per segment) into one.

    The first document's header is kept (without ``X-TIMESTAMP-MAP``), with its STYLE, REGION
    and NOTE blocks; later documents contribute cues only.  Cue times are shifted by each
    document's ``X-TIMESTAMP-MAP`` (``MPEGTS/90000 - LOCAL`` seconds), a cue repeated exactly
    in a later segment is dropped, and a cue split at a segment boundary (same text and
    settings, end of one = start of the next) is joined.
    """
    if not texts:
        raise SubtitleError("no WebVTT document")
    header = "WEBVTT"
    items: list[_Cue] = []
    seen: set[tuple[str, str, str, str]] = set()
    previous: dict[tuple[str, str], list[_Cue]] = {}
    for number, raw in enumerate(texts):
        text = _normalize_text(raw).strip("\n")
        if not _HEADER_RE.match(text):
            raise SubtitleError(f"document {number + 1} does not start with 'WEBVTT'")
        blocks = _BLOCK_SPLIT_RE.split(text)
        head_lines = blocks[0].split("\n")
        cut = next((i for i, line in enumerate(head_lines) if "-->" in line), len(head_lines))
        if cut < len(head_lines):
            blocks.insert(1, "\n".join(head_lines[cut:]))
            head_lines = head_lines[:cut]
        offset = Fraction(0)
        kept: list[str] = []
        for line in head_lines:
            shift = _timestamp_offset(line)
            if shift is not None:
                offset = shift if timestamp_map else Fraction(0)
            else:
                kept.append(line)
        if number == 0:
            header = "\n".join(kept)
        current: dict[tuple[str, str], list[_Cue]] = {}
        last_start = Fraction(-1)
        for block in blocks[1:]:
            lines = block.split("\n")
            timing_at = next((i for i, line in enumerate(lines[:2]) if "-->" in line), None)
            if timing_at is None:
                if number == 0 and re.match(r"(?:NOTE|STYLE|REGION)(?:[ \t]|$)", lines[0]):
                    items.append(_Cue(last_start, last_start, block, block=True))
                continue
            match = _TIMING_RE.match(lines[timing_at])
            if match is None:
                continue
            start = _parse_timestamp(match[1]) + offset
            end = _parse_timestamp(match[2]) + offset
            settings = _one_line(match[3])
            ident = lines[0].strip() if timing_at == 1 else ""
            body = "\n".join(lines[timing_at + 1 :])
            last_start = start
            key = (_timestamp(start), _timestamp(end), settings, body)
            if key in seen:
                continue
            seen.add(key)
            join = next(
                (c for c in previous.get((settings, body), ()) if c.end == start),
                None,
            )
            if join is not None:
                join.end = end
                cue = join
            else:
                cue = _Cue(start, end, body, ident, settings)
                items.append(cue)
            current.setdefault((settings, body), []).append(cue)
        if current:
            previous = current
    return _render_webvtt(header, items)


def _split_webvtt(text: str) -> list[str]:
    starts = [m.start() for m in _HEADER_RE.finditer(text)]
    if not starts or text[: starts[0]].strip("\ufeff \t\r\n"):
        raise SubtitleError("not a WebVTT file")
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


# --------------------------------------------------------------------------- TTML

_XML_NS = "http://www.w3.org/XML/1998/namespace"
_TTML_NS = "http://www.w3.org/ns/ttml"
_TTML_END_RE = re.compile(rb"</(?:[A-Za-z_][\w.\-]*:)?tt\s*>")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _parse_xml(document: bytes, number: int) -> tuple[Element, list[tuple[str, str]]]:
    """The root element and the namespace declarations (prefix, uri) in document order."""
    namespaces: list[tuple[str, str]] = []
    try:
        events = SafeET.iterparse(io.BytesIO(document), events=("start-ns",))
        for _, value in events:
            namespaces.append((value[0], value[1]))
        root: Element = events.root
    except (ParseError, DefusedXmlException, ValueError, LookupError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SubtitleError(f"document {number + 1} is not valid XML ({reason})") from None
    if _local(root.tag) != "tt":
        raise SubtitleError(f"document {number + 1} is not TTML (root <{_local(root.tag)}>)")
    return root, namespaces


def _canon(el: Element, skip_attrs: frozenset[str] = frozenset()) -> tuple[object, ...]:
    attrib = tuple(sorted((k, v) for k, v in el.attrib.items() if k not in skip_attrs))
    children = tuple((_canon(c), (c.tail or "").strip()) for c in el)
    return (el.tag, attrib, (el.text or "").strip(), children)


_TIMING_ATTRS = frozenset({"begin", "end", "dur"})
_ID_ATTR = f"{{{_XML_NS}}}id"
_ID_SET = frozenset({_ID_ATTR})


_STRUCTURE = frozenset({"tt", "head", "body", "div", "styling", "layout"})
_REFERENCES = ("region", "style")


class _TtmlMerger:
    """Folds later TTML documents into the first one.

    ``body``: a ``div`` joins the ``div`` with the same attributes (else is added); a ``p`` is
    added unless it repeats one already there.  ``head``: style and region definitions whose
    ``xml:id`` the merged document lacks are added.  An ``xml:id`` a later document reuses
    for something else is renamed there, with the references to it.
    """

    def __init__(self, root: Element) -> None:
        self.root = root
        self.ids: dict[str, Element] = {}
        self.seen: set[tuple[int, tuple[object, ...]]] = set()
        self.previous: dict[tuple[int, tuple[object, ...]], Element] = {}
        self.current: dict[tuple[int, tuple[object, ...]], Element] = {}
        self._index(root)
        body = _find(root, "body")
        if body is not None:
            self._register(body)
        self._next_document()

    def _index(self, el: Element) -> None:
        for node in el.iter():
            ident = node.get(_ID_ATTR)
            if ident is not None:
                self.ids.setdefault(ident, node)

    def _next_document(self) -> None:
        if self.current:
            self.previous, self.current = self.current, {}

    def _keys(
        self, p: Element, defs: dict[str, Element]
    ) -> tuple[tuple[object, ...], tuple[object, ...]]:
        """(exact, untimed) identity of a ``p``: references resolved to what they name."""
        resolved = tuple(
            (name, tuple(_canon(defs[r], _ID_SET) if r in defs else r for r in value.split()))
            for name in _REFERENCES
            if (value := p.get(name)) is not None
        )
        skip = _ID_SET | set(_REFERENCES)
        return (resolved, _canon(p, skip)), (resolved, _canon(p, skip | _TIMING_ATTRS))

    def _register(self, container: Element) -> None:
        for child in container:
            if _local(child.tag) == "div":
                self._register(child)
            elif _local(child.tag) == "p":
                exact, loose = self._keys(child, self.ids)
                self.seen.add((id(container), exact))
                self.current[(id(container), loose)] = child

    def merge(self, root: Element) -> None:
        defs = self._rename_conflicts(root)
        self._merge_head(root)
        source = _find(root, "body")
        if source is not None:
            target = _find(self.root, "body")
            if target is None:
                target = Element(source.tag, dict(source.attrib))
                target.text = source.text
                self.root.append(target)
            self._merge(target, source, {**self.ids, **defs})
        self._next_document()

    def _rename_conflicts(self, root: Element) -> dict[str, Element]:
        renamed: dict[str, str] = {}
        defs: dict[str, Element] = {}
        for node in root.iter():
            ident = node.get(_ID_ATTR)
            if ident is None or (_local(node.tag) in _STRUCTURE and ident in self.ids):
                continue
            known = self.ids.get(ident)
            if known is not None and _canon(known, _ID_SET) != _canon(node, _ID_SET):
                number = 1
                while f"{ident}.{number}" in self.ids or f"{ident}.{number}" in renamed.values():
                    number += 1
                renamed[ident] = f"{ident}.{number}"
                node.set(_ID_ATTR, renamed[ident])
            defs[node.get(_ID_ATTR, ident)] = node
        if renamed:
            for node in root.iter():
                for name in _REFERENCES:
                    value = node.get(name)
                    if value is not None:
                        node.set(name, " ".join(renamed.get(r, r) for r in value.split()))
        return defs

    def _merge_head(self, root: Element) -> None:
        source = _find(root, "head")
        if source is None:
            return
        target = _find(self.root, "head")
        if target is None:
            target = Element(source.tag)
            self.root.insert(0, target)
        for section in source:
            if _local(section.tag) not in ("styling", "layout"):
                continue
            place = _find(target, _local(section.tag))
            for definition in section:
                ident = definition.get(_ID_ATTR)
                if ident is None or ident in self.ids:
                    continue
                if place is None:
                    place = Element(section.tag, dict(section.attrib))
                    target.append(place)
                place.append(definition)
                self._index(definition)

    def _merge(self, target: Element, source: Element, defs: dict[str, Element]) -> None:
        for child in source:
            name = _local(child.tag)
            if name == "div":
                match = next(
                    (c for c in target if c.tag == child.tag and c.attrib == child.attrib), None
                )
                if match is None:
                    match = Element(child.tag, dict(child.attrib))
                    match.text, match.tail = child.text, child.tail
                    target.append(match)
                    self._index(match)
                self._merge(match, child, defs)
            elif name == "p":
                self._add_paragraph(target, child, defs)
            else:
                ident = child.get(_ID_ATTR)
                if ident is not None and ident in self.ids:
                    continue
                if ident is None and _canon(child) in {_canon(c) for c in target}:
                    continue
                target.append(child)
                self._index(child)

    def _add_paragraph(self, target: Element, p: Element, defs: dict[str, Element]) -> None:
        exact, loose_key = self._keys(p, defs)
        loose = (id(target), loose_key)
        if (id(target), exact) in self.seen:
            return
        self.seen.add((id(target), exact))
        before = self.previous.get(loose)
        begin, end = p.get("begin"), p.get("end")
        if (
            before is not None
            and begin is not None
            and end is not None
            and before.get("end") == begin
            and "dur" not in before.attrib
            and "dur" not in p.attrib
        ):
            before.set("end", end)
            self.current[loose] = before
            return
        target.append(p)
        self._index(p)
        self.current[loose] = p


def _find(el: Element, name: str) -> Element | None:
    return next((c for c in el if _local(c.tag) == name), None)


def _escape(text: str, attribute: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attribute:
        text = text.replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;")
        text = text.replace("\t", "&#9;")
    return text


def _serialize(root: Element, declared: Sequence[tuple[str, str]]) -> bytes:
    """Serialize with the documents' own namespace prefixes, all declared on the root."""
    unqualified = any(not el.tag.startswith("{") for el in root.iter())
    declarations: dict[str, str] = {}  # prefix -> uri, in the documents' order
    for prefix, uri in declared:
        if prefix not in declarations and uri != _XML_NS and not (unqualified and not prefix):
            declarations[prefix] = uri

    def choose(uri: str, allow_default: bool) -> str:
        for prefix, known in declarations.items():
            if known == uri and (prefix or allow_default):
                return prefix
        number = 0
        while f"ns{number}" in declarations:
            number += 1
        declarations[f"ns{number}"] = uri
        return f"ns{number}"

    element_prefix: dict[str, str] = {}
    attribute_prefix: dict[str, str] = {_XML_NS: "xml"}
    for el in root.iter():
        if el.tag.startswith("{"):
            uri = el.tag[1:].partition("}")[0]
            if uri not in element_prefix:
                element_prefix[uri] = choose(uri, allow_default=True)
        for key in el.attrib:
            uri = key[1:].partition("}")[0] if key.startswith("{") else ""
            if uri and uri not in attribute_prefix:
                attribute_prefix[uri] = choose(uri, allow_default=False)

    def qname(name: str, prefixes: dict[str, str]) -> str:
        if not name.startswith("{"):
            return name
        uri, _, local = name[1:].partition("}")
        prefix = prefixes[uri]
        return f"{prefix}:{local}" if prefix else local

    def write(el: Element, out: list[str]) -> None:
        out.append("<" + qname(el.tag, element_prefix))
        if el is root:
            for prefix, uri in declarations.items():
                name = f"xmlns:{prefix}" if prefix else "xmlns"
                out.append(f' {name}="{_escape(uri, attribute=True)}"')
        for key, value in el.attrib.items():
            out.append(f' {qname(key, attribute_prefix)}="{_escape(value, attribute=True)}"')
        if len(el) == 0 and not el.text:
            out.append("/>")
            return
        out.append(">" + _escape(el.text or ""))
        for child in el:
            write(child, out)
            out.append(_escape(child.tail or ""))
        out.append(f"</{qname(el.tag, element_prefix)}>")

    out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    write(root, out)
    out.append("\n")
    return "".join(out).encode("utf-8")


def merge_ttml(documents: Sequence[bytes]) -> bytes:
    """Merge TTML documents (one per segment or sample) into one.

    The first document is kept whole (``head`` with its styling and layout, root parameters);
    the ``p`` elements of later documents are added to the matching ``div`` (same attributes)
    of its ``body``.  Times are kept as they are.  A ``p`` repeated with the same timing and
    content is dropped; one split at a boundary (``end`` of one = ``begin`` of the next, same
    content) is joined.
    """
    if not documents:
        raise SubtitleError("no TTML document")
    merger: _TtmlMerger | None = None
    declared: list[tuple[str, str]] = []
    for number, document in enumerate(documents):
        root, namespaces = _parse_xml(document.lstrip(b"\xef\xbb\xbf \t\r\n"), number)
        declared.extend(namespaces)
        if merger is None:
            merger = _TtmlMerger(root)
        else:
            merger.merge(root)
    assert merger is not None
    return _serialize(merger.root, declared)


def stpp_to_ttml(data: bytes) -> bytes:
    """Convert a fragmented MP4 TTML track (``stpp``) to one TTML document.

    ``data`` is the init segment followed by the media segments; each sample (or its first
    sub-sample, when a ``subs`` box splits it) is a TTML document.  See :func:`merge_ttml`.
    """
    track, samples = _read_mp4(data)
    if track.entry != "stpp":
        raise SubtitleError(f"sample entry is {track.entry!r}, not 'stpp'")
    documents = [s.data for s in samples if s.data.strip(b"\0 \t\r\n")]
    if not documents:
        namespace = _escape(track.config or _TTML_NS, attribute=True)
        empty = f'<?xml version="1.0" encoding="UTF-8"?>\n<tt xmlns="{namespace}"><body/></tt>\n'
        return empty.encode("utf-8")
    return merge_ttml(documents)


def _split_ttml(data: bytes) -> list[bytes]:
    documents: list[bytes] = []
    position = 0
    for match in _TTML_END_RE.finditer(data):
        documents.append(data[position : match.end()])
        position = match.end()
    rest = data[position:]
    if rest.strip(b" \t\r\n\0") or not documents:
        documents.append(rest)
    return documents


# --------------------------------------------------------------------------- files

_SRT_RE = re.compile(r"\d+[ \t]*\n[ \t]*(?:\d+:)?\d{1,2}:\d{2}[,.]\d{1,3}[ \t]+-->")


def _plain(data: bytes, timestamp_map: bool) -> tuple[str, bytes | None]:
    """The extension and the converted content of a text file (None: copy it as is)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SubtitleError("not a subtitle file (not MP4, not UTF-8 text)") from None
    stripped = _normalize_text(text).lstrip(" \t\n")
    if _HEADER_RE.match(stripped):
        texts = _split_webvtt(_normalize_text(text))
        head = _BLOCK_SPLIT_RE.split(texts[0].strip("\n"), maxsplit=1)[0]
        mapped = any(_timestamp_offset(line) is not None for line in head.split("\n"))
        if len(texts) == 1 and not mapped:
            return "vtt", None
        return "vtt", merge_webvtt(texts, timestamp_map=timestamp_map).encode("utf-8")
    if stripped.startswith("<"):
        documents = _split_ttml(data)
        if len(documents) == 1:
            _parse_xml(documents[0].lstrip(b"\xef\xbb\xbf \t\r\n"), 0)
            return "ttml", None
        return "ttml", merge_ttml(documents)
    if _SRT_RE.match(stripped):
        return "srt", None
    raise SubtitleError("not a subtitle file (not WebVTT, TTML, SRT or MP4)")


def _write_atomic(dest: Path, content: bytes | None, source: Path) -> None:
    if content is None and source.resolve() == dest.resolve():
        return
    fd, temporary = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            if content is None:
                with source.open("rb") as src:
                    shutil.copyfileobj(src, out)
            else:
                out.write(content)
        os.replace(temporary, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def convert(
    path: Path,
    codecs: str | None,
    container: str | None,
    dest_dir: Path,
    stem: str,
    *,
    timestamp_map: bool = True,
) -> Path:
    """Write the text stream assembled in ``path`` as a plain subtitle file ``STEM.EXT``.

    Fragmented MP4 ``wvtt`` becomes ``.vtt``, ``stpp`` becomes ``.ttml``; segmented WebVTT or
    TTML is merged into one document; a single valid ``.vtt``/``.ttml``/``.srt`` is copied.
    The file is written atomically in ``dest_dir``.  ``codecs`` and ``container`` (the
    manifest's hints) only sharpen error messages: the content decides.  Raises
    :class:`SubtitleError` for input that is not a subtitle stream and
    :class:`~trioseg.errors.StoreError` when a file cannot be read or written.
    ``timestamp_map``: see :func:`merge_webvtt`.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    hint = ", ".join(h for h in (codecs, container) if h)
    content: bytes | None
    try:
        if not data.strip(b" \t\r\n\0"):
            raise SubtitleError("the file is empty")
        if _looks_like_mp4(data):
            track, _ = _read_mp4(data)
            if track.entry == "wvtt":
                ext, content = "vtt", wvtt_to_webvtt(data).encode("utf-8")
            elif track.entry == "stpp":
                ext, content = "ttml", stpp_to_ttml(data)
            else:
                raise SubtitleError(f"unsupported subtitle sample entry {track.entry!r}")
        else:
            ext, content = _plain(data, timestamp_map)
    except SubtitleError as exc:
        where = f" ({hint})" if hint else ""
        raise SubtitleError(f"cannot convert subtitles {path}{where}: {exc}") from None
    dest = dest_dir / f"{stem}.{ext}"
    try:
        _write_atomic(dest, content, path)
    except OSError as exc:
        raise StoreError(f"cannot write {dest}: {exc.strerror or exc}") from None
    return dest
