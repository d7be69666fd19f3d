"""The MPD parser: model fields, inheritance, BaseURL resolution, safety and errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trioseg.errors import LimitExceeded, ManifestParseError, UnsupportedManifest
from trioseg.mpd import (
    ManifestLimits,
    Template,
    TemplateField,
    TimelineEntry,
    content_kind,
    drm_name,
    parse_duration,
    parse_mpd,
    xlink_targets,
)
from trioseg.plan import ByteRange

URL = "http://example.test/path/manifest.mpd"
NS = 'xmlns="urn:mpeg:dash:schema:mpd:2011"'


def mpd(body: str, attrs: str = 'type="static" mediaPresentationDuration="PT10S"') -> bytes:
    return f'<?xml version="1.0"?>\n<MPD {NS} {attrs}>{body}</MPD>'.encode()


def one_rep(
    rep_attrs: str = 'id="v" bandwidth="1000"', as_attrs: str = "", inner: str = ""
) -> bytes:
    return mpd(
        f"<Period><AdaptationSet {as_attrs}><Representation {rep_attrs}>{inner}"
        "</Representation></AdaptationSet></Period>"
    )


# -- the model ------------------------------------------------------------------------------------


def test_manifest_fields() -> None:
    data = mpd(
        "<ProgramInformation><Title> A title </Title></ProgramInformation>"
        '<Period id="p0"><AdaptationSet mimeType="video/mp4" lang="en">'
        '<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc"/>'
        '<Representation id="v1" bandwidth="2500000" codecs="avc1.64001f" width="1280" '
        'height="720" frameRate="30000/1001"/></AdaptationSet>'
        '<AdaptationSet contentType="audio" lang="fr"><Representation id="a1" bandwidth="128000" '
        'codecs="mp4a.40.2" mimeType="audio/mp4" lang="de" audioSamplingRate="48000"/>'
        "</AdaptationSet></Period>",
        attrs='type="static" mediaPresentationDuration="PT1H2M3.5S" minBufferTime="PT2S"',
    )
    m = parse_mpd(data, URL)
    assert (m.type, m.title, m.duration, m.min_buffer_time) == ("static", "A title", 3723.5, 2.0)
    (period,) = m.periods
    assert (period.id, period.key, period.start, period.duration) == ("p0", "p0", 0.0, 3723.5)
    video, audio = period.representations
    assert (video.id, video.bandwidth, video.codecs, video.mime_type) == (
        "v1",
        2500000,
        "avc1.64001f",
        "video/mp4",
    )
    assert (video.width, video.height, video.frame_rate, video.lang) == (
        1280,
        720,
        "30000/1001",
        "en",
    )
    assert (video.kind, video.encrypted) == ("video", True)
    assert (audio.kind, audio.lang, audio.encrypted, audio.audio_sampling_rate) == (
        "audio",
        "de",
        False,
        "48000",
    )
    assert video.base_urls == (URL,)
    assert not video.has_base_url


def test_representation_content_protection_counts() -> None:
    inner = '<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011"/>'
    rep = parse_mpd(one_rep(inner=inner), URL).periods[0].representations[0]
    assert rep.encrypted


@pytest.mark.parametrize(
    ("content_type", "mime", "codecs", "kind"),
    [
        ("video", "application/mp4", None, "video"),
        (None, "audio/mp4", None, "audio"),
        (None, "text/vtt", None, "text"),
        (None, "application/ttml+xml", None, "text"),
        (None, "application/mp4", "stpp.ttml.im1t", "text"),
        (None, "application/mp4", "wvtt", "text"),
        (None, None, "avc1.640028,mp4a.40.2", "video"),
        (None, None, "ec-3", "audio"),
        (None, "image/jpeg", None, "image"),
        ("image", None, None, "image"),
        (None, None, None, "unknown"),
    ],
)
def test_content_kind(
    content_type: str | None, mime: str | None, codecs: str | None, kind: str
) -> None:
    assert content_kind(content_type, mime, codecs) == kind


def test_kind_from_adaptation_set_content_type() -> None:
    data = one_rep(as_attrs='contentType="text" mimeType="application/mp4"')
    assert parse_mpd(data, URL).periods[0].representations[0].kind == "text"


@pytest.mark.parametrize(
    "namespace",
    ["", 'xmlns="urn:mpeg:DASH:schema:MPD:2011"', 'xmlns="urn:mpeg:dash:schema:mpd:2011"'],
)
def test_namespaces_tolerated(namespace: str) -> None:
    data = (
        f'<MPD {namespace} type="static"><Period><AdaptationSet>'
        '<Representation id="r" bandwidth="1"/></AdaptationSet></Period></MPD>'
    ).encode()
    assert parse_mpd(data, URL).periods[0].representations[0].id == "r"


def test_foreign_namespace_elements_ignored() -> None:
    data = (
        f'<MPD {NS} xmlns:x="urn:other" type="static"><Period><AdaptationSet>'
        '<x:Representation id="no" bandwidth="1"/><Representation id="yes" bandwidth="1"/>'
        "</AdaptationSet></Period></MPD>"
    ).encode()
    assert [r.id for r in parse_mpd(data, URL).periods[0].representations] == ["yes"]


def test_bom_and_comments() -> None:
    data = b"\xef\xbb\xbf" + mpd("<!-- c --><Period><!-- d --></Period>")
    assert len(parse_mpd(data, URL).periods) == 1


def test_dynamic_is_parsed() -> None:
    data = mpd(
        "<Period/>",
        attrs='type="dynamic" availabilityStartTime="2024-01-01T00:00:00Z" '
        'minimumUpdatePeriod="PT2S" timeShiftBufferDepth="PT30S"',
    )
    m = parse_mpd(data, URL)
    assert (m.type, m.is_live, m.availability_start_time) == (
        "dynamic",
        True,
        "2024-01-01T00:00:00Z",
    )
    assert (m.minimum_update_period, m.time_shift_buffer_depth) == (2.0, 30.0)


# -- durations and Period timing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT1H2M3.5S", 3723.5),
        ("P1DT1S", 86401.0),
        ("PT0H0M10.000S", 10.0),
        ("PT0S", 0.0),
        ("PT.5S", 0.5),
        ("PT1.25S", 1.25),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_period_timing() -> None:
    data = mpd(
        '<Period id="a" duration="PT4S"/><Period id="b"/><Period start="PT10S"/>'
        '<Period id="d" start="PT15S"/>',
        attrs='type="static" mediaPresentationDuration="PT20S"',
    )
    periods = parse_mpd(data, URL).periods
    assert [(p.key, p.start, p.duration) for p in periods] == [
        ("a", 0.0, 4.0),
        ("b", 4.0, 6.0),
        ("2", 10.0, 5.0),
        ("d", 15.0, 5.0),
    ]


def test_period_without_any_duration() -> None:
    data = mpd("<Period/>", attrs='type="static"')
    assert parse_mpd(data, URL).periods[0].duration is None


def test_period_start_beyond_presentation_measured_from_first_period() -> None:
    data = mpd('<Period start="PT12M34S"/>', attrs='type="static" mediaPresentationDuration="PT6S"')
    period = parse_mpd(data, URL).periods[0]
    assert (period.start, period.duration) == (754.0, 6.0)


# -- BaseURL --------------------------------------------------------------------------------------


def test_nested_relative_base_urls() -> None:
    data = mpd(
        "<BaseURL>media/</BaseURL><Period><BaseURL>p1/</BaseURL>"
        "<AdaptationSet><BaseURL>../video/</BaseURL>"
        '<Representation id="v" bandwidth="1"><BaseURL>hd/</BaseURL></Representation>'
        "</AdaptationSet></Period>"
    )
    rep = parse_mpd(data, URL).periods[0].representations[0]
    assert rep.base_urls == ("http://example.test/path/media/video/hd/",)
    assert rep.has_base_url


def test_absolute_base_url_overrides() -> None:
    data = mpd(
        "<BaseURL>media/</BaseURL><Period><AdaptationSet>"
        '<BaseURL>https://cdn.example/x/</BaseURL><Representation id="v" bandwidth="1">'
        "<BaseURL>/root/</BaseURL></Representation></AdaptationSet></Period>"
    )
    rep = parse_mpd(data, URL).periods[0].representations[0]
    assert rep.base_urls == ("https://cdn.example/root/",)


def test_several_base_urls_are_ordered_alternatives() -> None:
    data = mpd(
        "<BaseURL>http://a.example/</BaseURL><BaseURL>http://b.example/</BaseURL>"
        "<Period><BaseURL>p/</BaseURL><BaseURL>q/</BaseURL><AdaptationSet>"
        "<BaseURL>http://c.example/abs/</BaseURL>"
        '<Representation id="v" bandwidth="1"/></AdaptationSet>'
        '<AdaptationSet><Representation id="w" bandwidth="1"/></AdaptationSet></Period>'
    )
    v, w = parse_mpd(data, URL).periods[0].representations
    assert v.base_urls == ("http://c.example/abs/",)
    assert w.base_urls == (
        "http://a.example/p/",
        "http://a.example/q/",
        "http://b.example/p/",
        "http://b.example/q/",
    )


def test_locations_resolved() -> None:
    m = parse_mpd(mpd("<Location>../other.mpd</Location><Period/>"), URL)
    assert m.locations == ("http://example.test/other.mpd",)


# -- segment information inheritance --------------------------------------------------------------


def test_segment_template_merges_attribute_wise() -> None:
    data = mpd(
        '<Period><SegmentTemplate timescale="1000" startNumber="5" media="p_$Number$.m4s"/>'
        '<AdaptationSet><SegmentTemplate duration="2000" initialization="$RepresentationID$.mp4"/>'
        '<Representation id="a" bandwidth="1"><SegmentTemplate media="r_$Number$.m4s"/>'
        "</Representation>"
        '<Representation id="b" bandwidth="1"/></AdaptationSet></Period>'
    )
    a, b = parse_mpd(data, URL).periods[0].representations
    assert a.segment_info is not None and b.segment_info is not None
    assert a.segment_info.kind == "template"
    assert (a.segment_info.timescale, a.segment_info.start_number, a.segment_info.duration) == (
        1000,
        5,
        2000,
    )
    assert a.segment_info.media is not None and a.segment_info.media.text == "r_$Number$.m4s"
    assert b.segment_info.media is not None and b.segment_info.media.text == "p_$Number$.m4s"
    assert b.segment_info.init_template is not None


def test_child_timeline_replaces_inherited_one() -> None:
    data = mpd(
        '<Period><AdaptationSet><SegmentTemplate media="$Time$"><SegmentTimeline>'
        '<S t="0" d="10" r="3"/></SegmentTimeline></SegmentTemplate>'
        '<Representation id="a" bandwidth="1"><SegmentTemplate><SegmentTimeline><S d="7"/>'
        "</SegmentTimeline></SegmentTemplate></Representation>"
        '<Representation id="b" bandwidth="1"/></AdaptationSet></Period>'
    )
    a, b = parse_mpd(data, URL).periods[0].representations
    assert a.segment_info is not None and b.segment_info is not None
    assert a.segment_info.timeline == (TimelineEntry(None, 7),)
    assert b.segment_info.timeline == (TimelineEntry(0, 10, 3),)


def test_segment_list_and_base_parsed() -> None:
    data = mpd(
        '<Period><AdaptationSet><SegmentBase timescale="90000"/>'
        '<Representation id="l" bandwidth="1"><SegmentList duration="10">'
        '<Initialization sourceURL="init.mp4" range="0-99"/>'
        '<SegmentURL media="a.m4s" mediaRange="100-199"/><SegmentURL/></SegmentList>'
        "</Representation>"
        '<Representation id="b" bandwidth="1"><BaseURL>f.mp4</BaseURL>'
        '<SegmentBase indexRange="800-1000"><Initialization range="0-799"/></SegmentBase>'
        "</Representation></AdaptationSet></Period>"
    )
    lst, base = parse_mpd(data, URL).periods[0].representations
    assert lst.segment_info is not None and base.segment_info is not None
    assert lst.segment_info.kind == "list"
    assert lst.segment_info.timescale == 90000
    assert lst.segment_info.initialization is not None
    assert lst.segment_info.initialization.byte_range == ByteRange(0, 99)
    urls = lst.segment_info.segment_urls
    assert urls is not None and [(u.media, u.media_range) for u in urls] == [
        ("a.m4s", ByteRange(100, 199)),
        (None, None),
    ]
    assert base.segment_info.kind == "base"
    assert base.segment_info.index_range == ByteRange(800, 1000)
    assert base.segment_info.has_index


# -- templates ------------------------------------------------------------------------------------


def test_template_parse() -> None:
    t = Template.parse("a$$b/$RepresentationID$_$Number%05d$-$Time$.m4s", "X@y")
    assert t.parts == (
        "a$b/",
        TemplateField("RepresentationID"),
        "_",
        TemplateField("Number", 5),
        "-",
        TemplateField("Time"),
        ".m4s",
    )
    values: dict[str, int | str] = {"RepresentationID": "v1", "Number": 42, "Time": 9000}
    assert t.substitute(values) == "a$b/v1_00042-9000.m4s"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("seg_$Number.m4s", "unmatched '$'"),
        ("seg_$Foo$.m4s", "invalid identifier $Foo$"),
        ("seg_$Number%5d$.m4s", "invalid identifier $Number%5d$"),
        ("seg_$Number%05x$.m4s", "invalid identifier"),
        ("$RepresentationID%03d$", "takes no width"),
    ],
)
def test_template_errors(text: str, fragment: str) -> None:
    with pytest.raises(ManifestParseError, match=r"^SegmentTemplate@media: ") as info:
        parse_mpd(one_rep(inner=f'<SegmentTemplate media="{text}" duration="1"/>'), URL)
    assert fragment in str(info.value)


_literal = st.text(alphabet=st.characters(blacklist_characters="$"), max_size=8)
_field = st.sampled_from(["Number", "Time", "Bandwidth"])


@given(
    st.lists(st.tuples(_literal, _field, st.none() | st.integers(1, 9))),
    _literal,
    st.integers(0, 10**9),
)
def test_template_substitution_property(
    pieces: list[tuple[str, str, int | None]], tail: str, value: int
) -> None:
    text = (
        "".join(lit + (f"${name}$" if w is None else f"${name}%0{w}d$") for lit, name, w in pieces)
        + tail
    )
    expected = (
        "".join(lit + (str(value) if w is None else str(value).zfill(w)) for lit, _, w in pieces)
        + tail
    )
    values: dict[str, int | str] = {"Number": value, "Time": value, "Bandwidth": value}
    assert Template.parse(text, "X@y").substitute(values) == expected


@given(st.text(max_size=20))
def test_escaped_dollars_property(text: str) -> None:
    escaped = text.replace("$", "$$")
    assert Template.parse(escaped, "X@y").substitute({}) == text


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            one_rep('id="v" bandwidth="abc"'),
            "Representation@bandwidth: expected an integer, got 'abc'",
        ),
        (one_rep('id="v"'), "Representation@bandwidth: required attribute is missing"),
        (one_rep('bandwidth="5"'), "Representation@id: required attribute is missing"),
        (one_rep('id="v" bandwidth="1" width="wide"'), "Representation@width: expected an integer"),
        (
            one_rep(inner='<SegmentTemplate media="$Number$" timescale="0"/>'),
            "SegmentTemplate@timescale: expected an integer >= 1, got '0'",
        ),
        (
            one_rep(inner='<SegmentList><SegmentURL mediaRange="10-5"/></SegmentList>'),
            "SegmentURL@mediaRange: expected a byte range",
        ),
        (
            one_rep(
                inner='<SegmentTemplate media="$Time$"><SegmentTimeline><S t="-5" d="1"/>'
                "</SegmentTimeline></SegmentTemplate>"
            ),
            "S@t: expected an integer >= 0, got '-5'",
        ),
        (
            one_rep(
                inner='<SegmentTemplate media="$Time$"><SegmentTimeline><S t="0"/>'
                "</SegmentTimeline></SegmentTemplate>"
            ),
            "S@d: required attribute is missing",
        ),
        (
            one_rep(
                inner='<SegmentTemplate media="$Time$"><SegmentTimeline><S d="1" r="-2"/>'
                "</SegmentTimeline></SegmentTemplate>"
            ),
            "S@r: expected an integer >= -1",
        ),
        (mpd('<Period duration="10 seconds"/>'), "Period@duration: expected an ISO 8601 duration"),
        (mpd("", attrs='type="live"'), "MPD@type: expected 'static' or 'dynamic', got 'live'"),
        (b"<MPD><Period></MPD>", "malformed XML: mismatched tag"),
        (b"", "malformed XML"),
        (b"<html/>", "not an MPD: the root element is <html>"),
    ],
)
def test_errors_name_element_and_attribute(data: bytes, message: str) -> None:
    with pytest.raises(ManifestParseError) as info:
        parse_mpd(data, URL)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE MPD [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"><BaseURL>&lol9;</BaseURL></MPD>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE MPD [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"><BaseURL>&xxe;</BaseURL></MPD>
"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "file"])
def test_entities_refused(data: bytes) -> None:
    with pytest.raises(ManifestParseError, match="unsafe XML refused"):
        parse_mpd(data, URL)


def test_max_bytes() -> None:
    data = mpd("<Period/>")
    with pytest.raises(LimitExceeded, match="more than the limit of 10"):
        parse_mpd(data, URL, limits=ManifestLimits(max_bytes=10))
    assert parse_mpd(data, URL, limits=ManifestLimits(max_bytes=len(data))).periods


def test_limits_are_kept_on_the_manifest() -> None:
    limits = ManifestLimits(max_segments=7)
    assert parse_mpd(mpd("<Period/>"), URL, limits=limits).limits is limits


def test_lenient_integral_decimals() -> None:
    data = one_rep(inner='<SegmentTemplate media="$Number$" duration="2000000.0"/>')
    info = parse_mpd(data, URL).periods[0].representations[0].segment_info
    assert info is not None and info.duration == 2000000


# -- ContentProtection and Role -------------------------------------------------------------------


def test_drm_scheme_names_and_roles() -> None:
    data = one_rep(
        as_attrs="",
        inner='<ContentProtection schemeIdUri="urn:uuid:EDEF8BA9-79D6-4ACE-A3C8-27DCD51D21ED"/>'
        '<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cbcs"/>'
        '<ContentProtection schemeIdUri="urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95"/>'
        '<ContentProtection schemeIdUri="urn:uuid:00000000-0000-0000-0000-000000000000"/>'
        '<Role schemeIdUri="urn:mpeg:dash:role:2011" value="main"/>',
    )
    rep = parse_mpd(data, URL).periods[0].representations[0]
    assert rep.encrypted
    assert rep.drm == (
        "Widevine",
        "cbcs",
        "PlayReady",
        "urn:uuid:00000000-0000-0000-0000-000000000000",
    )
    assert rep.roles == ("main",)
    assert (drm_name("urn:mpeg:dash:mp4protection:2011"), drm_name("x")) == ("cenc", "x")


# -- xlink ----------------------------------------------------------------------------------------

XLINK = 'xmlns:xlink="http://www.w3.org/1999/xlink"'
REMOTE_REP = (
    '<AdaptationSet mimeType="video/mp4"><Representation id="{}" bandwidth="1">'
    "<BaseURL>{}.mp4</BaseURL></Representation></AdaptationSet>"
)


def xlinked(*periods: str) -> bytes:
    return (
        f'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" {XLINK} type="static" '
        f'mediaPresentationDuration="PT30S">{"".join(periods)}</MPD>'
    ).encode()


def test_xlink_targets_and_substitution() -> None:
    data = xlinked(
        f'<Period id="local" duration="PT10S">{REMOTE_REP.format("l", "l")}</Period>',
        '<Period xlink:href="remote/p.xml"/>',
        '<Period xlink:href="http://other.example/q.xml" xlink:actuate="onLoad"/>',
        '<Period xlink:href="later.xml" xlink:actuate="onRequest" duration="PT1S"/>',
        '<Period xlink:href="urn:mpeg:dash:resolve-to-zero"/>',
    )
    m = parse_mpd(data, URL)
    assert [p.key for p in m.periods] == ["local", "1", "2", "3"]
    assert xlink_targets(m) == (
        "http://example.test/path/remote/p.xml",
        "http://other.example/q.xml",
    )
    bodies = {
        "http://example.test/path/remote/p.xml": b'<?xml version="1.0" encoding="UTF-8"?>\n'
        + f'<Period id="r1" duration="PT5S">{REMOTE_REP.format("r1", "r1")}</Period>'.encode()
        + f'<Period id="r2" duration="PT5S">{REMOTE_REP.format("r2", "r2")}</Period>'.encode(),
        "http://other.example/q.xml": b"",
    }
    resolved = parse_mpd(data, URL, xlinks=bodies)
    assert [p.key for p in resolved.periods] == ["local", "r1", "r2", "3"]
    assert [p.start for p in resolved.periods] == [0.0, 10.0, 15.0, 20.0]
    assert resolved.periods[1].representations[0].base_urls == ("http://example.test/path/r1.mp4",)
    assert xlink_targets(resolved) == ()


def test_xlink_chains_and_bad_bodies_are_refused() -> None:
    data = xlinked('<Period xlink:href="p.xml"/>')
    target = "http://example.test/path/p.xml"
    chained = b'<Period xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="next.xml"/>'
    with pytest.raises(UnsupportedManifest, match="xlink chains are not followed"):
        parse_mpd(data, URL, xlinks={target: chained})
    zero = (
        b'<Period xmlns:xlink="http://www.w3.org/1999/xlink" '
        b'xlink:href="urn:mpeg:dash:resolve-to-zero"/>'
    )
    assert parse_mpd(data, URL, xlinks={target: zero}).periods == ()
    with pytest.raises(ManifestParseError, match=f"remote Period from {target}: malformed XML"):
        parse_mpd(data, URL, xlinks={target: b"<Period>"})
    with pytest.raises(ManifestParseError, match="expected Period elements, got <MPD>"):
        parse_mpd(data, URL, xlinks={target: b"<MPD/>"})
    with pytest.raises(LimitExceeded, match="remote Period"):
        parse_mpd(
            data, URL, limits=ManifestLimits(max_bytes=len(data)), xlinks={target: b" " * 10**6}
        )
    # a remote body is parsed inside an element: a DOCTYPE (and so any entity) is malformed
    with pytest.raises(ManifestParseError, match=f"remote Period from {target}: malformed"):
        parse_mpd(data, URL, xlinks={target: b'<!DOCTYPE x [<!ENTITY a "b">]><Period/>'})
