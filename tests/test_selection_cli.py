"""Selection, listing, simulation and the rest of the MPD front end, end to end."""

from __future__ import annotations

import itertools
import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import av
import av.filter
import pytest
from conftest import rel
from test_download import options, run_cli

import trioseg.prepare
from trioseg.media import DashContent, probe
from trioseg.origin import open_origin

Factory = Callable[..., DashContent]
NS = 'xmlns="urn:mpeg:dash:schema:mpd:2011"'


@pytest.mark.trio
async def test_list_formats_table_and_json(dash_factory: Factory, tmp_path: Path) -> None:
    content = dash_factory(video=((320, 240, 400_000), (160, 120, 100_000)))
    async with open_origin(content.root) as origin:
        url = origin.url(rel(content, content.manifest))
        code, events, _ = await run_cli(options(url, tmp_path / "m.mp4", list_formats=True))
        logged = [r.path for r in origin.requests]
    assert code == 0
    listing = events[0]
    assert listing["event"] == "formats"
    rows = {row["id"]: row for row in listing["formats"]}
    assert {r["kind"] for r in rows.values()} == {"video", "audio"}
    assert sorted((r["width"], r["height"]) for r in rows.values() if r["kind"] == "video") == [
        (160, 120),
        (320, 240),
    ]
    assert all(r["segments"] == 4 and r["encrypted"] is False for r in rows.values())
    assert events[-1]["event"] == "finished" and events[-1]["status"] == "complete"
    assert logged == [rel(content, content.manifest)]
    assert not list(tmp_path.iterdir())


@pytest.mark.trio
async def test_format_by_id_and_by_filter(dash_factory: Factory, tmp_path: Path) -> None:
    content = dash_factory(video=((320, 240, 400_000), (160, 120, 100_000)))
    small = next(r for r in content.by_kind("video") if r.width == 160)
    async with open_origin(content.root) as origin:
        url = origin.url(rel(content, content.manifest))
        code, _, err = await run_cli(options(url, tmp_path / "a.mp4", format=small.id))
        assert code == 0, err
        code, _, err = await run_cli(
            options(url, tmp_path / "b.mp4", format="video[height<=200]+audio")
        )
        assert code == 0, err
    assert [s.type for s in probe(tmp_path / "a.mp4").streams] == ["video"]
    b = probe(tmp_path / "b.mp4")
    assert [s.type for s in b.streams] == ["video", "audio"]
    assert b.of_type("video")[0].height == 120


def test_malformed_format_exits_2() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "trioseg", "-f", "video[height<<3]", "http://x.test/m.mpd"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "video[height<<3]" in result.stderr


@pytest.mark.trio
async def test_simulate_json_lists_every_segment_in_order(
    dash_factory: Factory, tmp_path: Path
) -> None:
    content = dash_factory(addressing="timeline-time")
    async with open_origin(content.root) as origin:
        url = origin.url(rel(content, content.manifest))
        code, events, _ = await run_cli(options(url, tmp_path / "m.mp4", simulate=True))
        logged = [r.path for r in origin.requests]
    assert code == 0
    plan = events[0]
    assert plan["event"] == "plan"
    for stream in plan["streams"]:
        rep = content.representation(stream["id"])
        assert [s["url"] for s in stream["segments"]] == [
            origin.url(rel(content, p)) for p in rep.files
        ]
        assert [s["init"] for s in stream["segments"]] == [True] + [False] * len(rep.segments)
        assert all(s["range"] is None for s in stream["segments"])
    assert logged == [rel(content, content.manifest)]
    assert events[-1]["event"] == "finished"


@pytest.mark.trio
async def test_local_manifest_with_base_url(dash_factory: Factory, tmp_path: Path) -> None:
    content = dash_factory()
    local = tmp_path / "saved.mpd"
    shutil.copy(content.manifest, local)
    async with open_origin(content.root) as origin:
        code, events, _ = await run_cli(options(str(local), tmp_path / "no.mp4"))
        assert code == 2
        assert "--base-url" in events[-1]["error"]
        base = origin.url(rel(content, content.manifest))
        code, events, err = await run_cli(
            options(str(local), tmp_path / "m.mp4", base_url=base, mux=False)
        )
    assert code == 0, err
    paths = {s["id"]: Path(s["path"]) for s in events[-1]["streams"]}
    for rep in content.representations:
        assert paths[rep.id].read_bytes() == rep.expected_bytes()


