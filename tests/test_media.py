"""Generated DASH presentations: files, MPD shape per addressing, playable concatenations."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import pytest

from trioseg.media import Addressing, DashContent, make_dash, probe

NS = {"mpd": "urn:mpeg:dash:schema:mpd:2011"}
ADDRESSING: tuple[Addressing, ...] = ("number", "timeline-time", "timeline-number", "list")
TWO_SIZES = ((320, 240, 300_000), (160, 120, 100_000))


@pytest.fixture(scope="module", params=ADDRESSING)
def content(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> DashContent:
    out = tmp_path_factory.mktemp(request.param)
    return make_dash(out, duration=3.0, addressing=request.param, video=TWO_SIZES)


def representations(content: DashContent) -> dict[str, ET.Element]:
    tree = ET.parse(content.manifest)
    return {rep.attrib["id"]: rep for rep in tree.getroot().iterfind(".//mpd:Representation", NS)}


def test_concatenation_plays_with_expected_stream(content: DashContent, tmp_path: Path) -> None:
    assert [(rep.kind, rep.width) for rep in content.representations] == [
        ("video", 320),
        ("video", 160),
        ("audio", None),
    ]
    for rep in content.representations:
        joined = tmp_path / f"{rep.id}.mp4"
        joined.write_bytes(b"".join(path.read_bytes() for path in (rep.init, *rep.segments)))
        result = probe(joined)
        (stream,) = result.streams
        assert stream.type == rep.kind
        assert stream.codec == ("h264" if rep.kind == "video" else "aac")
        assert result.duration == pytest.approx(3.0, abs=0.05)
        assert stream.duration == pytest.approx(3.0, abs=0.05)
        if rep.kind == "video":
            assert (stream.width, stream.height) == (rep.width, rep.height)
        else:
            assert (stream.sample_rate, stream.channels) == (48_000, 2)


def test_files_exist_under_root_in_order(content: DashContent) -> None:
    assert content.manifest.is_file()
    assert content.manifest.parent == content.root
    assert content.duration == 3.0
    for rep in content.representations:
        assert len(rep.segments) == 3
        assert rep.files == (rep.init, *rep.segments)
        for path in rep.files:
            assert path.is_file()
            assert path.is_relative_to(content.root)
        assert rep.expected_bytes() == b"".join(p.read_bytes() for p in rep.files)
    assert content.files[0] == content.manifest
    assert len(set(content.files)) == 1 + 3 * 4


def test_representations_match_mpd(content: DashContent) -> None:
    in_mpd = representations(content)
    assert set(in_mpd) == {rep.id for rep in content.representations}
    for rep in content.representations:
        element = in_mpd[rep.id]
        assert int(element.attrib["bandwidth"]) == rep.bandwidth
        if rep.kind == "video":
            assert element.attrib["mimeType"] == "video/mp4"
            assert (int(element.attrib["width"]), int(element.attrib["height"])) == (
                rep.width,
                rep.height,
            )
        else:
            assert element.attrib["mimeType"] == "audio/mp4"
    sets = ET.parse(content.manifest).getroot().findall(".//mpd:AdaptationSet", NS)
    assert [len(s.findall("mpd:Representation", NS)) for s in sets] == [2, 1]


def test_mpd_shape_per_addressing(content: DashContent) -> None:
    for rep in content.representations:
        element = representations(content)[rep.id]
        template = element.find("mpd:SegmentTemplate", NS)
        timeline = element.find("mpd:SegmentTemplate/mpd:SegmentTimeline", NS)
        seg_list = element.find("mpd:SegmentList", NS)
        if content.addressing == "number":
            assert template is not None and timeline is None and seg_list is None
            assert "$Number%05d$" in template.attrib["media"]
            assert "duration" in template.attrib
        elif content.addressing.startswith("timeline"):
            assert template is not None and timeline is not None
            variable = "$Time$" if content.addressing == "timeline-time" else "$Number%05d$"
            assert variable in template.attrib["media"]
            assert len(timeline_starts(timeline)) == len(rep.segments)
        else:
            assert template is None and seg_list is not None


def timeline_starts(timeline: ET.Element) -> list[int]:
    starts: list[int] = []
    now = 0
    for s in timeline.iterfind("mpd:S", NS):
        now = int(s.get("t", now))
        for _ in range(int(s.get("r", "0")) + 1):
            starts.append(now)
            now += int(s.attrib["d"])
    return starts


def test_time_names_agree_with_timeline(tmp_path: Path) -> None:
    content = make_dash(tmp_path / "m", duration=3.0, addressing="timeline-time")
    in_mpd = representations(content)
    for rep in content.representations:
        timeline = in_mpd[rep.id].find("mpd:SegmentTemplate/mpd:SegmentTimeline", NS)
        assert timeline is not None
        named = [int(re.sub(r".*-(-?\d+)\.m4s$", r"\1", p.name)) for p in rep.segments]
        assert named == timeline_starts(timeline)
        assert named[0] == 0


def test_segment_list_and_base_url(tmp_path: Path) -> None:
    content = make_dash(tmp_path / "m", duration=2.0, addressing="list")
    in_mpd = representations(content)
    for rep in content.representations:
        element = in_mpd[rep.id]
        children = [child.tag.split("}")[1] for child in element]
        assert children.index("BaseURL") + 1 == children.index("SegmentList")
        base = element.findtext("mpd:BaseURL", namespaces=NS)
        assert base == f"rep-{rep.id}/"
        seg_list = element.find("mpd:SegmentList", NS)
        assert seg_list is not None
        assert int(seg_list.attrib["duration"]) == int(seg_list.attrib["timescale"])
        init = seg_list.find("mpd:Initialization", NS)
        assert init is not None
        assert content.root / base / init.attrib["sourceURL"] == rep.init
        media = [u.attrib["media"] for u in seg_list.iterfind("mpd:SegmentURL", NS)]
        assert [content.root / base / m for m in media] == list(rep.segments)
    assert not list(content.root.glob("*.m4s"))


def test_number_template_covers_every_segment(tmp_path: Path) -> None:
    # A client computes ceil(duration / segment duration) numbers from the template; the
    # files written must be exactly those, audio included.
    content = make_dash(tmp_path / "m", duration=2.6, segment_duration=0.8)
    for rep in content.representations:
        numbers = [int(p.stem.rsplit("-", 1)[1]) for p in rep.segments]
        assert numbers == list(range(1, math.ceil(2.6 / 0.8) + 1))


@pytest.mark.parametrize(
    ("video", "audio", "kinds"), [((), True, ["audio"]), (None, False, ["video"])]
)
def test_single_kind(
    tmp_path: Path, video: tuple[()] | None, audio: bool, kinds: list[str]
) -> None:
    args = {} if video is None else {"video": video}
    content = make_dash(tmp_path / "m", duration=1.0, audio=audio, **args)  # type: ignore[arg-type]
    assert [rep.kind for rep in content.representations] == kinds
    assert [rep.id for rep in content.representations] == ["0"]


def test_manifest_name(tmp_path: Path) -> None:
    content = make_dash(tmp_path / "m", duration=1.0, manifest_name="stream.mpd")
    assert content.manifest == tmp_path / "m" / "stream.mpd"
    assert content.manifest.read_bytes().startswith(b"<?xml")


def test_default_content(tmp_path: Path) -> None:
    content = make_dash(tmp_path / "m")
    assert [len(rep.segments) for rep in content.representations] == [4, 4]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"video": (), "audio": False}, ValueError),
        ({"segment_duration": 0.05}, ValueError),
        ({"duration": 0.0}, ValueError),
        ({"video": ((321, 240, 100_000),)}, ValueError),
        ({"addressing": "bogus"}, ValueError),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        make_dash(tmp_path / "m", **kwargs)  # type: ignore[arg-type]


def test_refuses_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        make_dash(tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_probe_init_only(tmp_path: Path) -> None:
    content = make_dash(tmp_path / "m", duration=1.0)
    result = probe(content.representations[0].init)
    assert [(s.type, s.codec) for s in result.streams] == [("video", "h264")]


def test_probe_two_stream_file(tmp_path: Path) -> None:
    content = make_dash(tmp_path / "m", duration=2.0)
    inputs = []
    for rep in content.representations:
        path = tmp_path / f"{rep.kind}.mp4"
        path.write_bytes(rep.expected_bytes())
        inputs.append(path)
    output = tmp_path / "out.mp4"
    sources = [av.open(str(path)) for path in inputs]
    try:
        with av.open(str(output), "w") as dst:
            streams = [dst.add_stream_from_template(src.streams[0]) for src in sources]
            for src, out_stream in zip(sources, streams, strict=True):
                for packet in src.demux(src.streams[0]):
                    if packet.dts is not None:
                        packet.stream = out_stream
                        dst.mux(packet)
    finally:
        for src in sources:
            src.close()
    result = probe(output)
    assert [(s.type, s.codec) for s in result.streams] == [("video", "h264"), ("audio", "aac")]
    assert result.duration == pytest.approx(2.0, abs=0.05)
    assert result.format.startswith("mov,mp4")
