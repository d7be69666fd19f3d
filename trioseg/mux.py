"""Stream-copy single-stream fragmented MP4 files into one output file.

Each input is one DASH representation as downloaded: its init segment followed by its media
segments.  Packets are copied, never re-encoded, and interleaved by time with one packet of
read-ahead per input, so memory stays bounded however long the media is.  The call is
synchronous; run it off the event loop (``trio.to_thread.run_sync``).
"""

from __future__ import annotations

import contextlib
import heapq
import math
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import attrs
import av
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.stream import Disposition, Stream

from .errors import MuxError

__all__ = ["CONTAINERS", "MuxInput", "MuxResult", "mux"]

CONTAINERS: dict[str, tuple[str, dict[str, str]]] = {
    "mp4": ("mp4", {"movflags": "+faststart"}),
    "matroska": ("matroska", {}),
}
"""Container name → (FFmpeg muxer name, muxer options)."""

_KIND_ORDER = {"video": 0, "audio": 1}
_PROGRESS_MEDIA_STEP = 0.1
_PROGRESS_MIN_STEP = 0.001
_AV_ERRORS = (av.FFmpegError, ValueError, OSError)


def _table(text: str) -> dict[str, str]:
    return dict(pair.split(":", 1) for pair in text.split())


_ISO639_1_TO_2T = _table(
    """
    aa:aar ab:abk ae:ave af:afr ak:aka am:amh an:arg ar:ara as:asm av:ava ay:aym az:aze ba:bak
    be:bel bg:bul bi:bis bm:bam bn:ben bo:bod br:bre bs:bos ca:cat ce:che ch:cha co:cos cr:cre
    cs:ces cu:chu cv:chv cy:cym da:dan de:deu dv:div dz:dzo ee:ewe el:ell en:eng eo:epo es:spa
    et:est eu:eus fa:fas ff:ful fi:fin fj:fij fo:fao fr:fra fy:fry ga:gle gd:gla gl:glg gn:grn
    gu:guj gv:glv ha:hau he:heb hi:hin ho:hmo hr:hrv ht:hat hu:hun hy:hye hz:her ia:ina id:ind
    ie:ile ig:ibo ii:iii ik:ipk io:ido is:isl it:ita iu:iku ja:jpn jv:jav ka:kat kg:kon ki:kik
    kj:kua kk:kaz kl:kal km:khm kn:kan ko:kor kr:kau ks:kas ku:kur kv:kom kw:cor ky:kir la:lat
    lb:ltz lg:lug li:lim ln:lin lo:lao lt:lit lu:lub lv:lav mg:mlg mh:mah mi:mri mk:mkd ml:mal
    mn:mon mr:mar ms:msa mt:mlt my:mya na:nau nb:nob nd:nde ne:nep ng:ndo nl:nld nn:nno no:nor
    nr:nbl nv:nav ny:nya oc:oci oj:oji om:orm or:ori os:oss pa:pan pi:pli pl:pol ps:pus pt:por
    qu:que rm:roh rn:run ro:ron ru:rus rw:kin sa:san sc:srd sd:snd se:sme sg:sag si:sin sk:slk
    sl:slv sm:smo sn:sna so:som sq:sqi sr:srp ss:ssw st:sot su:sun sv:swe sw:swa ta:tam te:tel
    tg:tgk th:tha ti:tir tk:tuk tl:tgl tn:tsn to:ton tr:tur ts:tso tt:tat tw:twi ty:tah ug:uig
    uk:ukr ur:urd uz:uzb ve:ven vi:vie vo:vol wa:wln wo:wol xh:xho yi:yid yo:yor za:zha zh:zho
    zu:zul
    """
)
"""ISO 639-1 → ISO 639-2/T, the form MP4 requires (DASH ``@lang`` is usually two letters)."""

_ISO639_2T_TO_2B = _table(
    """
    bod:tib ces:cze cym:wel deu:ger ell:gre eus:baq fas:per fra:fre hye:arm isl:ice kat:geo
    mkd:mac mri:mao msa:may mya:bur nld:dut ron:rum slk:slo sqi:alb zho:chi
    """
)
"""ISO 639-2/T → ISO 639-2/B where they differ; Matroska uses the /B form."""


@attrs.frozen
class MuxInput:
    path: Path
    kind: str
    lang: str | None = None
    #: files that continue the same stream after ``path`` (a later Period with its own
    #: init segment); their timestamps are made to follow on from the previous part
    parts: tuple[Path, ...] = ()
    #: flag this track as the default of its kind
    default: bool = False


@attrs.frozen
class MuxResult:
    path: Path
    duration: float | None
    streams: tuple[str, ...]


#: a decode time this far behind the stream's end starts a new timeline (a Period
#: boundary whose media restarts its clock): it is moved to follow on
_RESTART = 0.5