def _segment_base_file(path: Path) -> tuple[int, int, int, int]:
    """A fragmented MP4 with a global sidx; returns (moov end, sidx start, sidx end,
    end of the last media fragment)."""
    out = av.open(
        str(path),
        "w",
        format="mp4",
        options={"movflags": "+frag_keyframe+empty_moov+default_base_moof+global_sidx"},
    )
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
    stream.options = {"g": "25", "keyint_min": "25", "sc_threshold": "0", "preset": "ultrafast"}
    graph = av.filter.Graph()
    src = graph.add("testsrc2", "size=320x240:rate=25:duration=4")
    sink = graph.add("buffersink")
    src.link_to(sink)
    graph.configure()
    while True:
        try:
            frame = graph.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            break
        for packet in stream.encode(frame.reformat(format="yuv420p")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    data = path.read_bytes()
    offset, boxes, media_end = 0, {}, 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.setdefault(kind, (offset, offset + size))
        offset += size
        if kind == b"mdat":
            media_end = offset
    return boxes[b"moov"][1], boxes[b"sidx"][0], boxes[b"sidx"][1], media_end


@pytest.mark.trio
async def test_segment_base_sidx_and_whole_file_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "media").mkdir(parents=True)
    media = site / "media" / "video.mp4"
    moov_end, sidx_start, sidx_end, media_end = _segment_base_file(media)
    shutil.copy(media, site / "media" / "plain.mp4")
    (site / "sb.mpd").write_text(
        f'<MPD {NS} type="static" mediaPresentationDuration="PT4S"><Period>'
        '<AdaptationSet contentType="video" mimeType="video/mp4">'
        '<Representation id="v" bandwidth="100000" codecs="avc1.64000d" width="320" height="240">'
        "<BaseURL>media/video.mp4</BaseURL>"
        f'<SegmentBase indexRange="{sidx_start}-{sidx_end - 1}">'
        f'<Initialization range="0-{moov_end - 1}"/></SegmentBase>'
        "</Representation></AdaptationSet></Period></MPD>"
    )
    (site / "whole.mpd").write_text(
        f'<MPD {NS} type="static" mediaPresentationDuration="PT4S"><Period>'
        '<AdaptationSet contentType="video" mimeType="video/mp4">'
        '<Representation id="w" bandwidth="100000" codecs="avc1.64000d">'
        "<BaseURL>media/plain.mp4</BaseURL></Representation></AdaptationSet></Period></MPD>"
    )
    monkeypatch.setattr(trioseg.prepare, "WHOLE_FILE_CHUNK", 16 * 1024)
    size = media.stat().st_size
    async with open_origin(site) as origin:
        code, events, err = await run_cli(
            options(origin.url("sb.mpd"), tmp_path / "sb.mp4", simulate=True)
        )
        assert code == 0, err
        segments = events[0]["streams"][0]["segments"]
        assert segments[0] == {
            "url": origin.url("media/video.mp4"),
            "range": f"0-{moov_end - 1}",
            "init": True,
        }
        ranges = [tuple(map(int, s["range"].split("-"))) for s in segments[1:]]
        assert ranges[0][0] == sidx_end and ranges[-1][1] == media_end - 1
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))

        code, events, err = await run_cli(
            options(origin.url("sb.mpd"), tmp_path / "sb.mp4", mux=False)
        )
        assert code == 0, err
        (path,) = events[-1]["outputs"]
        # init + every subsegment = the file without its index boxes
        data = media.read_bytes()
        assert Path(path).read_bytes() == data[:moov_end] + data[sidx_end:media_end]

        before = len(origin.requests)
        code, events, err = await run_cli(
            options(origin.url("whole.mpd"), tmp_path / "w.mp4", mux=False)
        )
        assert code == 0, err
        pieces = [r for r in origin.requests[before:] if r.path == "/media/plain.mp4"]
    (path,) = events[-1]["outputs"]
    assert Path(path).read_bytes() == media.read_bytes()
    assert len([r for r in pieces if r.range != "bytes=0-0"]) == -(-size // (16 * 1024))


@pytest.mark.trio
async def test_encrypted_representation_is_refused_clearly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "drm.mpd").write_text(
        f'<MPD {NS} type="static" mediaPresentationDuration="PT4S"><Period>'
        '<AdaptationSet contentType="video" mimeType="video/mp4">'
        '<ContentProtection schemeIdUri="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"/>'
        '<Representation id="v" bandwidth="1" codecs="avc1"><SegmentTemplate duration="1" '
        'media="$Number$.m4s" initialization="i.mp4"/></Representation>'
        "</AdaptationSet></Period></MPD>"
    )
    async with open_origin(site) as origin:
        code, _, _ = await run_cli(options(origin.url("drm.mpd"), tmp_path / "x.mp4"))
        assert code == 2
        code, picked, _ = await run_cli(
            options(origin.url("drm.mpd"), tmp_path / "x.mp4", format="v")
        )
    assert code == 2
    assert "encrypted" in picked[-1]["error"] and "Widevine" in picked[-1]["error"]


