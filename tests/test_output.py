"""Output that plays everywhere: containers, several audio languages, names,
verification, intermediate files, multi-Period continuity."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from conftest import rel
from test_download import options, run_cli

from trioseg.media import DashContent, RepresentationFiles, probe
from trioseg.naming import clean, container_for, fill_template
from trioseg.origin import open_origin

Factory = Callable[..., DashContent]
NS = 'xmlns="urn:mpeg:dash:schema:mpd:2011"'


def segment_list(rep: RepresentationFiles, folder: str, seconds: float) -> str:
    items = "".join(f'<SegmentURL media="{folder}/{p.name}"/>' for p in rep.segments)
    return (
        f'<SegmentList timescale="1000" duration="{int(seconds * 1000)}">'
        f'<Initialization sourceURL="{folder}/{rep.init.name}"/>{items}</SegmentList>'
    )


def copy_rep(rep: RepresentationFiles, site: Path, folder: str) -> None:
    (site / folder).mkdir(parents=True, exist_ok=True)
    for path in rep.files:
        shutil.copy(path, site / folder / path.name)


def rep_xml(rep: RepresentationFiles, folder: str, seconds: float, codecs: str) -> str:
    size = f' width="{rep.width}" height="{rep.height}"' if rep.width else ""
    return (
        f'<Representation id="{folder}" bandwidth="{rep.bandwidth}" codecs="{codecs}"{size}>'
        f"{segment_list(rep, folder, seconds)}</Representation>"
    )


@pytest.mark.trio
async def test_matroska_from_the_extension_and_mp4_by_default(
    dash_factory: Factory, tmp_path: Path
) -> None:
    content = dash_factory()
    async with open_origin(content.root) as origin:
        url = origin.url(rel(content, content.manifest))
        code, _, err = await run_cli(options(url, tmp_path / "film.mkv"))
        assert code == 0, err
        code, _, err = await run_cli(options(url, tmp_path / "film2.mkv", container="matroska"))
        assert code == 0, err
    info = probe(tmp_path / "film.mkv")
    assert "matroska" in info.format
    assert [s.type for s in info.streams] == ["video", "audio"]
    assert info.duration is not None and abs(info.duration - 4.0) < 0.2


def test_container_choice() -> None:
    assert container_for("x.mkv", None) == "matroska"
    assert container_for("x.MP4", None) == "mp4"
    assert container_for("{title}.{ext}", "matroska") == "matroska"
    assert container_for(None, None) == "mp4"
    with pytest.raises(Exception, match="does not match"):
        container_for("x.mp4", "matroska")


@pytest.mark.parametrize(
    ("template", "fields", "expected"),
    [
        ("{title}.{ext}", {"title": "My: Film/Part 1", "ext": "mp4"}, "My_ Film_Part 1.mp4"),
        (
            "out/{title}-{height}p.{ext}",
            {"title": "..", "height": "720", "ext": "mkv"},
            "out/_-720p.mkv",
        ),
        ("{title}.{ext}", {"title": "../../etc/passwd", "ext": "mp4"}, "_.._etc_passwd.mp4"),
        ("{id}-{lang}.{ext}", {"id": "v1+a2", "lang": "", "ext": "mp4"}, "v1+a2-.mp4"),
    ],
)
def test_templates_never_leave_the_chosen_folder(
    template: str, fields: dict[str, str], expected: str
) -> None:
    path = fill_template(template, fields)
    assert str(path) == expected
    assert path.parent == Path(template).parent


def test_template_errors() -> None:
    with pytest.raises(Exception, match=r"unknown field \{size\}"):
        fill_template("{size}.mp4", {})
    with pytest.raises(Exception, match="malformed output template"):
        fill_template("{title.mp4", {"title": "x"})
    assert clean("\x00\x1f.hidden") == "_.hidden"
    assert clean(".hidden") == "hidden"


@pytest.mark.trio
async def test_title_template_two_audio_languages_and_the_default_track(
    dash_factory: Factory, tmp_path: Path
) -> None:
    base = dash_factory(duration=4.0)
    other = dash_factory(duration=4.0, video=())
    site = tmp_path / "site"
    video = base.by_kind("video")[0]
    en, fr = base.by_kind("audio")[0], other.by_kind("audio")[0]
    copy_rep(video, site, "v")
    copy_rep(en, site, "en")
    copy_rep(fr, site, "fr")
    (site / "m.mpd").write_text(
        f'<MPD {NS} type="static" mediaPresentationDuration="PT4S">'
        "<ProgramInformation><Title>Tour: Part 1/2</Title></ProgramInformation><Period>"
        '<AdaptationSet id="1" contentType="video" mimeType="video/mp4">'
        + rep_xml(video, "v", 1.0, "avc1.42c00d")
        + '</AdaptationSet><AdaptationSet id="2" contentType="audio" mimeType="audio/mp4" '
        'lang="en">'
        + rep_xml(en, "en", 1.0, "mp4a.40.2")
        + '</AdaptationSet><AdaptationSet id="3" contentType="audio" mimeType="audio/mp4" '
        'lang="fr">' + rep_xml(fr, "fr", 1.0, "mp4a.40.2") + "</AdaptationSet></Period></MPD>"
    )
    async with open_origin(site) as origin:
        code, events, err = await run_cli(
            options(
                origin.url("m.mpd"),
                tmp_path / "{title} {height}p.{ext}",
                format="video+audio[lang=fr]+audio[lang=en]",
            )
        )
    assert code == 0, err
    out = tmp_path / "Tour_ Part 1_2 240p.mp4"
    assert events[-1]["outputs"] == [str(out)]
    with av.open(str(out)) as container:
        audio = [s for s in container.streams if s.type == "audio"]
        assert [s.language for s in audio] == ["fra", "eng"]
        assert [bool(s.disposition & av.stream.Disposition.default) for s in audio] == [
            True,
            False,
        ]
    assert any(e["event"] == "mux_finished" for e in events)


@pytest.mark.trio
async def test_keep_segments(dash_factory: Factory, tmp_path: Path) -> None:
    content = dash_factory()
    async with open_origin(content.root) as origin:
        url = origin.url(rel(content, content.manifest))
        code, _, err = await run_cli(options(url, tmp_path / "k.mp4", keep_segments=True))
        assert code == 0, err
        code, _, err = await run_cli(options(url, tmp_path / "r.mp4"))
        assert code == 0, err
    assert (tmp_path / ".k.mp4.trioseg" / "journal").exists()
    assert not (tmp_path / ".r.mp4.trioseg").exists()


@pytest.mark.trio
async def test_multi_period_output_plays_continuously(
    dash_factory: Factory, tmp_path: Path
) -> None:
    first = dash_factory(duration=4.0)
    second = dash_factory(duration=4.0, video=((320, 240, 500_000),))
    site = tmp_path / "site"
    periods = []
    for number, content in enumerate((first, second)):
        video, audio = content.by_kind("video")[0], content.by_kind("audio")[0]
        copy_rep(video, site, f"p{number}v")
        copy_rep(audio, site, f"p{number}a")
        periods.append(
            f'<Period id="p{number}" duration="PT4S">'
            '<AdaptationSet id="1" contentType="video" mimeType="video/mp4">'
            + rep_xml(video, f"p{number}v", 1.0, "avc1.42c00d").replace(
                f'id="p{number}v"', 'id="v"'
            )
            + '</AdaptationSet><AdaptationSet id="2" contentType="audio" mimeType="audio/mp4">'
            + rep_xml(audio, f"p{number}a", 1.0, "mp4a.40.2").replace(f'id="p{number}a"', 'id="a"')
            + "</AdaptationSet></Period>"
        )
    (site / "m.mpd").write_text(
        f'<MPD {NS} type="static" mediaPresentationDuration="PT8S">{"".join(periods)}</MPD>'
    )
    async with open_origin(site) as origin:
        code, events, err = await run_cli(options(origin.url("m.mpd"), tmp_path / "mp.mp4"))
    assert code == 0, (err, events[-1])
    assert events[-1]["status"] == "complete"
    info = probe(tmp_path / "mp.mp4")
    assert [s.type for s in info.streams] == ["video", "audio"]
    assert info.duration is not None and abs(info.duration - 8.0) < 0.2
    for stream in info.streams:
        assert stream.duration is not None and abs(stream.duration - 8.0) < 0.2


SUBS = Path(__file__).parent / "data" / "subtitles"


@pytest.mark.trio
@pytest.mark.parametrize(
    ("fixture", "codecs", "out_ext", "container"),
    [
        ("shaka-wvtt.mp4", "wvtt", "vtt", "mp4"),
        ("shaka-stpp.mp4", "stpp.ttml.im1t", "ttml", "mp4"),
        ("shaka-wvtt.mp4", "wvtt", "vtt", "mkv"),
    ],
)
async def test_subtitles_are_converted_beside_and_embedded_in_matroska(
    dash_factory: Factory, tmp_path: Path, fixture: str, codecs: str, out_ext: str, container: str
) -> None:
    content = dash_factory(duration=4.0)
    site = tmp_path / "site"
    shutil.copytree(content.root, site)
    shutil.copy(SUBS / fixture, site / "subs.mp4")
    manifest = site / content.manifest.relative_to(content.root)
    text = manifest.read_text()
    text = text.replace(
        "</Period>",
        '<AdaptationSet contentType="text" mimeType="application/mp4" lang="en">'
        f'<Representation id="subs" bandwidth="300" codecs="{codecs}">'
        "<BaseURL>subs.mp4</BaseURL></Representation></AdaptationSet></Period>",
    )
    manifest.write_text(text)
    async with open_origin(site) as origin:
        url = origin.url(rel(content, content.manifest))
        code, events, err = await run_cli(
            options(url, tmp_path / f"m.{container}", format="video+audio+text")
        )
    assert code == 0, (err, events[-1])
    beside = tmp_path / f"m.text-subs.{out_ext}"
    assert sorted(events[-1]["outputs"]) == sorted([str(tmp_path / f"m.{container}"), str(beside)])
    body = beside.read_text()
    if out_ext == "vtt":
        assert body.startswith("WEBVTT") and "-->" in body
    else:
        assert "<tt" in body and "<p" in body
    kinds = [s.type for s in probe(tmp_path / f"m.{container}").streams]
    expected = ["video", "audio", "subtitle"] if container == "mkv" else ["video", "audio"]
    assert kinds == expected
