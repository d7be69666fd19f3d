"""Real MPEG-DASH presentations made with PyAV, for the demo, the tests and the benchmarks.

:func:`make_dash` encodes test patterns (``testsrc2``, x264) and a tone (``sine``, AAC) with
FFmpeg's ``dash`` muxer and returns the files a downloader is expected to fetch, in order, so a
download can be checked byte for byte: a stream's init segment followed by its media segments.

Addressing variants:

``number``
    ``SegmentTemplate`` with ``@duration`` and ``$Number%05d$``.
``timeline-number`` / ``timeline-time``
    ``SegmentTemplate`` with a ``SegmentTimeline``, files named by ``$Number%05d$`` or ``$Time$``.
``list``
    ``SegmentList`` per Representation, its files in ``rep-<id>/`` reached through a relative
    Representation-level ``BaseURL``.

:func:`probe` reports the streams and duration of a media file.
"""

from __future__ import annotations

import heapq
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import attrs
import av
import av.filter

__all__ = [
    "Addressing",
    "DashContent",
    "ProbeResult",
    "RepresentationFiles",
    "StreamInfo",
    "make_dash",
    "probe",
]

Addressing = Literal["number", "timeline-time", "timeline-number", "list"]
StreamKind = Literal["video", "audio"]

FPS = 25
AUDIO_RATE = 48_000
AUDIO_BITRATE = 96_000
AAC_FRAME = 1024
AAC_PRIMING = 1024

MPD_NS = "urn:mpeg:dash:schema:mpd:2011"
_NAMESPACES = {
    "": MPD_NS,
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "xlink": "http://www.w3.org/1999/xlink",
}
_INIT_NAME = "init-$RepresentationID$.m4s"
_SEGMENT_RE = re.compile(r"^chunk-(\d+)-(-?\d+)\.m4s$")
_ADDRESSING: tuple[Addressing, ...] = ("number", "timeline-time", "timeline-number", "list")


@attrs.frozen
class RepresentationFiles:
    """One Representation and its files, in the order a downloader appends them."""

    id: str
    kind: StreamKind
    bandwidth: int
    init: Path
    segments: tuple[Path, ...]
    width: int | None = None
    height: int | None = None

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.init, *self.segments)

    def expected_bytes(self) -> bytes:
        """The init segment and every media segment, concatenated."""
        return b"".join(path.read_bytes() for path in self.files)


