"""The format grammar, selection, the -F listing, and the plan as JSON."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trioseg.errors import ManifestError, UnsupportedManifest, UsageError
from trioseg.formats import (
    DEFAULT_SPEC,
    Filter,
    codec_matches,
    format_table,
    frame_rate,
    lang_matches,
    list_formats,
    parse_format_spec,
    plan_json,
    rows_json,
    select,
)
from trioseg.mpd import Manifest, parse_mpd
from trioseg.select import codec_family, container_hint, join_periods, select_default
from trioseg.store import safe_name

URL = "http://example.test/path/manifest.mpd"
BASE = "http://example.test/path/"
TEMPLATE = (
    '<SegmentTemplate media="$RepresentationID$/$Number$.m4s" '
    'initialization="$RepresentationID$/i.mp4" duration="5"/>'
)
WIDEVINE = '<ContentProtection schemeIdUri="urn:uuid:EDEF8BA9-79D6-4ACE-A3C8-27DCD51D21ED"/>'
PLAYREADY = '<ContentProtection schemeIdUri="urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95"/>'
CENC = '<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc"/>'


def manifest(body: str, duration: str = "PT10S") -> Manifest:
    data = (
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        f'mediaPresentationDuration="{duration}">{body}</MPD>'
    )
    return parse_mpd(data.encode(), URL)


def rep(rid: str, bw: int, extra: str = "", inner: str = "") -> str:
    return f'<Representation id="{rid}" bandwidth="{bw}" {extra}>{inner}</Representation>'


def aset(attrs: str, *reps: str, inner: str = "") -> str:
    return f"<AdaptationSet {attrs}>{inner}{TEMPLATE}{''.join(reps)}</AdaptationSet>"


def sample() -> Manifest:
    return manifest(
        "<ProgramInformation><Title>Sample</Title></ProgramInformation><Period>"
        + aset(
            'mimeType="video/mp4" codecs="avc1.64001f" frameRate="30000/1001"',
            rep("v360", 800_000, 'width="640" height="360"'),
            rep("v720", 2_500_000, 'width="1280" height="720"'),
            rep("v1080", 5_000_000, 'width="1920" height="1080"'),
        )
        + aset(
            'mimeType="video/mp4" codecs="hvc1.1.6.L93.B0"',
            rep("h720", 1_800_000, 'width="1280" height="720"'),
        )
        + aset('mimeType="audio/mp4" codecs="mp4a.40.2" lang="en"', rep("en", 128_000))
        + aset(
            'mimeType="audio/mp4" codecs="ec-3" lang="fr-CA"',
            rep("fr", 384_000),
            inner='<Role schemeIdUri="urn:mpeg:dash:role:2011" value="dub"/>',
        )
        + '<AdaptationSet mimeType="text/vtt" lang="en"><Representation id="subs" '
        'bandwidth="100"><BaseURL>subs.vtt</BaseURL></Representation></AdaptationSet>' + "</Period>"
    )


def ids(m: Manifest, spec: str) -> list[str]:
    return [s.id for s in select(m, spec).streams]


# -- the grammar ----------------------------------------------------------------------------------


def test_parse_items_and_filters() -> None:
    spec = parse_format_spec("video[height<=720][codec=avc]+audio[lang=en]?, v1 ,all")
    kinds = [(i.kind, i.optional) for i in spec.items]
    assert kinds == [("video", False), ("audio", True), ("id", False), ("all", False)]
    assert spec.items[0].filters == (
        Filter("height", "<=", "720", 720.0),
        Filter("codec", "=", "avc"),
    )
    assert spec.items[2].text == "v1"
    assert DEFAULT_SPEC.text == "video?+audio?"


def test_bandwidth_suffixes() -> None:
    (item,) = parse_format_spec("video[bandwidth<2.5M]").items
    assert item.filters[0].number == 2_500_000
    (item,) = parse_format_spec("audio[bandwidth>=96k]").items
    assert item.filters[0].number == 96_000


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "format spec is empty"),
        ("video+", "an item is empty"),
        ("video[height<=720", "unbalanced '[' ']' in 'video[height<=720'"),
        ("video[heigth<=720]", "unknown filter key 'heigth'"),
        ("video[height<=tall]", "height needs a number, got 'tall'"),
        ("audio[lang<en]", "lang takes '=' or '!=', not '<'"),
        ("video[height]", "bad filter [height]"),
        ("video[height=]", "filter [height=] has no value"),
        ("video[period!=1]", "period takes '=' only"),
        ("movie[height=1]", "expected KIND[FILTER]"),
    ],
)
def test_parse_errors_point_at_the_bad_part(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_format_spec(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


@given(st.text(max_size=30))
def test_parser_raises_only_usage_errors(text: str) -> None:
    with contextlib.suppress(UsageError):
        parse_format_spec(text)


# -- matching helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "wanted", "hit"),
    [
        ("en", "en", True),
        ("en-US", "en", True),
        ("EN-us", "en-US", True),
        ("eng", "en", True),
        ("en", "eng", True),
        ("en-GB", "en-US", False),
        ("fr", "en", False),
        (None, "en", False),
    ],
)
def test_lang_matches(lang: str | None, wanted: str, hit: bool) -> None:
    assert lang_matches(lang, wanted) is hit


@pytest.mark.parametrize(
    ("codecs", "wanted", "hit"),
    [
        ("avc1.64001f", "avc1", True),
        ("avc3.4d401e", "avc", True),
        ("avc3.4d401e", "h264", True),
        ("hev1.1.6.L93.B0", "hevc", True),
        ("hvc1.1.6.L93.B0", "hevc", True),
        ("av01.0.08M.08", "av1", True),
        ("vp09.00.10.08", "vp9", True),
        ("mp4a.40.2", "aac", True),
        ("mp4a.40.2", "mp4a.40", True),
        ("ec-3", "ac-3", False),
        ("avc1.64001f,mp4a.40.2", "aac", True),
        (None, "avc", False),
    ],
)
def test_codec_matches(codecs: str | None, wanted: str, hit: bool) -> None:
    assert codec_matches(codecs, wanted) is hit


def test_families_and_containers() -> None:
    assert [
        codec_family(c) for c in ("avc1.4d", "avc3", "hev1.1", "hvc1", "Opus", "stpp.ttml")
    ] == [
        "avc",
        "avc",
        "hevc",
        "hevc",
        "opus",
        "stpp",
    ]
    assert container_hint("text/vtt") == "vtt"
    assert container_hint("application/ttml+xml") == "ttml"
    assert container_hint("application/mp4", "stpp.ttml.im1t") == "mp4"
    assert container_hint("application/mp4", "wvtt") == "mp4"
    assert container_hint("video/webm") == "webm"
    assert container_hint("video/mp2t") == "ts"
    assert container_hint(None) is None
    assert (frame_rate("30000/1001"), frame_rate("25"), frame_rate("1/0")) == (29.97, 25.0, None)


# -- selection ------------------------------------------------------------------------------------


def test_default_is_best_video_and_audio() -> None:
    m = sample()
    assert ids(m, "video?+audio?") == ["v1080", "fr"]
    assert [s.id for s in select_default(m).streams] == ["v1080", "fr"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("video[height<=720]", ["v720"]),
        ("video[height<720]", ["v360"]),
        ("video[width>=1280][codec=hevc]", ["h720"]),
        ("video[codec!=avc]", ["h720"]),
        ("video[fps>29]", ["v1080"]),
        ("video[bandwidth<=1M]", ["v360"]),
        ("audio[lang=en]", ["en"]),
        ("audio[lang=fr]", ["fr"]),
        ("audio[lang!=fr]", ["en"]),
        ("audio[role=dub]", ["fr"]),
        ("video+audio[lang=en]+audio[lang=fr]", ["v1080", "en", "fr"]),
        ("v360,en", ["v360", "en"]),
        ("v360+video[height<=360]+v360", ["v360"]),
        ("video[id=v720]", ["v720"]),
        ("text", ["subs"]),
        ("video[height<=100]?+audio[lang=de]?+text", ["subs"]),
        ("all", ["v360", "v720", "v1080", "h720", "en", "fr", "subs"]),
        ("video[period=0]", ["v1080"]),
    ],
)
def test_selection(spec: str, expected: list[str]) -> None:
    assert ids(sample(), spec) == expected


def test_id_wins_over_a_selector_spelled_the_same() -> None:
    m = manifest(
        "<Period>"
        + aset('mimeType="video/mp4"', rep("video", 1), rep("v2", 9))
        + aset('mimeType="audio/mp4"', rep("audio?", 1), rep("a2", 9))
        + "</Period>"
    )
    assert ids(m, "video") == ["video"]
    assert ids(m, "audio?") == ["audio?"]
    assert ids(m, "v2") == ["v2"]


def test_nothing_matches() -> None:
    m = sample()
    with pytest.raises(ManifestError, match=r"nothing matches 'audio\[lang=de\]'"):
        select(m, "audio[lang=de]")
    with pytest.raises(ManifestError, match="no representation 'nope'"):
        select(m, "nope")
    assert ids(m, "nope?+en") == ["en"]
    with pytest.raises(UsageError, match="no Period '7'"):
        select(m, "video[period=7]")
    text_only = manifest("<Period>" + aset('mimeType="text/vtt"', rep("t", 1)) + "</Period>")
    with pytest.raises(ManifestError, match=r"^no video or audio representation$"):
        select_default(text_only)


def test_encrypted_listed_and_avoided_by_default() -> None:
    m = manifest(
        "<Period>"
        + aset('mimeType="video/mp4"', rep("clear", 1000), rep("drm", 9000, inner=WIDEVINE))
        + aset('mimeType="audio/mp4"', rep("a", 1), inner=CENC + WIDEVINE + PLAYREADY)
        + "</Period>"
    )
    rows = {r.id: r for r in list_formats(m)}
    assert (rows["drm"].encrypted, rows["drm"].drm) == (True, ("Widevine",))
    assert rows["a"].drm == ("Widevine", "PlayReady", "cenc")
    assert not rows["clear"].encrypted
    with pytest.raises(UnsupportedManifest) as info:
        select_default(m)
    assert str(info.value) == (
        "representation 'a' is encrypted (Widevine, PlayReady, cenc); trioseg does not "
        "decrypt — pick an unencrypted one with -f, see -F"
    )
    assert ids(m, "video") == ["clear"]
    assert ids(m, "all") == ["clear"]
    with pytest.raises(UnsupportedManifest, match="representation 'drm' is encrypted"):
        select(m, "drm")


def test_text_tracks_are_planned() -> None:
    m = manifest(
        "<Period>"
        '<AdaptationSet mimeType="application/ttml+xml" lang="de"><Representation id="ttml" '
        'bandwidth="1"><BaseURL>de.ttml</BaseURL></Representation></AdaptationSet>'
        + aset('mimeType="application/mp4" codecs="stpp.ttml.im1t" lang="sv"', rep("stpp", 2))
        + aset('contentType="text" mimeType="application/mp4" codecs="wvtt"', rep("wvtt", 3))
        + "</Period>"
    )
    plan = select(m, "text[lang=de]+text[codec=stpp]+text[codec=wvtt]")
    ttml, stpp, wvtt = plan.streams
    assert (ttml.kind, ttml.container, [s.url for s in ttml.segments]) == (
        "text",
        "ttml",
        [BASE + "de.ttml"],
    )
    assert (stpp.container, stpp.init is not None, len(stpp.segments)) == ("mp4", True, 2)
    assert wvtt.container == "mp4"


# -- multi-Period ---------------------------------------------------------------------------------


def two_periods(second_video: str, second_audio: str = "") -> Manifest:
    first = (
        '<Period id="a" duration="PT5S">'
        + aset('id="1" mimeType="video/mp4" codecs="avc1.4d401f"', rep("v", 2000), rep("w", 900))
        + aset('id="2" mimeType="audio/mp4" codecs="mp4a.40.2" lang="en"', rep("au", 96))
        + "</Period>"
    )
    audio = second_audio or aset(
        'id="2" mimeType="audio/mp4" codecs="mp4a.40.2" lang="en"', rep("au", 96)
    )
    return manifest(first + f'<Period id="b">{second_video}{audio}</Period>')


def test_periods_join_by_adaptation_set_id_and_representation_id() -> None:
    m = two_periods(
        aset('id="1" mimeType="video/mp4" codecs="avc3.4d401f"', rep("w", 950), rep("v", 2100))
    )
    join = join_periods(m)
    assert join.notes == ()
    assert [[r.id for r in t.reps] for t in join.tracks] == [["v", "v"], ["w", "w"], ["au", "au"]]
    video, audio = select_default(m).streams
    assert video.periods == ("a", "b")
    assert [(s.url, s.period, s.is_init) for s in video.segments] == [
        (BASE + "v/1.m4s", "a", False),
        (BASE + "v/1.m4s", "b", False),
    ]
    assert audio.id == "au"


def test_periods_join_by_kind_language_and_codec_family_then_bandwidth() -> None:
    m = two_periods(
        aset('mimeType="video/mp4" codecs="avc1.640028"', rep("x1", 880), rep("x2", 2500)),
        aset('mimeType="audio/mp4" codecs="mp4a.40.5" lang="en-US"', rep("ax", 64)),
    )
    join = join_periods(m)
    pairs = [[r.id for r in t.reps] for t in join.tracks]
    assert ["v", "x2"] in pairs and ["w", "x1"] in pairs
    assert ["au", "ax"] not in pairs  # en and en-US differ as written
    assert any("audio en mp4a AdaptationSet '2' of Period 'a'" in n for n in join.notes)


def test_incompatible_codecs_are_reported_and_a_period_can_be_picked() -> None:
    m = two_periods(aset('id="1" mimeType="video/mp4" codecs="hvc1.1.6.L93.B0"', rep("h", 1)))
    join = join_periods(m)
    assert [t.id for t in join.tracks] == ["au"]
    assert any("'v' (avc1.4d401f) has no compatible Representation" in n for n in join.notes)
    with pytest.raises(ManifestError) as info:
        select_default(m)
    assert "the Periods cannot be joined" in str(info.value)
    assert "video[period=P]" in str(info.value)
    plan = select(m, "video[period=b]+audio")
    assert [(s.id, s.periods) for s in plan.streams] == [("h", ("b",)), ("au", ("a", "b"))]
    assert plan.period_notes == join.notes
    rows = list_formats(m)
    assert [(r.id, r.periods, r.note) for r in rows] == [
        ("au", ("a", "b"), None),
        ("v", ("a",), "Period 'a' only"),
        ("w", ("a",), "Period 'a' only"),
        ("h", ("b",), "Period 'b' only"),
    ]


def test_same_id_in_unjoinable_periods_is_ambiguous_and_gets_unique_names() -> None:
    m = two_periods(aset('id="1" mimeType="video/mp4" codecs="vp09.00.10.08"', rep("v", 1)))
    with pytest.raises(UsageError, match=r"representation 'v' is in Periods 'a', 'b'"):
        select(m, "v")
    plan = select(m, "video[id=v][period=a]+video[id=v][period=b]")
    assert [s.id for s in plan.streams] == ["v", "v@b"]


# -- listing and JSON -----------------------------------------------------------------------------


def test_list_formats_rows() -> None:
    rows = {r.id: r for r in list_formats(sample())}
    v = rows["v720"]
    assert (v.kind, v.codecs, v.width, v.height, v.fps, v.bandwidth) == (
        "video",
        "avc1.64001f",
        1280,
        720,
        29.97,
        2_500_000,
    )
    assert (v.segments, v.duration, v.size, v.periods, v.container) == (
        2,
        10.0,
        3_125_000,
        ("0",),
        "mp4",
    )
    assert rows["fr"].roles == ("dub",) and rows["fr"].lang == "fr-CA"
    assert rows["subs"].segments == 1 and rows["subs"].container == "vtt"


def test_format_table_fits_100_columns() -> None:
    m = manifest(
        "<Period>"
        + aset(
            'mimeType="video/mp4" codecs="avc1.64001f,mp4a.40.2,ec-3,ac-3"',
            rep("a-very-long-representation-identifier-" * 3, 123_456_789, inner=WIDEVINE),
        )
        + "</Period>"
    )
    rows = list_formats(sample()) + list_formats(m)
    table = format_table(rows, notes=["one note " * 20])
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["ID", "KIND", "CODECS", "RES"]
    assert all(len(line) <= 100 for line in lines)
    assert len(lines) == len(rows) + 2
    assert "1280x720" in table and "29.97" in table and "DRM Widevine" in table
    assert all(len(line) <= 60 for line in format_table(rows, width=60).splitlines())


def test_rows_json_keys_are_stable() -> None:
    (row, *_) = rows_json(list_formats(sample()))
    assert list(row) == [
        "id",
        "kind",
        "codecs",
        "mime_type",
        "container",
        "width",
        "height",
        "fps",
        "bandwidth",
        "lang",
        "roles",
        "segments",
        "duration",
        "size",
        "encrypted",
        "drm",
        "periods",
        "note",
    ]
    assert json.dumps(row)


def test_plan_json() -> None:
    m = sample()
    out = plan_json(select(m, "v360+subs"))
    assert (out["event"], out["manifest"], out["title"], out["duration"]) == (
        "plan",
        URL,
        "Sample",
        10.0,
    )
    video, subs = out["streams"]
    assert {k: video[k] for k in ("id", "kind", "codecs", "bandwidth", "width", "height")} == {
        "id": "v360",
        "kind": "video",
        "codecs": "avc1.64001f",
        "bandwidth": 800_000,
        "width": 640,
        "height": 360,
    }
    assert video["segments"] == [
        {"url": BASE + "v360/i.mp4", "range": None, "init": True},
        {"url": BASE + "v360/1.m4s", "range": None, "init": False},
        {"url": BASE + "v360/2.m4s", "range": None, "init": False},
    ]
    assert video["index"] == [] and subs["segments"][0]["url"] == BASE + "subs.vtt"
    assert json.loads(json.dumps(out)) == out


def test_plan_json_names_a_pending_index() -> None:
    m = manifest(
        '<Period><AdaptationSet mimeType="video/mp4"><Representation id="v" bandwidth="1">'
        '<BaseURL>v.mp4</BaseURL><SegmentBase indexRange="900-999">'
        '<Initialization range="0-899"/></SegmentBase></Representation></AdaptationSet></Period>'
    )
    (stream,) = plan_json(select_default(m))["streams"]
    assert stream["index"] == [
        {"url": BASE + "v.mp4", "range": "900-999", "init_range": "0-899", "period": "0"}
    ]
    assert stream["segments"] == [{"url": BASE + "v.mp4", "range": None, "init": False}]


# -- hostile values -------------------------------------------------------------------------------


@pytest.mark.parametrize("rid", ["../../etc/passwd", "/abs", "..", "a/../../b", "\x00x", "C:\\w"])
def test_ids_used_as_file_names_cannot_escape(rid: str) -> None:
    escaped = rid.replace("\x00", "")
    m = manifest(
        "<ProgramInformation><Title>../../t</Title></ProgramInformation><Period>"
        + aset('mimeType="video/mp4"', f'<Representation id="{escaped}" bandwidth="1"/>')
        + "</Period>"
    )
    (stream,) = select_default(m).streams
    assert stream.id == escaped
    for value in (stream.id, m.title or ""):
        name = safe_name(value)
        assert "/" not in name and "\\" not in name and name not in ("", ".", "..")
        assert not name.startswith(".")
