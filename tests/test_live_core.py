"""The live core: MPD fields for dynamic presentations, UTCTiming, and live_view."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_helpers import T0, URL, Clock, make_live
from live_helpers import content as content  # the module-scoped fixture

from trioseg.errors import ManifestError, ManifestParseError, UnsupportedManifest, UsageError
from trioseg.live import (
    LiveView,
    clock_offset,
    live_view,
    parse_utc_response,
    supported_timing,
    timing_kind,
)
from trioseg.liveorigin import LivePresentation
from trioseg.media import DashContent
from trioseg.mpd import ManifestLimits, UTCTiming, parse_mpd

CORPUS = Path(__file__).parent / "data" / "mpd-corpus" / "mpd"


def view_at(
    live: LivePresentation, clock: Clock, t: float, spec: str | None = None, **kwargs: object
) -> LiveView:
    """The view a client gets when it fetches the MPD at T0 + t."""
    clock.t = T0 + t
    manifest = parse_mpd(live.manifest(), URL)
    return live_view(manifest, spec, T0 + t, **kwargs)  # type: ignore[arg-type]


def rel(view: LiveView, track: int = 0) -> list[tuple[str, float, float]]:
    """(ident, order, available_at) relative to T0."""
    return [(s.ident, s.order - T0, s.available_at - T0) for s in view.tracks[track].segments]


def path(url: str) -> str:
    return url.split("live.test", 1)[1]


def status(live: LivePresentation, clock: Clock, t: float, url: str) -> int:
    clock.t = T0 + t
    return live.respond("GET", path(url))[0]


def mpd(body: str, *, head: str = "", ast: str = "2027-01-15T08:00:00Z") -> bytes:
    return (
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" '
        f'availabilityStartTime="{ast}" {head}>{body}</MPD>'
    ).encode()


def video(template: str, rep: str = "v", aset: str = 'id="1"') -> str:
    return (
        f'<AdaptationSet {aset} contentType="video" mimeType="video/mp4">'
        f'<Representation id="{rep}" bandwidth="1000" codecs="avc1.64001f">{template}'
        "</Representation></AdaptationSet>"
    )


NUMBER_TEMPLATE = (
    '<SegmentTemplate timescale="90000" duration="180000" startNumber="7" '
    'initialization="$RepresentationID$/i.mp4" media="$RepresentationID$/$Number$.m4s"/>'
)


# -- MPD model --------------------------------------------------------------------------------


def test_dynamic_fields_are_parsed() -> None:
    m = parse_mpd(
        mpd(
            '<Location>next/live.mpd</Location><BaseURL availabilityTimeOffset="0.5">cdn/</BaseURL>'
            '<Period id="a" duration="PT5S"><AdaptationSet contentType="video">'
            '<SegmentTemplate availabilityTimeOffset="1.25" duration="2" media="$Number$.m4s"/>'
            '<Representation id="v" bandwidth="1"/>'
            '<Representation id="w" bandwidth="1">'
            '<SegmentTemplate availabilityTimeOffset="INF"/></Representation>'
            '</AdaptationSet></Period><Period id="b" duration="PT10S"/><Period id="c"/>'
            '<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-xsdate:2014" value="/t1 /t2"/>'
            '<UTCTiming schemeIdUri="urn:mpeg:dash:utc:direct:2014" '
            'value="2027-01-15T08:00:01Z"/>',
            head='suggestedPresentationDelay="PT4S" maxSegmentDuration="PT2.5S" '
            'availabilityEndTime="2027-01-15T09:00:00.250Z" minimumUpdatePeriod="PT2S" '
            'timeShiftBufferDepth="PT1M"',
        ),
        URL,
    )
    assert m.availability_start == T0
    assert m.availability_end == T0 + 3600.25
    assert m.availability_end_time == "2027-01-15T09:00:00.250Z"
    assert m.suggested_presentation_delay == 4.0
    assert m.max_segment_duration == 2.5
    assert m.utc_timing == (
        UTCTiming("urn:mpeg:dash:utc:http-xsdate:2014", "/t1 /t2"),
        UTCTiming("urn:mpeg:dash:utc:direct:2014", "2027-01-15T08:00:01Z"),
    )
    assert [(p.key, p.start, p.duration) for p in m.periods] == [
        ("a", 0.0, 5.0),
        ("b", 5.0, 10.0),
        ("c", 15.0, None),
    ]
    v, w = m.periods[0].representations
    assert v.segment_info is not None and v.segment_info.availability_time_offset == 1.25
    assert v.availability_time_offset == 1.75
    assert math.isinf(w.availability_time_offset)
    view = live_view(m, None, T0 + 10)
    assert view.location == "http://live.test/next/live.mpd"
    assert [s.value for s in view.utc_timing] == [
        "http://live.test/t1 http://live.test/t2",
        "2027-01-15T08:00:01Z",
    ]
    assert view.next_refresh == T0 + 12
    assert view.suggested_presentation_delay == 4.0


def test_unreadable_times_are_errors_only_where_they_matter() -> None:
    bad = parse_mpd(mpd("<Period/>", ast="soon"), URL)
    assert bad.availability_start is None and bad.availability_start_time == "soon"
    with pytest.raises(ManifestParseError, match="availabilityStartTime: expected"):
        live_view(bad, None, T0)
    static = parse_mpd(
        b'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" availabilityStartTime="soon" '
        b'mediaPresentationDuration="PT4S"><Period>'
        + video(NUMBER_TEMPLATE).encode()
        + b"</Period></MPD>",
        URL,
    )
    assert live_view(static, None, T0).static
    missing = parse_mpd(
        b'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"><Period/></MPD>', URL
    )
    with pytest.raises(ManifestParseError, match="required attribute is missing"):
        live_view(missing, None, T0)
    with pytest.raises(ManifestParseError, match="availabilityTimeOffset"):
        parse_mpd(mpd('<Period><BaseURL availabilityTimeOffset="soon">a/</BaseURL></Period>'), URL)


# -- UTCTiming --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "payload", "expected"),
    [
        ("urn:mpeg:dash:utc:http-head:2014", "Fri, 15 Jan 2027 08:00:05 GMT", T0 + 5),
        ("urn:mpeg:dash:utc:http-iso:2014", "2027-01-15T08:00:00.123Z\n", T0 + 0.123),
        ("urn:mpeg:dash:utc:http-iso:2012", "2027-01-15T09:00:00+01:00", T0),
        ("urn:mpeg:dash:utc:http-xsdate:2014", " 2027-01-15T08:00:01.5Z ", T0 + 1.5),
        ("urn:mpeg:dash:utc:http-xsdate:2014", "2027-01-15T08:00:02", T0 + 2),
        ("urn:mpeg:dash:utc:direct:2014", "2027-01-15T08:00:03.25Z", T0 + 3.25),
    ],
)
def test_utc_responses(scheme: str, payload: str, expected: float) -> None:
    assert parse_utc_response(scheme, payload) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("scheme", "payload"),
    [
        ("urn:mpeg:dash:utc:http-head:2014", "yesterday"),
        ("urn:mpeg:dash:utc:http-iso:2014", "<html>busy</html>"),
        ("urn:mpeg:dash:utc:http-xsdate:2014", ""),
        ("urn:mpeg:dash:utc:direct:2014", "2027-13-45T99:00:00Z"),
        ("urn:mpeg:dash:utc:http-iso:2014", "x" * 500),
    ],
)
def test_garbage_utc_responses_are_one_line_errors(scheme: str, payload: str) -> None:
    with pytest.raises(ManifestParseError) as info:
        parse_utc_response(scheme, payload)
    assert "\n" not in str(info.value) and len(str(info.value)) < 120


@pytest.mark.parametrize(
    "scheme",
    [
        "urn:mpeg:dash:utc:ntp:2014",
        "urn:mpeg:dash:utc:sntp:2014",
        "urn:mpeg:dash:utc:http-ntp:2014",
        "urn:example:clock",
    ],
)
def test_unsupported_utc_schemes(scheme: str) -> None:
    with pytest.raises(UnsupportedManifest, match="not supported"):
        parse_utc_response(scheme, "pool.ntp.org")


def test_timing_helpers() -> None:
    sources = (
        UTCTiming("urn:mpeg:dash:utc:ntp:2014", "pool.ntp.org"),
        UTCTiming("urn:mpeg:dash:utc:http-head:2014", "https://t.test/"),
        UTCTiming("urn:mpeg:dash:utc:direct:2014", "2027-01-15T08:00:00Z"),
    )
    assert timing_kind(sources[1].scheme) == "http-head"
    assert supported_timing(sources) == sources[1:]
    assert clock_offset(T0 + 10, sent=T0, received=T0 + 2) == 9.0


# -- live_view against the live origin --------------------------------------------------------


@pytest.mark.parametrize("addressing", ["number", "timeline"])
def test_the_newest_segment_is_the_one_whose_availability_just_passed(
    content: DashContent, addressing: str
) -> None:
    live, clock = make_live(content, addressing=addressing, tsbd=30.0)
    before = view_at(live, clock, 9.999)
    assert rel(before)[-1][2] == 9.0
    view = view_at(live, clock, 10.0)
    newest = view.tracks[0].segments[-1]
    assert newest.available_at == T0 + 10 and newest.order == T0 + 9
    assert view.edge_start == T0 + 9 and view.live_edge == T0 + 10
    assert newest.ident == ("p0:10" if addressing == "number" else "p0:t9000")
    assert status(live, clock, 10.0, newest.ref.url) == 200
    assert status(live, clock, 9.999, newest.ref.url) == 404
    assert [t.id for t in view.tracks] == ["0", "1"]
    assert [t.kind for t in view.tracks] == ["video", "audio"]
    assert view.next_refresh == T0 + 12 and not view.static
    edge = view_at(live, clock, 10.5, edge=True)
    assert [[s.ident for s in t.segments] for t in edge.tracks] == [[newest.ident]] * 2
    ahead = view_at(live, clock, 10.5, horizon=1.0).tracks[0].segments[-1]
    assert ahead.order == (T0 + 10 if addressing == "number" else T0 + 9)


@pytest.mark.parametrize("addressing", ["number", "timeline"])
def test_from_start_lists_the_whole_time_shift_buffer(
    content: DashContent, addressing: str
) -> None:
    live, clock = make_live(content, addressing=addressing, tsbd=5.0)
    view = view_at(live, clock, 20.5)
    orders = [order for _, order, _ in rel(view)]
    assert orders == [14.0, 15.0, 16.0, 17.0, 18.0, 19.0]
    for track in view.tracks:
        for segment in track.segments:
            assert segment.expires_at == segment.available_at + 1 + 5
            assert status(live, clock, 20.5, segment.ref.url) == 200
    assert view.tracks[0].init is not None
    assert path(view.tracks[0].init.url) == "/live/p0/0/init.mp4"
    older = rel(view_at(live, clock, 10.0))
    assert older[0][1] == 4.0


def test_number_and_timeline_views_agree(content: DashContent) -> None:
    number, clock_n = make_live(content, addressing="number", tsbd=8.0)
    timeline, clock_t = make_live(content, addressing="timeline", tsbd=8.0)
    for t in (3.0, 7.25, 31.5):
        a, b = view_at(number, clock_n, t), view_at(timeline, clock_t, t)
        assert [(s.order, s.available_at, s.expires_at) for s in a.tracks[1].segments] == [
            (s.order, s.available_at, s.expires_at) for s in b.tracks[1].segments
        ]


def test_availability_time_offset_makes_segments_available_earlier(
    content: DashContent,
) -> None:
    live, clock = make_live(content, availability_time_offset=0.5)
    view = view_at(live, clock, 9.6)
    newest = view.tracks[0].segments[-1]
    assert newest.ident == "p0:10" and newest.available_at == T0 + 9.5
    assert newest.expires_at == T0 + 10 + 1 + 30
    assert status(live, clock, 9.6, newest.ref.url) == 200
    assert status(live, clock, 9.4, newest.ref.url) == 404
    plain, plain_clock = make_live(content)
    assert view_at(plain, plain_clock, 9.6).tracks[0].segments[-1].ident == "p0:9"


@pytest.mark.parametrize("addressing", ["number", "timeline"])
def test_a_period_change_continues_the_same_tracks(content: DashContent, addressing: str) -> None:
    live, clock = make_live(content, addressing=addressing, tsbd=5.0, period_change_at=T0 + 20)
    first = view_at(live, clock, 18.0)
    change = view_at(live, clock, 23.5)
    assert [t.id for t in change.tracks] == [t.id for t in first.tracks] == ["0", "1"]
    for track in change.tracks:
        orders = [s.order - T0 for s in track.segments]
        assert orders == [17.0, 18.0, 19.0, 20.0, 21.0, 22.0]
        assert [s.ref.period for s in track.segments] == ["p0"] * 3 + ["p1"] * 3
        assert set(track.inits) == {"p0", "p1"}
        assert path(track.inits["p1"].url) == f"/live/p1/{track.id}/init.mp4"
        assert track.init == track.inits["p1"]
        assert track.init_for(track.segments[0]) == track.inits["p0"]
    assert change.tracks[0].segments[3].ident == ("p1:1" if addressing == "number" else "p1:t0")
    assert status(live, clock, 23.5, change.tracks[0].segments[3].ref.url) == 200
    later = view_at(live, clock, 40.0, previous=change)
    assert [t.id for t in later.tracks] == ["0", "1"]
    assert {s.ref.period for s in later.tracks[0].segments} == {"p1"}
    assert list(later.tracks[0].inits) == ["p1"]


def test_tracks_keep_their_ids_when_their_first_period_leaves() -> None:
    template = (
        '<SegmentTemplate duration="2" media="$RepresentationID$/$Number$.m4s" '
        'initialization="$RepresentationID$/init.mp4"/>'
    )
    both = parse_mpd(
        mpd(
            f'<Period id="a" duration="PT10S">{video(template, "v1")}</Period>'
            f'<Period id="b" start="PT10S">{video(template, "v2")}</Period>',
            head='timeShiftBufferDepth="PT8S"',
        ),
        URL,
    )
    view = live_view(both, None, T0 + 14)
    assert [t.id for t in view.tracks] == ["v1"]
    assert [s.ident for s in view.tracks[0].segments] == ["a:3", "a:4", "a:5", "b:1", "b:2"]
    assert [path(s.ref.url) for s in view.tracks[0].segments][2:4] == ["/v1/5.m4s", "/v2/1.m4s"]
    only_b = parse_mpd(
        mpd(
            f'<Period id="b" start="PT10S">{video(template, "v2")}</Period>',
            head='timeShiftBufferDepth="PT8S"',
        ),
        URL,
    )
    assert [t.id for t in live_view(only_b, None, T0 + 20).tracks] == ["v2"]
    kept = live_view(only_b, None, T0 + 20, previous=view)
    assert [t.id for t in kept.tracks] == ["v1"]
    assert kept.tracks[0].segments[-1].ident == "b:5"
    assert [t.id for t in live_view(only_b, None, T0 + 30, previous=kept).tracks] == ["v1"]


@pytest.mark.parametrize("addressing", ["number", "timeline"])
def test_the_switch_to_static_lists_every_segment(content: DashContent, addressing: str) -> None:
    live, clock = make_live(content, addressing=addressing, tsbd=5.0, end_at=T0 + 30)
    live_now = view_at(live, clock, 29.5)
    assert not live_now.static
    done = view_at(live, clock, 31.0)
    assert done.static and done.next_refresh is None and done.next_available is None
    for track in done.tracks:
        assert [s.order - T0 for s in track.segments] == [float(k) for k in range(30)]
        assert {s.available_at for s in track.segments} == {T0}
        assert {s.expires_at for s in track.segments} == {None}
    same = {s.ident: s for s in done.tracks[0].segments}
    for segment in live_now.tracks[0].segments:
        assert same[segment.ident].ref.urls == segment.ref.urls
        assert same[segment.ident].order == segment.order
    assert done.tracks[0].segments[-1].end == T0 + 30
    assert [s.ident for s in view_at(live, clock, 31.0, since=T0 + 27).tracks[0].segments] == [
        s.ident for s in done.tracks[0].segments[-3:]
    ]


def test_a_late_segment_is_listed_while_the_origin_still_answers_404(
    content: DashContent,
) -> None:
    live, clock = make_live(content, late={12: 3.0})
    view = view_at(live, clock, 12.5)
    late = view.tracks[0].segments[-1]
    assert late.ident == "p0:12" and late.available_at == T0 + 12
    url = late.ref.url
    assert [status(live, clock, t, url) for t in (12.5, 14.999, 15.0, 20.0)] == [404, 404, 200, 200]
    assert live.statuses(path(url)) == [
        (T0 + 12.5, 404),
        (T0 + 14.999, 404),
        (T0 + 15.0, 200),
        (T0 + 20.0, 200),
    ]


def test_expired_segments_leave_the_view(content: DashContent) -> None:
    live, clock = make_live(content, tsbd=5.0)
    first = view_at(live, clock, 10.0)
    oldest = first.tracks[0].segments[0]
    assert oldest.ident == "p0:5" and oldest.expires_at == T0 + 11
    assert status(live, clock, 10.999, oldest.ref.url) == 200
    assert status(live, clock, 11.0, oldest.ref.url) == 404
    later = view_at(live, clock, 11.0)
    assert oldest.ident not in {s.ident for s in later.tracks[0].segments}
    assert later.tracks[0].segments[0].ident == "p0:6"


# -- live_view on hand-written MPDs -----------------------------------------------------------


def test_huge_windows_are_capped_and_cheap() -> None:
    template = '<SegmentTemplate duration="2" media="$Number$.m4s"/>'
    m = parse_mpd(
        mpd(
            f"<Period>{video(template)}</Period>",
            head='timeShiftBufferDepth="PT24H"',
            ast="2027-01-10T08:00:00Z",
        ),
        URL,
    )
    now = T0 + 0.5
    capped = live_view(m, None, now, limits=ManifestLimits(max_segments=100))
    edge = live_view(m, None, now, edge=True)
    segments = capped.tracks[0].segments
    assert len(segments) == 100
    assert segments[-1].end == T0 and segments[0].order == T0 - 200
    assert any("only the newest 100" in note for note in capped.period_notes)
    assert len(edge.tracks[0].segments) == 1 and edge.tracks[0].segments[0].end == T0
    full = live_view(m, None, now).tracks[0].segments
    assert len(full) == 43_201
    assert (full[0].number, full[-1].number) == (172_800, 216_000)
    assert full[0].end == T0 - 86400 and full[0].expires_at == T0 + 2


def test_numbers_are_exact_far_from_the_availability_start() -> None:
    m = parse_mpd(
        mpd(
            f'<Period start="PT0.000001S">{video(NUMBER_TEMPLATE.replace("180000", "3003"))}'
            "</Period>",
            ast="2000-01-01T00:00:00Z",
            head='timeShiftBufferDepth="PT1S"',
        ),
        URL,
    )
    ast = 946_684_800
    k = 20_000_000_003
    available = ast + 1e-6 + k * 3003 / 90000
    view = live_view(m, None, available)
    newest = view.tracks[0].segments[-1]
    assert newest.number == 7 + k - 1
    assert newest.available_at == pytest.approx(available, abs=1e-6)
    assert live_view(m, None, available - 2e-6).tracks[0].segments[-1].number == 7 + k - 2


def test_open_timelines_grow_with_the_clock() -> None:
    template = (
        '<SegmentTemplate timescale="10" media="$Time$.m4s" presentationTimeOffset="1000">'
        '<SegmentTimeline><S t="1000" d="20" r="2"/><S d="20" r="-1"/></SegmentTimeline>'
        "</SegmentTemplate>"
    )
    m = parse_mpd(mpd(f'<Period id="p" start="PT10S">{video(template)}</Period>'), URL)
    view = live_view(m, None, T0 + 10 + 12.1)
    idents = [s.ident for s in view.tracks[0].segments]
    assert idents == [f"p:t{1000 + 20 * k}" for k in range(6)]
    assert view.next_available == T0 + 10 + 14
    assert live_view(m, None, T0 + 9).tracks[0].segments == ()


def test_segment_lists_are_timed_by_position() -> None:
    entries = "".join(f'<SegmentURL media="s{k}.m4s"/>' for k in range(5, 10))
    segment_list = (
        f'<SegmentList duration="4" startNumber="5" availabilityTimeOffset="1">'
        f'<Initialization sourceURL="init.mp4"/>{entries}</SegmentList>'
    )
    m = parse_mpd(mpd(f'<Period id="p">{video(segment_list)}</Period>'), URL)
    view = live_view(m, None, T0 + 11)
    segments = view.tracks[0].segments
    assert [(s.ident, path(s.ref.url), s.available_at - T0) for s in segments] == [
        ("p:5", "/s5.m4s", 3.0),
        ("p:6", "/s6.m4s", 7.0),
        ("p:7", "/s7.m4s", 11.0),
    ]
    assert view.tracks[0].init is not None and path(view.tracks[0].init.url) == "/init.mp4"


def test_selection_follows_the_format_grammar() -> None:
    body = (
        f'<AdaptationSet contentType="video">{NUMBER_TEMPLATE}'
        '<Representation id="lo" bandwidth="1000" codecs="avc1.64001f"/>'
        '<Representation id="hi" bandwidth="5000" codecs="avc1.64001f"/></AdaptationSet>'
        + '<AdaptationSet contentType="audio" lang="en">'
        + f'<Representation id="a" bandwidth="96" codecs="mp4a.40.2">{NUMBER_TEMPLATE}'
        + "</Representation></AdaptationSet>"
    )
    m = parse_mpd(mpd(f"<Period>{body}</Period>"), URL)
    assert [t.id for t in live_view(m, None, T0 + 10).tracks] == ["hi", "a"]
    assert [t.id for t in live_view(m, "video[bandwidth<2k]", T0 + 10).tracks] == ["lo"]
    assert [t.id for t in live_view(m, "a", T0 + 10).tracks] == ["a"]
    with pytest.raises(ManifestError, match="nothing matches"):
        live_view(m, "text", T0 + 10)
    with pytest.raises(UsageError):
        live_view(m, "video[", T0 + 10)
    locked = parse_mpd(
        mpd(
            "<Period><AdaptationSet contentType='video'>"
            "<ContentProtection schemeIdUri='urn:mpeg:dash:mp4protection:2011' value='cenc'/>"
            f"<Representation id='v' bandwidth='1'>{NUMBER_TEMPLATE}</Representation>"
            "</AdaptationSet></Period>"
        ),
        URL,
    )
    with pytest.raises(UnsupportedManifest, match="encrypted"):
        live_view(locked, None, T0 + 10)


def test_a_manifest_without_periods_gives_an_empty_view() -> None:
    view = live_view(parse_mpd(mpd("", head='minimumUpdatePeriod="PT0S"'), URL), None, T0)
    assert view.tracks == () and view.period_notes == ("the MPD has no Period yet",)
    assert view.next_refresh == T0 + 0.5


# -- the corpus -------------------------------------------------------------------------------


def dynamic_corpus() -> list[Path]:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file())
    return [p for p in files if b'"dynamic"' in p.read_bytes()]


@pytest.mark.parametrize("file", dynamic_corpus(), ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_corpus_dynamic_files_give_a_view_or_a_clear_error(file: Path) -> None:
    try:
        m = parse_mpd(file.read_bytes(), "http://example.test/path/manifest.mpd")
        now = (m.availability_start or T0) + 3600
        view = live_view(m, None, now)
    except ManifestError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for track in view.tracks:
        idents = [s.ident for s in track.segments]
        assert len(idents) == len(set(idents))
        assert all(a.order <= b.order for a, b in itertools.pairwise(track.segments))
        assert all(s.available_at <= now + 1e-6 for s in track.segments)


def test_corpus_figures() -> None:
    outcomes = {"view": 0, "segments": 0, "error": 0}
    for file in dynamic_corpus():
        try:
            m = parse_mpd(file.read_bytes(), "http://example.test/path/manifest.mpd")
            if not m.is_live:
                continue
            view = live_view(m, None, (m.availability_start or T0) + 3600)
        except ManifestError:
            outcomes["error"] += 1
            continue
        outcomes["view"] += 1
        outcomes["segments"] += any(t.segments for t in view.tracks)
    assert outcomes == {"view": 67, "segments": 25, "error": 27}


# -- properties -------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    timescale=st.integers(1, 10**6),
    duration=st.integers(1, 10**7),
    start_number=st.integers(0, 10**6),
    offset=st.integers(0, 10**9),
    ato=st.sampled_from(["0", "0.5", "1.75", "INF"]),
    later=st.floats(0, 10**8),
)
def test_availability_is_monotonic_in_number(
    timescale: int, duration: int, start_number: int, offset: int, ato: str, later: float
) -> None:
    template = (
        f'<SegmentTemplate timescale="{timescale}" duration="{duration}" '
        f'startNumber="{start_number}" presentationTimeOffset="{offset}" '
        f'availabilityTimeOffset="{ato}" media="$Number$-$Time$.m4s"/>'
    )
    m = parse_mpd(mpd(f"<Period>{video(template)}</Period>"), URL)
    limits = ManifestLimits(max_segments=50)
    view = live_view(m, None, T0 + later, limits=limits)
    segments = view.tracks[0].segments
    assert len(segments) <= 50
    for a, b in itertools.pairwise(segments):
        assert b.number == a.number + 1
        assert b.available_at > a.available_at and b.order > a.order
    if segments:
        assert segments[-1].available_at <= T0 + later + 1e-6
        assert segments[0].number >= start_number


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    addressing=st.sampled_from(["number", "timeline"]),
    times=st.lists(st.integers(0, 120_000), min_size=2, max_size=5),
    tsbd=st.integers(2, 20),
    change=st.sampled_from([None, 15, 40]),
)
def test_refreshes_agree_with_each_other(
    content: DashContent, addressing: str, times: list[int], tsbd: int, change: int | None
) -> None:
    live, clock = make_live(
        content,
        addressing=addressing,
        tsbd=float(tsbd),
        period_change_at=T0 + change if change is not None else None,
    )
    seen: dict[str, tuple[tuple[str, ...], float, float]] = {}
    previous: LiveView | None = None
    for millis in sorted(times):
        view = view_at(live, clock, millis / 1000, previous=previous)
        assert [t.id for t in view.tracks] == ["0", "1"]
        for track in view.tracks[:1]:
            idents = [s.ident for s in track.segments]
            assert len(idents) == len(set(idents))
            for a, b in itertools.pairwise(track.segments):
                assert b.order == a.order + 1
            for segment in track.segments:
                record = (segment.ref.urls, segment.order, segment.available_at)
                assert seen.setdefault(segment.ident, record) == record
        previous = view