@attrs.frozen
class DashContent:
    """A generated presentation: the MPD, the directory to serve, and the expected files."""

    manifest: Path
    root: Path
    representations: tuple[RepresentationFiles, ...]
    addressing: Addressing
    duration: float

    def representation(self, rep_id: str) -> RepresentationFiles:
        for rep in self.representations:
            if rep.id == rep_id:
                return rep
        raise KeyError(rep_id)

    def by_kind(self, kind: StreamKind) -> tuple[RepresentationFiles, ...]:
        return tuple(rep for rep in self.representations if rep.kind == kind)

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file of the presentation, the manifest first."""
        return (self.manifest, *(path for rep in self.representations for path in rep.files))


@attrs.frozen
class StreamInfo:
    index: int
    type: str
    codec: str
    duration: float | None
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None


@attrs.frozen
class ProbeResult:
    format: str
    duration: float | None
    streams: tuple[StreamInfo, ...]

    def of_type(self, kind: str) -> tuple[StreamInfo, ...]:
        return tuple(stream for stream in self.streams if stream.type == kind)


def make_dash(
    out_dir: Path,
    *,
    duration: float = 4.0,
    segment_duration: float = 1.0,
    addressing: Addressing = "number",
    video: Sequence[tuple[int, int, int]] = ((320, 240, 300_000),),
    audio: bool = True,
    manifest_name: str = "manifest.mpd",
) -> DashContent:
    """Encode a DASH presentation into ``out_dir`` (absent or empty) and describe its files.

    ``video`` holds one ``(width, height, bitrate)`` per video Representation, all in one
    AdaptationSet; ``audio`` adds one AAC Representation in a second AdaptationSet.
    ``segment_duration`` must be a whole number of frames at 25 fps.
    """
    if addressing not in _ADDRESSING:
        raise ValueError(f"unknown addressing {addressing!r}")
    if not video and not audio:
        raise ValueError("a presentation needs at least one stream")
    gop = round(segment_duration * FPS)
    if gop < 1 or abs(gop / FPS - segment_duration) > 1e-9:
        raise ValueError(f"segment_duration must be a multiple of 1/{FPS} s")
    frames = round(duration * FPS)
    if frames < 1:
        raise ValueError("duration must be at least one frame")
    for width, height, bitrate in video:
        if width <= 0 or height <= 0 or width % 2 or height % 2 or bitrate <= 0:
            raise ValueError(f"bad video rendition {(width, height, bitrate)!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty")

    manifest = out_dir / manifest_name
    media_name = "$Time$" if addressing == "timeline-time" else "$Number%05d$"
    sets: list[str] = []
    if video:
        sets.append(f"id={len(sets)},streams=v")
    if audio:
        sets.append(f"id={len(sets)},streams=a")
    options = {
        "seg_duration": f"{segment_duration:g}",
        "use_template": "1",
        "use_timeline": "1" if addressing.startswith("timeline") else "0",
        "init_seg_name": _INIT_NAME,
        "media_seg_name": f"chunk-$RepresentationID$-{media_name}.m4s",
        "adaptation_sets": " ".join(sets),
    }
    reps: list[tuple[str, StreamKind, int, int | None, int | None]] = []
    with av.open(str(manifest), "w", format="dash", options=options) as container:
        sources: list[Iterator[Any]] = []
        for width, height, bitrate in video:
            stream = _add_video_stream(container, width, height, bitrate, gop)
            reps.append((str(stream.index), "video", bitrate, width, height))
            sources.append(_video_packets(stream, width, height, frames))
        if audio:
            stream = _add_audio_stream(container)
            reps.append((str(stream.index), "audio", AUDIO_BITRATE, None, None))
            sources.append(_audio_packets(stream, frames / FPS))
        for packet in heapq.merge(*sources, key=_packet_time):
            container.mux(packet)

    files = _written_files(out_dir)
    representations = []
    for rep_id, kind, bandwidth, rep_width, rep_height in reps:
        init = out_dir / _INIT_NAME.replace("$RepresentationID$", rep_id)
        segments = tuple(out_dir / name for _, name in sorted(files.get(rep_id, [])))
        if not init.is_file() or not segments:
            raise RuntimeError(f"the dash muxer wrote no files for representation {rep_id}")
        representations.append(
            RepresentationFiles(rep_id, kind, bandwidth, init, segments, rep_width, rep_height)
        )
    if addressing == "list":
        representations = _rewrite_as_segment_list(manifest, representations, segment_duration)
    return DashContent(
        manifest=manifest,
        root=out_dir,
        representations=tuple(representations),
        addressing=addressing,
        duration=frames / FPS,
    )


def probe(path: Path) -> ProbeResult:
    """The container format, duration (seconds) and streams of a media file."""
    with av.open(str(path)) as container:
        streams = tuple(_stream_info(stream) for stream in container.streams)
        duration = None if container.duration is None else container.duration / av.time_base
        return ProbeResult(format=container.format.name, duration=duration, streams=streams)


def _stream_info(stream: Any) -> StreamInfo:
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    ctx = stream.codec_context
    info = StreamInfo(index=stream.index, type=stream.type, codec=ctx.name, duration=duration)
    if stream.type == "video":
        info = attrs.evolve(info, width=ctx.width, height=ctx.height)
    elif stream.type == "audio":
        info = attrs.evolve(info, sample_rate=ctx.sample_rate, channels=ctx.channels)
    return info


def _add_video_stream(container: Any, width: int, height: int, bitrate: int, gop: int) -> Any:
    stream = container.add_stream(
        "libx264",
        rate=FPS,
        options={
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
            "preset": "ultrafast",
        },
    )
    stream.width = width
    stream.height = height
    stream.pix_fmt = "yuv420p"
    stream.bit_rate = bitrate
    return stream


def _add_audio_stream(container: Any) -> Any:
    stream = container.add_stream("aac", rate=AUDIO_RATE)
    stream.layout = "stereo"
    stream.bit_rate = AUDIO_BITRATE
    return stream


def _pull(sink: Any) -> Iterator[Any]:
    while True:
        try:
            yield sink.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            return


def _video_packets(stream: Any, width: int, height: int, frames: int) -> Iterator[Any]:
    graph = av.filter.Graph()
    source = graph.add("testsrc2", f"size={width}x{height}:rate={FPS}:duration={frames / FPS!r}")
    sink = graph.add("buffersink")
    source.link_to(sink)
    graph.configure()
    time_base = Fraction(1, FPS)
    for index, frame in enumerate(_pull(sink)):
        if index >= frames:
            break
        out = frame.reformat(format="yuv420p")
        out.pts = index
        out.time_base = time_base
        yield from stream.encode(out)
    yield from stream.encode(None)


def _audio_packets(stream: Any, duration: float) -> Iterator[Any]:
    # The encoder's priming shifts the first packet to pts -AAC_PRIMING; moving every packet
    # forward by that much starts the track at 0 (the dash muxer names $Time$ files by pts),
    # and shortening the tone by as much keeps the track within the presentation's duration.
    samples = round(duration * AUDIO_RATE) - AAC_PRIMING
    graph = av.filter.Graph()
    source = graph.add("sine", f"frequency=440:sample_rate={AUDIO_RATE}")
    trim = graph.add("atrim", f"end_sample={samples}")
    sink = graph.add("abuffersink")
    source.link_to(trim)
    trim.link_to(sink)
    graph.configure()
    resampler = av.AudioResampler(
        format="fltp", layout="stereo", rate=AUDIO_RATE, frame_size=AAC_FRAME
    )
    for frame in _pull(sink):
        for out in resampler.resample(frame):
            yield from _shifted(stream.encode(out))
    for out in resampler.resample(None):
        yield from _shifted(stream.encode(out))
    yield from _shifted(stream.encode(None))


def _shifted(packets: Sequence[Any]) -> Iterator[Any]:
    for packet in packets:
        if packet.pts is not None:
            packet.pts += AAC_PRIMING
        if packet.dts is not None:
            packet.dts += AAC_PRIMING
        yield packet


def _packet_time(packet: Any) -> Fraction:
    ts: int | None = packet.dts if packet.dts is not None else packet.pts
    time_base: Fraction | None = packet.time_base
    if ts is None or time_base is None:
        return Fraction(0)
    return ts * time_base


def _written_files(out_dir: Path) -> dict[str, list[tuple[int, str]]]:
    found: dict[str, list[tuple[int, str]]] = {}
    for path in out_dir.iterdir():
        match = _SEGMENT_RE.match(path.name)
        if match:
            found.setdefault(match[1], []).append((int(match[2]), path.name))
    return found


def _q(tag: str) -> str:
    return f"{{{MPD_NS}}}{tag}"


def _rewrite_as_segment_list(
    manifest: Path, reps: list[RepresentationFiles], segment_duration: float
) -> list[RepresentationFiles]:
    for prefix, uri in _NAMESPACES.items():
        ET.register_namespace(prefix, uri)
    tree = ET.parse(manifest)
    by_id = {rep.id: rep for rep in reps}
    moved: list[RepresentationFiles] = []
    for element in tree.getroot().iter(_q("Representation")):
        rep = by_id[element.attrib["id"]]
        template = element.find(_q("SegmentTemplate"))
        if template is None:
            raise RuntimeError(f"representation {rep.id} has no SegmentTemplate")
        timescale = int(template.get("timescale", "1"))
        subdir = f"rep-{rep.id}"
        folder = rep.init.parent / subdir
        folder.mkdir()
        init = Path(shutil.move(rep.init, folder / rep.init.name))
        segments = tuple(Path(shutil.move(seg, folder / seg.name)) for seg in rep.segments)
        moved.append(attrs.evolve(rep, init=init, segments=segments))

        position = list(element).index(template)
        element.remove(template)
        base = ET.Element(_q("BaseURL"))
        base.text = f"{subdir}/"
        seg_list = ET.Element(
            _q("SegmentList"),
            {"timescale": str(timescale), "duration": str(round(segment_duration * timescale))},
        )
        ET.SubElement(seg_list, _q("Initialization"), {"sourceURL": init.name})
        for seg in segments:
            ET.SubElement(seg_list, _q("SegmentURL"), {"media": seg.name})
        element.insert(position, base)
        element.insert(position + 1, seg_list)
    ET.indent(tree, space="\t")
    tree.write(manifest, encoding="utf-8", xml_declaration=True)
    return moved
