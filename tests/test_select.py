"""Stream selection and plans, plus the real-world MPD corpus and its yt-dlp oracle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trioseg.errors import ManifestError, ManifestParseError, UnsupportedManifest
from trioseg.mpd import Manifest, Representation, parse_mpd
from trioseg.plan import Plan
from trioseg.select import best, build_plan, select_default, stream_plan

URL = "http://example.test/path/manifest.mpd"
BASE = "http://example.test/path/"
CORPUS = Path(__file__).parent.parent.parent / "shared" / "mpd-corpus"

TEMPLATE = (
    '<SegmentTemplate media="$RepresentationID$/$Number$.m4s" '
    'initialization="$RepresentationID$/i.mp4" duration="5"/>'
)


def manifest(
    body: str, mpd_attrs: str = 'type="static" mediaPresentationDuration="PT10S"'
) -> Manifest:
    data = f'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" {mpd_attrs}>{body}</MPD>'
    return parse_mpd(data.encode(), URL)


def adaptation(mime: str, *reps: tuple[str, int], extra: str = "") -> str:
    inner = "".join(f'<Representation id="{i}" bandwidth="{b}"{extra}/>' for i, b in reps)
    return f'<AdaptationSet mimeType="{mime}">{TEMPLATE}{inner}</AdaptationSet>'


def period(*sets: str, attrs: str = "") -> str:
    return f"<Period {attrs}>{''.join(sets)}</Period>"


def test_select_default_picks_best_video_and_audio() -> None:
    m = manifest(
        "<ProgramInformation><Title>T</Title></ProgramInformation>"
        + period(
            adaptation("video/mp4", ("v1", 1000), ("v3", 3000), ("v2", 2000)),
            adaptation("audio/mp4", ("a1", 64000), ("a2", 128000)),
            adaptation("audio/mp4", ("a3", 96000)),
            adaptation("text/vtt", ("t", 10**9)),
        )
    )
    plan = select_default(m)
    assert isinstance(plan, Plan)
    assert (plan.manifest_url, plan.title, plan.duration) == (URL, "T", 10.0)
    video, audio = plan.streams
    assert (video.id, video.kind, video.bandwidth, video.mime_type) == (
        "v3",
        "video",
        3000,
        "video/mp4",
    )
    assert (audio.id, audio.kind, audio.bandwidth) == ("a2", "audio", 128000)
    assert video.init is not None and video.init.url == BASE + "v3/i.mp4"
    assert [s.url for s in video.segments] == [BASE + "v3/1.m4s", BASE + "v3/2.m4s"]


def test_select_default_audio_only_and_video_only() -> None:
    assert [
        s.id for s in select_default(manifest(period(adaptation("audio/mp4", ("a", 1))))).streams
    ] == ["a"]
    assert [
        s.id for s in select_default(manifest(period(adaptation("video/mp4", ("v", 1))))).streams
    ] == ["v"]


def test_tie_keeps_the_first() -> None:
    m = manifest(period(adaptation("video/mp4", ("x", 5), ("y", 5))))
    assert best(m.periods[0].representations, "video") is m.periods[0].representations[0]


@pytest.mark.parametrize(
    "body",
    [period(adaptation("text/vtt", ("t", 1))), period(), ""],
    ids=["text-only", "empty-period", "no-period"],
)
def test_no_video_or_audio(body: str) -> None:
    with pytest.raises(ManifestError, match="no video or audio representation"):
        select_default(manifest(body))


def test_dynamic_is_unsupported() -> None:
    m = manifest(
        period(adaptation("video/mp4", ("v", 1))),
        'type="dynamic" availabilityStartTime="2024-01-01T00:00:00Z"',
    )
    with pytest.raises(UnsupportedManifest) as info:
        select_default(m)
    assert str(info.value) == 'live (type="dynamic") manifests are not supported yet'
    with pytest.raises(UnsupportedManifest):
        build_plan(m, m.periods[0].representations)


def test_multi_period_takes_the_first_period() -> None:
    m = manifest(
        period(adaptation("video/mp4", ("p0v", 1)), attrs='id="intro" duration="PT5S"')
        + period(adaptation("video/mp4", ("p1v", 9)), attrs='id="main"'),
    )
    (stream,) = select_default(m).streams
    assert stream.id == "p0v"
    assert [s.url for s in stream.segments] == [BASE + "p0v/1.m4s"]
    assert {s.period for s in stream.segments} == {"intro"}
    later = build_plan(m, [m.periods[1].representations[0]]).streams[0]
    assert [s.period for s in later.segments] == ["main"]


def test_segment_base_index_only_fails_when_selected() -> None:
    sidx = (
        '<AdaptationSet mimeType="audio/mp4"><Representation id="a" bandwidth="9">'
        '<BaseURL>a.mp4</BaseURL><SegmentBase indexRange="10-20"/></Representation>'
        "</AdaptationSet>"
    )
    m = manifest(period(adaptation("video/mp4", ("v", 1)), sidx))
    with pytest.raises(UnsupportedManifest, match="SegmentBase with indexRange"):
        select_default(m)
    m = manifest(period(adaptation("video/mp4", ("v", 1)), sidx.replace('"audio', '"text')))
    assert [s.id for s in select_default(m).streams] == ["v"]


def test_build_plan_text_and_fields() -> None:
    m = manifest(
        period(
            '<AdaptationSet contentType="text" mimeType="application/mp4" codecs="stpp" lang="sv">'
            '<Representation id="sub" bandwidth="100"><BaseURL>sub.mp4</BaseURL></Representation>'
            "</AdaptationSet>",
            adaptation(
                "video/mp4",
                ("v", 2_500_000),
                extra=' width="1280" height="720" codecs="avc1.64001f" frameRate="25"',
            ),
        )
    )
    sub, video = m.periods[0].representations
    plan = build_plan(m, [video, sub])
    v, t = plan.streams
    assert (v.width, v.height, v.codecs, v.frame_rate) == (1280, 720, "avc1.64001f", "25")
    assert v.label == "1280x720 avc1.64001f 2.50 Mb/s"
    assert (t.kind, t.lang, t.init, [s.url for s in t.segments]) == (
        "text",
        "sv",
        None,
        [BASE + "sub.mp4"],
    )


def test_image_representation_cannot_be_planned() -> None:
    m = manifest(
        period(
            '<AdaptationSet contentType="image"><Representation id="th" bandwidth="1">'
            "<BaseURL>t.jpg</BaseURL></Representation></AdaptationSet>"
        )
    )
    with pytest.raises(UnsupportedManifest, match="kind 'image'"):
        stream_plan(m, m.periods[0].representations[0])


# -- the real-world corpus ------------------------------------------------------------------------


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in (CORPUS / "mpd").rglob("*") if p.is_file())


def _require_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"MPD corpus not found at {CORPUS}")


@pytest.mark.parametrize(
    "path",
    corpus_files() or [None],
    ids=lambda p: p.relative_to(CORPUS / "mpd").as_posix() if p else "absent",
)
def test_corpus_parses_or_fails_cleanly(path: Path | None) -> None:
    _require_corpus()
    assert path is not None
    try:
        m = parse_mpd(path.read_bytes(), URL)
        if m.type == "static":
            assert select_default(m).streams
    except ManifestError as exc:
        assert str(exc) and "\n" not in str(exc)


# Where trioseg and yt-dlp's URL lists differ for the oracle files that list no known
# yt-dlp limits, and why trioseg follows ISO/IEC 23009-1 instead.
ORACLE_DIFFERENCES = {
    "Dash-Industry-Forum__livesim2/cmd__livesim2__app__testdata__assets__"
    "testpic_2s_low_delay__Manifest.mpd": (
        "merged",
        "yt-dlp merges Representations with identical attributes (1080 and LD_1080, in two "
        "AdaptationSets) into one format; they are distinct Representations",
    ),
    "Eyevinn__dash-mpd/mpd__testdata__other__fraunhofer_iis_mpegh.mpd": (
        "extra-segment",
        "117.12 s / 1.92 s is exactly 61 segments; yt-dlp's float division gives 61.00000000000001 "
        "and its ceil adds a 62nd segment that does not exist",
    ),
    "Eyevinn__dash-mpd/mpd__testdata__schema-mpds__example_G8.mpd": (
        "no-media",
        "no BaseURL and no segment information: there is nothing to fetch (yt-dlp offers the "
        "manifest's directory URL)",
    ),
    "streamlink__streamlink/tests__resources__dash__test_attribute_namespaces.mpd": (
        "no-media",
        "no BaseURL and no segment information",
    ),
    "zencoder__go-dash/mpd__fixtures__inband_event_stream.mpd": (
        "no-media",
        "no BaseURL and no segment information",
    ),
}


def oracle_cases() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    cases = []
    for path in sorted((CORPUS / "oracle").rglob("*.json")):
        oracle = json.loads(path.read_text())
        if (
            oracle.get("status") == "ok"
            and oracle.get("mpd_type") == "static"
            and not oracle.get("yt_dlp_known_limits")
        ):
            cases.append(path)
    return cases


def _my_urls(m: Manifest, reps: list[Representation]) -> list[str]:
    out: list[str] = []
    for rep in reps:
        sp = stream_plan(m, rep)
        out += ([sp.init.url] if sp.init else []) + [s.url for s in sp.segments]
    return out


def _candidates(
    m: Manifest, fmt: dict[str, Any], used: dict[tuple[str, str], int]
) -> list[Representation]:
    """The Representation(s) an oracle format stands for, in document order."""
    same = [r for p in m.periods for r in p.representations if r.id == fmt["format_id"]]
    of_kind = [r for r in same if r.kind == fmt["type"]] or same
    key = (fmt["format_id"], fmt["type"])
    index = used.get(key, 0)
    used[key] = index + 1
    return [of_kind[index]] if index < len(of_kind) else of_kind


@pytest.mark.parametrize(
    "path", oracle_cases() or [None], ids=lambda p: p.name.removesuffix(".json") if p else "absent"
)
def test_urls_agree_with_the_oracle(path: Path | None) -> None:
    _require_corpus()
    assert path is not None
    oracle = json.loads(path.read_text())
    m = parse_mpd((CORPUS / "mpd" / oracle["file"]).read_bytes(), oracle["manifest_url"])
    difference = ORACLE_DIFFERENCES.get(oracle["file"], (None, ""))[0]
    used: dict[tuple[str, str], int] = {}
    for fmt in oracle["formats"]:
        if fmt["type"] == "text":
            continue
        reps = _candidates(m, fmt, used)
        theirs = fmt["download_urls"]
        if difference == "no-media":
            with pytest.raises(
                ManifestParseError, match="neither segment information nor a BaseURL"
            ):
                _my_urls(m, reps)
            continue
        mine = _my_urls(m, reps)
        if difference == "merged":
            twins = [
                r
                for r in m.periods[0].representations
                if r.bandwidth == reps[0].bandwidth
                and r.codecs == reps[0].codecs
                and r.width == reps[0].width
            ]
            assert theirs == _my_urls(m, twins)
        elif difference == "extra-segment":
            assert theirs[:-1] == mine and len(theirs) == len(mine) + 1
        else:
            assert mine == theirs