@pytest.mark.trio
async def test_remote_period_and_text_track(dash_factory: Factory, tmp_path: Path) -> None:
    content = dash_factory(duration=4.0)
    site = tmp_path / "site"
    shutil.copytree(content.root, site)
    manifest = site / content.manifest.relative_to(content.root)
    text = manifest.read_text()
    start = text.index("<Period")
    end = text.index("</Period>") + len("</Period>")
    period = text[start:end].replace(
        "</Period>",
        '<AdaptationSet contentType="text" mimeType="text/vtt" lang="en">'
        '<Representation id="subs" bandwidth="256"><BaseURL>subs.vtt</BaseURL>'
        "</Representation></AdaptationSet></Period>",
    )
    period = period.replace("<Period", f"<Period {NS}", 1)
    (site / "period.xml").write_text(period)
    (site / "subs.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n")
    linked = (
        text[:start] + '<Period xmlns:xlink="http://www.w3.org/1999/xlink" '
        'xlink:href="period.xml" xlink:actuate="onLoad"/>' + text[end:]
    )
    manifest.write_text(linked)
    async with open_origin(site) as origin:
        url = origin.url(rel(content, content.manifest))
        code, events, err = await run_cli(
            options(url, tmp_path / "m.mp4", format="video+audio+text[lang=en]")
        )
        fetched = {r.path for r in origin.requests}
    assert code == 0, err
    assert "/period.xml" in fetched
    outputs = sorted(Path(p).name for p in events[-1]["outputs"])
    assert outputs == ["m.mp4", "m.text-subs.vtt"]
    assert (tmp_path / "m.text-subs.vtt").read_text().startswith("WEBVTT")
    assert [s.type for s in probe(tmp_path / "m.mp4").streams] == ["video", "audio"]
    assert json.dumps(events[-1])


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            '<?xml version="1.0"?><!DOCTYPE MPD [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;">]>'
            f"<MPD {NS}>&c;</MPD>",
            "entit",
        ),
        (
            '<?xml version="1.0"?><!DOCTYPE MPD [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            f"<MPD {NS}>&x;</MPD>",
            "entit",
        ),
        (
            f'<MPD {NS} type="static" mediaPresentationDuration="PT1S"><Period>'
            '<AdaptationSet contentType="video"><Representation id="v" bandwidth="1">'
            '<SegmentTemplate media="$Time$.m4s"><SegmentTimeline><S t="0" d="1" '
            'r="1000000000000"/></SegmentTimeline></SegmentTemplate></Representation>'
            "</AdaptationSet></Period></MPD>",
            "limit",
        ),
    ],
)
def test_hostile_manifests_fail_fast_with_one_line(tmp_path: Path, body: str, needle: str) -> None:
    import subprocess
    import sys

    path = tmp_path / "evil.mpd"
    path.write_text(body)
    result = subprocess.run(
        [sys.executable, "-m", "trioseg", "--ignore-config", "--headless", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert needle in result.stderr.lower()
