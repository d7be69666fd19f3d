from __future__ import annotations

import itertools
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import pytest

from trioseg.errors import MuxError
from trioseg.mux import MuxInput, MuxResult, mux

SECONDS = 4
RATE = 48000


def _pull(graph: av.filter.Graph) -> Iterator[av.VideoFrame | av.AudioFrame]:
    while True:
        try:
            frame = graph.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            return
        assert isinstance(frame, av.VideoFrame | av.AudioFrame)
        yield frame


def _source(name: str, args: str, sink: str) -> av.filter.Graph:
    graph = av.filter.Graph()
    graph.add(name, args).link_to(graph.add(sink))
    graph.configure()
    return graph


def _make_dash(
    directory: Path,
    *,
    video: bool = True,
    audio: bool = True,
    seconds: int = SECONDS,
    start: int = 0,
) -> dict[str, Path]:
    """Encode test media with the dash muxer; return one init+segments file per kind."""
    directory.mkdir(parents=True, exist_ok=True)
    kinds = [k for k, wanted in (("video", video), ("audio", audio)) if wanted]
    sets = " ".join(f"id={i},streams={k[0]}" for i, k in enumerate(kinds))
    out = av.open(
        str(directory / "m.mpd"),
        "w",
        format="dash",
        options={
            "seg_duration": "1",
            "use_template": "1",
            "use_timeline": "0",
            "adaptation_sets": sets,
            "init_seg_name": "init-$RepresentationID$.m4s",
            "media_seg_name": "chunk-$RepresentationID$-$Number%05d$.m4s",
        },
    )
    if video:
        vstream = out.add_stream(
            "libx264",
            rate=25,
            options={"preset": "ultrafast", "g": "25", "keyint_min": "25", "sc_threshold": "0"},
        )
        vstream.width, vstream.height, vstream.pix_fmt = 320, 240, "yuv420p"
    if audio:
        astream = out.add_stream("aac", rate=RATE)
        astream.layout = "stereo"
    if video:
        graph = _source("testsrc2", f"size=320x240:rate=25:duration={seconds}", "buffersink")
        for frame in _pull(graph):
            assert isinstance(frame, av.VideoFrame) and frame.pts is not None
            frame = frame.reformat(format="yuv420p")
            frame.pts = (frame.pts or 0) + start * 25
            out.mux(vstream.encode(frame))
        out.mux(vstream.encode(None))
    if audio:
        graph = _source(
            "sine", f"frequency=440:sample_rate={RATE}:duration={seconds}", "abuffersink"
        )
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE, frame_size=1024)
        for sound in [*_pull(graph), None]:
            assert sound is None or isinstance(sound, av.AudioFrame)
            for chunk in resampler.resample(sound):
                chunk.pts = (chunk.pts or 0) + start * RATE
                out.mux(astream.encode(chunk))
        out.mux(astream.encode(None))
    out.close()
    files = {}
    for rep_id, kind in enumerate(kinds):
        path = directory / f"{kind}.mp4"
        with path.open("wb") as joined:
            joined.write((directory / f"init-{rep_id}.m4s").read_bytes())
            for chunk_path in sorted(directory.glob(f"chunk-{rep_id}-*.m4s")):
                joined.write(chunk_path.read_bytes())
        files[kind] = path
    return files


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _make_dash(tmp_path_factory.mktemp("dash"))


def _probe(path: Path) -> list[tuple[str, str, str | None, list[int]]]:
    """(type, codec, language, dts list) per output stream."""
    with av.open(str(path)) as container:
        streams = list(container.streams)
        dts: dict[int, list[int]] = {s.index: [] for s in streams}
        for packet in container.demux():
            if packet.dts is not None:
                dts[packet.stream.index].append(packet.dts)
        return [
            (s.type, s.codec_context.name, s.metadata.get("language"), dts[s.index])
            for s in streams
        ]


def _format_name(path: Path) -> str:
    with av.open(str(path)) as container:
        return container.format.name


def _start_seconds(path: Path) -> dict[str, Fraction]:
    """The first presentation time of each stream type, in seconds."""
    starts: dict[str, Fraction] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            kind, tb = packet.stream.type, packet.stream.time_base
            if packet.pts is not None and tb is not None and kind not in starts:
                starts[kind] = packet.pts * tb
    return starts