@attrs.define
class _Source:
    """One opened input: its container(s), its copied stream and its packet read-ahead.

    Timestamps are kept in each packet's own time base; ``shift`` (seconds) is added to
    make later parts and restarted timelines continue where the stream ended, and
    ``offset`` (seconds) removes the lead common to all inputs.
    """

    spec: MuxInput
    container: InputContainer
    stream: Stream
    packets: Iterator[Packet[Stream]]
    scale: float
    out_stream: Stream | None = None
    offset: Fraction = Fraction(0)
    last_dts: int | None = None
    shift: Fraction = Fraction(0)
    end: Fraction | None = None
    extra: list[InputContainer] = attrs.Factory(list)


def mux(
    inputs: Sequence[MuxInput],
    output: Path,
    *,
    container: str = "mp4",
    progress: Callable[[float], None] | None = None,
) -> MuxResult:
    """Copy the first stream of every input into ``output``, video first, then audio, then others.

    Timestamps keep their relative alignment across inputs; a positive lead common to all of
    them (a live stream's wall-clock offset) is removed.  Raises :class:`MuxError` on any
    failure, and then ``output`` does not exist.
    """
    if not inputs:
        raise MuxError("nothing to mux: no input streams")
    if container not in CONTAINERS:
        raise MuxError(f"unsupported output container {container!r}")
    fmt, options = CONTAINERS[container]
    ordered = sorted(inputs, key=lambda i: _KIND_ORDER.get(i.kind, 2))
    sources: list[_Source] = []
    out: OutputContainer | None = None
    try:
        for spec in ordered:
            sources.append(_open_source(spec))
        heads = [_first_packet(src) for src in sources]
        start = _common_start(sources, heads)
        for src in sources:
            src.offset = start
        total = _total_duration(sources, start)
        try:
            out = av.open(str(output), "w", format=fmt, options=options)
        except _AV_ERRORS as exc:
            raise MuxError(f"cannot create {output}: {_reason(exc)}") from exc
        for src in sources:
            src.out_stream = _add_stream(out, src, fmt)
        _copy_packets(out, sources, heads, start, total, progress)
        try:
            out.close()
        except _AV_ERRORS as exc:
            raise MuxError(f"cannot finish {output}: {_reason(exc)}") from exc
        out = None
        duration = _probe_duration(output)
    except BaseException:
        if out is not None:
            _close_quietly(out)
        output.unlink(missing_ok=True)
        raise
    finally:
        for src in sources:
            _close_quietly(src.container)
            for extra in src.extra:
                _close_quietly(extra)
    if progress is not None and total is not None:
        progress(1.0)
    return MuxResult(output, duration, tuple(src.spec.kind for src in sources))


def _open_source(spec: MuxInput) -> _Source:
    try:
        container = av.open(str(spec.path), "r")
    except _AV_ERRORS as exc:
        raise MuxError(f"cannot read {spec.path}: {_reason(exc)}") from exc
    if not container.streams:
        _close_quietly(container)
        raise MuxError(f"cannot read {spec.path}: no streams found")
    stream = container.streams[0]
    if stream.time_base is None:
        _close_quietly(container)
        raise MuxError(f"cannot read {spec.path}: stream has no time base")
    src = _Source(spec, container, stream, iter(()), float(stream.time_base))
    src.packets = _continuous(src)
    return src


def _demux(container: InputContainer, path: Path) -> Iterator[Packet[Stream]]:
    stream = container.streams[0]
    try:
        for packet in container.demux(stream):
            if packet.dts is not None:
                yield packet
    except _AV_ERRORS as exc:
        raise MuxError(f"cannot read {path}: {_reason(exc)}") from exc


def _continuous(src: _Source) -> Iterator[Packet[Stream]]:
    """Every packet of every part, shifted so that the stream's time never restarts."""
    paths = (src.spec.path, *src.spec.parts)
    for number, path in enumerate(paths):
        if number == 0:
            container = src.container
        else:
            try:
                container = av.open(str(path), "r")
            except _AV_ERRORS as exc:
                raise MuxError(f"cannot read {path}: {_reason(exc)}") from exc
            src.extra.append(container)
            if not container.streams:
                raise MuxError(f"cannot read {path}: no streams found")
        first = True
        for packet in _demux(container, path):
            tb = packet.time_base
            assert tb is not None and packet.dts is not None
            start = packet.dts * tb + src.shift
            if src.end is not None and ((first and number) or start < src.end - _RESTART):
                src.shift += src.end - start
                start = src.end
            first = False
            ticks = round(src.shift / tb)
            packet.dts += ticks
            if packet.pts is not None:
                packet.pts += ticks
            end = start + (packet.duration or 0) * tb
            src.end = end if src.end is None else max(src.end, end)
            yield packet