@pytest.mark.parametrize(("container", "demuxer"), [("mp4", "mp4"), ("matroska", "matroska")])
def test_video_and_audio(
    media: dict[str, Path], tmp_path: Path, container: str, demuxer: str
) -> None:
    output = tmp_path / "out.bin"
    result = mux(
        [MuxInput(media["video"], "video"), MuxInput(media["audio"], "audio")],
        output,
        container=container,
    )
    assert result == MuxResult(output, result.duration, ("video", "audio"))
    assert result.duration is not None and abs(result.duration - SECONDS) < 0.1
    assert demuxer in _format_name(output)
    streams = _probe(output)
    assert [(kind, codec) for kind, codec, _, _ in streams] == [
        ("video", "h264"),
        ("audio", "aac"),
    ]
    for _, _, _, dts in streams:
        assert len(dts) > 20
        assert dts == sorted(dts)
    with av.open(str(output)) as probe:
        assert probe.duration is not None
        assert abs(probe.duration / av.time_base - SECONDS) < 0.1


def test_packets_copied_not_reencoded(media: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    mux([MuxInput(media["video"], "video")], output)
    with av.open(str(media["video"])) as src, av.open(str(output)) as dst:
        before = [bytes(p) for p in src.demux() if p.dts is not None]
        after = [bytes(p) for p in dst.demux() if p.dts is not None]
    assert before == after


def test_video_sorted_before_audio(media: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "out.mkv"
    result = mux(
        [MuxInput(media["audio"], "audio"), MuxInput(media["video"], "video")],
        output,
        container="matroska",
    )
    assert result.streams == ("video", "audio")
    assert [s[0] for s in _probe(output)] == ["video", "audio"]


@pytest.mark.parametrize("kind", ["video", "audio"])
@pytest.mark.parametrize("container", ["mp4", "matroska"])
def test_single_stream(media: dict[str, Path], tmp_path: Path, kind: str, container: str) -> None:
    output = tmp_path / "out"
    result = mux([MuxInput(media[kind], kind)], output, container=container)
    assert result.streams == (kind,)
    assert result.duration is not None and abs(result.duration - SECONDS) < 0.1
    assert [s[0] for s in _probe(output)] == [kind]


def test_only_audio_source(tmp_path: Path) -> None:
    files = _make_dash(tmp_path / "dash", video=False, seconds=2)
    result = mux([MuxInput(files["audio"], "audio")], tmp_path / "a.m4a")
    assert result.duration is not None and abs(result.duration - 2) < 0.1


@pytest.mark.parametrize(
    ("container", "lang", "expected"),
    [
        ("mp4", "en", "eng"),
        ("mp4", "pt-BR", "por"),
        ("mp4", "fra", "fra"),
        ("matroska", "de", "ger"),
        ("matroska", "en-GB", "eng"),
    ],
)
def test_language(
    media: dict[str, Path], tmp_path: Path, container: str, lang: str, expected: str
) -> None:
    output = tmp_path / "out"
    mux(
        [MuxInput(media["video"], "video"), MuxInput(media["audio"], "audio", lang=lang)],
        output,
        container=container,
    )
    languages = {kind: language for kind, _, language, _ in _probe(output)}
    assert languages["audio"] == expected
    assert languages["video"] in (None, "und")


@pytest.mark.parametrize("container", ["mp4", "matroska"])
def test_progress(media: dict[str, Path], tmp_path: Path, container: str) -> None:
    seen: list[float] = []
    mux(
        [MuxInput(media["video"], "video"), MuxInput(media["audio"], "audio")],
        tmp_path / "out",
        container=container,
        progress=seen.append,
    )
    assert 5 <= len(seen) <= 100
    assert seen == sorted(seen)
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert seen[-1] == 1.0
    assert seen[-2] > 0.9


@pytest.mark.parametrize("container", ["mp4", "matroska"])
def test_part_name(media: dict[str, Path], tmp_path: Path, container: str) -> None:
    output = tmp_path / "movie.mp4.part"
    result = mux(
        [MuxInput(media["video"], "video"), MuxInput(media["audio"], "audio")],
        output,
        container=container,
    )
    assert result.path == output
    assert container in _format_name(output)
    assert list(tmp_path.iterdir()) == [output]


def test_garbage_input(media: dict[str, Path], tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a media file " * 100)
    output = tmp_path / "out.mp4.part"
    with pytest.raises(MuxError, match=r"garbage\.mp4") as info:
        mux([MuxInput(media["video"], "video"), MuxInput(garbage, "audio")], output)
    assert "\n" not in str(info.value)
    assert not output.exists()


def test_missing_input(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    with pytest.raises(MuxError, match=r"nowhere\.mp4"):
        mux([MuxInput(tmp_path / "nowhere.mp4", "video")], output)
    assert not output.exists()


def test_truncated_init_only(media: dict[str, Path], tmp_path: Path) -> None:
    init_only = tmp_path / "init.mp4"
    init_only.write_bytes(media["video"].read_bytes()[:800])
    output = tmp_path / "out.mp4"
    with pytest.raises(MuxError, match=r"init\.mp4"):
        mux([MuxInput(init_only, "video")], output)
    assert not output.exists()


def test_codec_not_allowed_in_container(media: dict[str, Path], tmp_path: Path) -> None:
    subtitles = tmp_path / "subs.vtt"
    subtitles.write_text("WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nHello\n")
    output = tmp_path / "out.mp4"
    with pytest.raises(MuxError, match=r"subs\.vtt.*webvtt"):
        mux([MuxInput(subtitles, "text"), MuxInput(media["video"], "video")], output)
    assert not output.exists()
    result = mux(
        [MuxInput(subtitles, "text", "fr"), MuxInput(media["video"], "video")],
        output,
        container="matroska",
    )
    assert result.streams == ("video", "text")
    assert [(s[0], s[2]) for s in _probe(output)] == [("video", None), ("subtitle", "fre")]


def test_failure_removes_existing_output(media: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "out.mp4.part"
    output.write_bytes(b"stale")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00" * 4096)
    with pytest.raises(MuxError):
        mux([MuxInput(media["video"], "video"), MuxInput(garbage, "audio")], output)
    assert not output.exists()


def test_bad_arguments(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MuxError):
        mux([], tmp_path / "out.mp4")
    with pytest.raises(MuxError, match="avi"):
        mux([MuxInput(media["video"], "video")], tmp_path / "out.avi", container="avi")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("container", ["mp4", "matroska"])
def test_common_offset_removed_alignment_kept(tmp_path: Path, container: str) -> None:
    files = _make_dash(tmp_path / "dash", seconds=2, start=10)
    source = {kind: _start_seconds(path)[kind] for kind, path in files.items()}
    assert source["video"] == 10
    output = tmp_path / "out"
    result = mux(
        [MuxInput(files["video"], "video"), MuxInput(files["audio"], "audio")],
        output,
        container=container,
    )
    assert result.duration is not None and abs(result.duration - 2) < 0.1
    starts = _start_seconds(output)
    assert max(starts.values()) < 0.1
    lag = float(source["video"] - source["audio"])
    assert abs(float(starts["video"] - starts["audio"]) - lag) < 0.002


def test_priming_offset_kept(media: dict[str, Path], tmp_path: Path) -> None:
    source = {kind: _start_seconds(path)[kind] for kind, path in media.items()}
    assert source["audio"] < 0 == source["video"]
    output = tmp_path / "out.mp4"
    mux([MuxInput(media["video"], "video"), MuxInput(media["audio"], "audio")], output)
    assert _start_seconds(output) == source


def test_overlapping_segments(tmp_path: Path) -> None:
    files = _make_dash(tmp_path / "dash", audio=False, seconds=3)
    dash = tmp_path / "dash"
    repeated = tmp_path / "repeated.mp4"
    chunks = sorted(dash.glob("chunk-0-*.m4s"))
    with repeated.open("wb") as joined:
        joined.write((dash / "init-0.m4s").read_bytes())
        for chunk in [chunks[0], chunks[1], chunks[1], *chunks[2:]]:
            joined.write(chunk.read_bytes())
    assert files["video"].stat().st_size < repeated.stat().st_size
    output = tmp_path / "out.mp4"
    mux([MuxInput(repeated, "video")], output)
    [(_, _, _, dts)] = _probe(output)
    assert all(a < b for a, b in itertools.pairwise(dts))


def test_progress_callback_error_aborts(media: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "out.mp4.part"

    def stop(fraction: float) -> None:
        if fraction > 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mux(
            [MuxInput(media["video"], "video"), MuxInput(media["audio"], "audio")],
            output,
            progress=stop,
        )
    assert not output.exists()