def _next_packet(src: _Source) -> Packet[Stream] | None:
    try:
        return next(src.packets, None)
    except _AV_ERRORS as exc:
        raise MuxError(f"cannot read {src.spec.path}: {_reason(exc)}") from exc


def _first_packet(src: _Source) -> Packet[Stream]:
    packet = _next_packet(src)
    if packet is None:
        raise MuxError(f"cannot read {src.spec.path}: no media packets")
    return packet


def _common_start(sources: Sequence[_Source], heads: Sequence[Packet[Stream]]) -> Fraction:
    """The earliest first timestamp over all inputs if positive, else zero."""
    starts = []
    for src, packet in zip(sources, heads, strict=True):
        ts = packet.pts if packet.pts is not None else packet.dts
        assert ts is not None and src.stream.time_base is not None
        starts.append(ts * src.stream.time_base)
    return max(min(starts), Fraction(0))


def _total_duration(sources: Sequence[_Source], start: Fraction) -> float | None:
    ends: list[Fraction] = []
    for src in sources:
        stream, tb = src.stream, src.stream.time_base
        if stream.duration and tb is not None:
            ends.append((stream.duration + (stream.start_time or 0)) * tb)
        elif src.container.duration:
            ends.append(Fraction(src.container.duration, av.time_base))
    if not ends:
        return None
    total = float(max(ends) - start)
    return total if total > 0 else None


def _add_stream(out: OutputContainer, src: _Source, fmt: str) -> Stream:
    try:
        stream = out.add_stream_from_template(src.stream)
    except _AV_ERRORS as exc:
        codec = src.stream.codec_context.name if src.stream.codec_context else "unknown"
        raise MuxError(f"cannot mux {src.spec.path}: {fmt} does not allow codec {codec!r}") from exc
    lang = src.spec.lang or src.stream.language
    if lang and lang != "und":
        stream.metadata["language"] = _language(lang, fmt)
    stream.disposition = Disposition.default if src.spec.default else Disposition(0)
    return stream


def _language(tag: str, fmt: str) -> str:
    """A BCP 47 tag (``en``, ``pt-BR``, ``deu``) as the three-letter code ``fmt`` stores."""
    primary = tag.replace("_", "-").split("-", 1)[0].lower()
    code = _ISO639_1_TO_2T.get(primary, primary)
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        return tag
    if fmt == "matroska":
        return _ISO639_2T_TO_2B.get(code, code)
    return code


def _copy_packets(
    out: OutputContainer,
    sources: Sequence[_Source],
    heads: Sequence[Packet[Stream]],
    start: Fraction,
    total: float | None,
    progress: Callable[[float], None] | None,
) -> None:
    heap: list[tuple[float, int, Packet[Stream]]] = []
    for index, packet in enumerate(heads):
        heap.append((_seconds(packet, sources[index].scale), index, packet))
    heapq.heapify(heap)
    report = progress is not None and total is not None
    step = max(_PROGRESS_MEDIA_STEP / total, _PROGRESS_MIN_STEP) if total else math.inf
    origin = float(start)
    reported = 0.0
    while heap:
        when, index, packet = heap[0]
        src = sources[index]
        assert src.out_stream is not None
        _retime(src, packet)
        packet.stream = src.out_stream
        try:
            out.mux_one(packet)
        except _AV_ERRORS as exc:
            raise MuxError(f"cannot mux {src.spec.path}: {_reason(exc)}") from exc
        following = _next_packet(src)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (_seconds(following, src.scale), index, following))
        if report:
            assert progress is not None and total is not None
            fraction = min(max((when - origin) / total, 0.0), 1.0)
            if fraction - reported >= step:
                reported = fraction
                progress(fraction)


def _retime(src: _Source, packet: Packet[Stream]) -> None:
    """Remove the common lead; nudge a decode time that goes backwards (overlapping segments)."""
    dts, pts = packet.dts, packet.pts
    assert dts is not None and packet.time_base is not None
    lead = round(src.offset / packet.time_base)
    dts -= lead
    if pts is not None:
        pts -= lead
    if src.last_dts is not None and dts <= src.last_dts:
        dts = src.last_dts + 1
        if pts is not None and pts < dts:
            pts = dts
    src.last_dts = dts
    packet.dts = dts
    if pts is not None:
        packet.pts = pts


def _seconds(packet: Packet[Stream], scale: float) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    assert ts is not None
    tb = packet.time_base
    return float(ts * tb) if tb is not None else ts * scale


def _probe_duration(path: Path) -> float | None:
    try:
        with av.open(str(path), "r") as probe:
            if probe.duration is not None and probe.duration > 0:
                return probe.duration / av.time_base
            return None
    except _AV_ERRORS as exc:
        raise MuxError(f"cannot read back {path}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, av.FFmpegError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _close_quietly(container: InputContainer | OutputContainer) -> None:
    with contextlib.suppress(*_AV_ERRORS):
        container.close()
