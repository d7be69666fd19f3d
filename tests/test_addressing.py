"""Segment addressing: templates, timelines, lists, whole files, limits."""

from __future__ import annotations

import itertools
import tracemalloc
from urllib.parse import urljoin

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trioseg.addressing import (
    Run,
    address,
    ceil_count,
    duration_count,
    expand_runs,
    timeline_runs,
    url_builder,
)
from trioseg.errors import LimitExceeded, ManifestParseError, UnsupportedManifest
from trioseg.mpd import Manifest, ManifestLimits, Template, TimelineEntry, parse_mpd
from trioseg.plan import ByteRange, IndexRef, SegmentRef

URL = "http://example.test/path/manifest.mpd"
BASE = "http://example.test/path/"


def manifest(period: str, mpd_attrs: str = 'mediaPresentationDuration="PT10S"') -> Manifest:
    data = f'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" {mpd_attrs}>{period}</MPD>'
    return parse_mpd(data.encode(), URL)


def rep_period(inner: str, period_attrs: str = "", **kw: str) -> str:
    rep_attrs = kw.get("rep_attrs", 'id="v1" bandwidth="500"')
    return (
        f'<Period {period_attrs}><AdaptationSet mimeType="video/mp4">'
        f"<Representation {rep_attrs}>{inner}</Representation></AdaptationSet></Period>"
    )


def addressed(
    inner: str,
    period_attrs: str = "",
    mpd_attrs: str = 'mediaPresentationDuration="PT10S"',
    limits: ManifestLimits | None = None,
    period_index: int = 0,
) -> tuple[SegmentRef | None, tuple[SegmentRef, ...]]:
    m = manifest(rep_period(inner, period_attrs), mpd_attrs)
    period = m.periods[period_index]
    return address(period.representations[0], period, limits=limits)


def urls(segments: tuple[SegmentRef, ...]) -> list[str]:
    return [s.url for s in segments]


def timeline(*entries: str, attrs: str = 'media="$Time$.m4s"') -> str:
    body = "".join(entries)
    return f"<SegmentTemplate {attrs}><SegmentTimeline>{body}</SegmentTimeline></SegmentTemplate>"


# -- duration-based templates ---------------------------------------------------------------------


def test_duration_template_counts_and_names() -> None:
    init, segments = addressed(
        '<SegmentTemplate media="$RepresentationID$/$Number$.m4s" '
        'initialization="$RepresentationID$/init-$Bandwidth$.mp4" timescale="1000" '
        'duration="3000"/>'
    )
    assert init == SegmentRef((BASE + "v1/init-500.mp4",), period="0")
    assert urls(segments) == [BASE + f"v1/{n}.m4s" for n in (1, 2, 3, 4)]
    assert [(s.start, s.duration, s.period) for s in segments] == [
        (0.0, 3.0, "0"),
        (3.0, 3.0, "0"),
        (6.0, 3.0, "0"),
        (9.0, 3.0, "0"),
    ]


def test_start_number_width_and_dollar() -> None:
    _, segments = addressed(
        '<SegmentTemplate media="a$$b_$Number%05d$_$Bandwidth%08d$.m4s" startNumber="0" '
        'duration="5"/>'
    )
    assert urls(segments) == [BASE + "a$b_00000_00000500.m4s", BASE + "a$b_00001_00000500.m4s"]


def test_end_number_bounds_count() -> None:
    _, segments = addressed(
        '<SegmentTemplate media="$Number$.m4s" startNumber="3" endNumber="5" duration="1"/>'
    )
    assert urls(segments) == [BASE + "3.m4s", BASE + "4.m4s", BASE + "5.m4s"]


def test_end_number_alone_bounds_an_open_period() -> None:
    _, segments = addressed(
        '<SegmentTemplate media="$Number$.m4s" endNumber="2" duration="1"/>', mpd_attrs=""
    )
    assert urls(segments) == [BASE + "1.m4s", BASE + "2.m4s"]


def test_unbounded_duration_template_is_an_error() -> None:
    with pytest.raises(ManifestParseError, match="cannot count the segments"):
        addressed('<SegmentTemplate media="$Number$.m4s" duration="1"/>', mpd_attrs="")


def test_time_in_duration_template_includes_offset() -> None:
    _, segments = addressed(
        '<SegmentTemplate media="$Time$.m4s" duration="4" presentationTimeOffset="100" '
        'timescale="2"/>'
    )
    assert urls(segments) == [BASE + f"{t}.m4s" for t in (100, 104, 108, 112, 116)]
    assert [s.start for s in segments] == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_period_duration_from_next_period_and_from_mpd() -> None:
    tmpl = '<SegmentTemplate media="$Number$.m4s" duration="2"/>'
    m = manifest(
        rep_period(tmpl, 'id="a"') + rep_period(tmpl, 'id="b" start="PT6S"'),
        'mediaPresentationDuration="PT9S"',
    )
    a, b = m.periods
    assert len(address(a.representations[0], a)[1]) == 3
    last = address(b.representations[0], b)[1]
    assert len(last) == 2 and {s.period for s in last} == {"b"}


@pytest.mark.parametrize(
    ("seconds", "timescale", "duration", "count"),
    [(10.0, 1, 3, 4), (10.0, 1000, 2000, 5), (117.12, 48000, 92160, 61), (0.0, 1, 1, 0)],
)
def test_duration_count(seconds: float, timescale: int, duration: int, count: int) -> None:
    assert duration_count(seconds, timescale, duration, 1, None) == count


def test_ceil_count_tolerates_float_noise() -> None:
    assert ceil_count(117.12 / 1.92) == 61
    assert ceil_count(61.2) == 62
    assert ceil_count(3.0) == 3


# -- timelines ------------------------------------------------------------------------------------


def test_timeline_absent_t_repeats_and_numbers() -> None:
    _, segments = addressed(
        timeline(
            '<S d="10" r="2"/>',
            '<S d="5"/>',
            attrs='media="$Number$-$Time$.m4s" startNumber="7" timescale="10"',
        )
    )
    assert urls(segments) == [BASE + p for p in ("7-0.m4s", "8-10.m4s", "9-20.m4s", "10-30.m4s")]
    assert [(s.start, s.duration) for s in segments] == [
        (0.0, 1.0),
        (1.0, 1.0),
        (2.0, 1.0),
        (3.0, 0.5),
    ]


def test_timeline_gap_and_explicit_restart() -> None:
    _, segments = addressed(
        timeline('<S t="100" d="10" r="1"/>', '<S t="150" d="20"/>', '<S d="5"/>')
    )
    assert urls(segments) == [BASE + f"{t}.m4s" for t in (100, 110, 150, 170)]


def test_timeline_r_minus_one_in_the_middle() -> None:
    _, segments = addressed(timeline('<S t="0" d="3" r="-1"/>', '<S t="10" d="5"/>'))
    assert urls(segments) == [BASE + f"{t}.m4s" for t in (0, 3, 6, 9, 10)]


def test_timeline_r_minus_one_at_the_end_uses_the_period_end() -> None:
    _, segments = addressed(
        timeline(
            '<S t="1000" d="4"/>',
            '<S d="3" r="-1"/>',
            attrs='media="$Time$.m4s" presentationTimeOffset="1000" timescale="2"',
        ),
        period_attrs='duration="PT9S"',
    )
    assert urls(segments) == [BASE + f"{t}.m4s" for t in (1000, 1004, 1007, 1010, 1013, 1016)]
    assert segments[0].start == 0.0 and segments[-1].start == 8.0


def test_timeline_r_minus_one_needs_an_end() -> None:
    with pytest.raises(ManifestParseError, match='S@r: "-1" on the last S needs'):
        addressed(timeline('<S d="3" r="-1"/>'), mpd_attrs="")
    with pytest.raises(ManifestParseError, match="must be followed by an S with @t"):
        addressed(timeline('<S d="3" r="-1"/>', '<S d="3"/>'))


def test_timeline_s_n_sets_the_number() -> None:
    _, segments = addressed(
        timeline('<S d="1" r="1"/>', '<S n="10" d="1"/>', attrs='media="$Number$.m4s"')
    )
    assert urls(segments) == [BASE + "1.m4s", BASE + "2.m4s", BASE + "10.m4s"]


def test_end_number_caps_a_timeline() -> None:
    _, segments = addressed(timeline('<S d="1" r="9"/>', attrs='media="$Number$" endNumber="3"'))
    assert urls(segments) == [BASE + "1", BASE + "2", BASE + "3"]


def test_timeline_start_is_relative_to_presentation_time_offset() -> None:
    _, segments = addressed(
        timeline(
            '<S t="90000" d="180000" r="1"/>',
            attrs='media="$Time$.m4s" timescale="90000" presentationTimeOffset="90000"',
        )
    )
    assert [(s.start, s.duration) for s in segments] == [(0.0, 2.0), (2.0, 2.0)]


def test_huge_repeat_refused_in_bounded_memory() -> None:
    # the count is checked before any segment is made: refusing costs no more memory than
    # a few segments would
    tracemalloc.start()
    try:
        with pytest.raises(
            LimitExceeded, match="1000000000001 segments, more than the limit of 500000"
        ):
            addressed(timeline(f'<S t="0" d="1" r="{10**12}"/>'))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_huge_open_repeat_and_duration_refused() -> None:
    with pytest.raises(LimitExceeded):
        addressed(timeline('<S d="1" r="-1"/>', attrs='media="$Time$" timescale="1000000000"'))
    with pytest.raises(LimitExceeded):
        addressed('<SegmentTemplate media="$Number$" duration="1" timescale="1000000"/>')


def test_limit_is_configurable() -> None:
    tmpl = '<SegmentTemplate media="$Number$" duration="1"/>'
    assert len(addressed(tmpl, limits=ManifestLimits(max_segments=10))[1]) == 10
    with pytest.raises(LimitExceeded):
        addressed(tmpl, limits=ManifestLimits(max_segments=9))


def test_twenty_thousand_segments_with_two_base_urls() -> None:
    # (their speed is the scale benchmark's: nox -s bench -- --profiles scale)
    tmpl = timeline(
        '<S t="0" d="2" r="19999"/>', attrs='media="v/$RepresentationID$/$Number%06d$-$Time$.m4s"'
    )
    m = manifest(
        "<BaseURL>http://a.example/</BaseURL><BaseURL>http://b.example/</BaseURL>"
        + rep_period(tmpl),
        'mediaPresentationDuration="PT40000S"',
    )
    period = m.periods[0]
    _, segments = address(period.representations[0], period)
    assert len(segments) == 20000
    assert segments[-1].urls == (
        "http://a.example/v/v1/020000-39998.m4s",
        "http://b.example/v/v1/020000-39998.m4s",
    )


# -- URLs -----------------------------------------------------------------------------------------


def test_every_segment_lists_each_base_url_alternative() -> None:
    m = manifest(
        "<BaseURL>http://a.example/x/</BaseURL><BaseURL>http://b.example/y/</BaseURL>"
        + rep_period(
            '<SegmentTemplate media="../$Number$.m4s" initialization="i.mp4" duration="5"/>'
        )
    )
    period = m.periods[0]
    init, segments = address(period.representations[0], period)
    assert init is not None
    assert init.urls == ("http://a.example/x/i.mp4", "http://b.example/y/i.mp4")
    assert [s.urls for s in segments] == [
        ("http://a.example/1.m4s", "http://b.example/1.m4s"),
        ("http://a.example/2.m4s", "http://b.example/2.m4s"),
    ]


def test_absolute_media_dedupes_alternatives() -> None:
    m = manifest(
        "<BaseURL>http://a.example/</BaseURL><BaseURL>http://b.example/</BaseURL>"
        + rep_period('<SegmentTemplate media="https://cdn.example/$Number$" duration="10"/>')
    )
    period = m.periods[0]
    _, segments = address(period.representations[0], period)
    assert [s.urls for s in segments] == [("https://cdn.example/1",)]


def test_dot_segments_after_a_field_resolve_per_segment() -> None:
    _, segments = addressed('<SegmentTemplate media="d$Number$/../s$Number$.m4s" duration="5"/>')
    assert urls(segments) == [BASE + "s1.m4s", BASE + "s2.m4s"]


@given(
    st.sampled_from(["", "a/", "../", "./b/", "/abs/", "x$$y/", "?q=$Number$&t=", "a", "//h2/"]),
    st.sampled_from(
        [
            "$Number$",
            "$Time%04d$",
            "$Number$-$Time$",
            "n$Number%03d$.m4s",
            "$Number$:x",
            "/../$Time$",
        ]
    ),
    st.sampled_from([BASE, "http://h.example/a/b/c", "https://h.example/", "http://h/x?y=1"]),
    st.integers(0, 10**6),
    st.integers(0, 10**12),
)
def test_fast_urls_equal_urljoin_property(
    prefix: str, fields: str, base: str, number: int, t: int
) -> None:
    template = Template.parse(prefix + fields, "X@y")
    build = url_builder(template, base, {"RepresentationID": "r", "Bandwidth": 1})
    text = template.substitute(
        {"Number": number, "Time": t, "RepresentationID": "r", "Bandwidth": 1}
    )
    assert build(number, t) == urljoin(base, text)


def test_subnumber_unsupported() -> None:
    with pytest.raises(UnsupportedManifest, match="SubNumber"):
        addressed('<SegmentTemplate media="$Number$_$SubNumber$" duration="1"/>')


def test_number_in_initialization_is_an_error_when_used() -> None:
    inner = '<SegmentTemplate media="$Number$" initialization="i$Number$" duration="1"/>'
    with pytest.raises(ManifestParseError, match=r"SegmentTemplate@initialization: \$Number\$"):
        addressed(inner)


def test_template_without_number_or_time_is_one_segment() -> None:
    init, segments = addressed('<SegmentTemplate media="$RepresentationID$.mp4"/>')
    assert init is None and urls(segments) == [BASE + "v1.mp4"]


# -- SegmentList ----------------------------------------------------------------------------------


def test_segment_list_with_ranges() -> None:
    init, segments = addressed(
        "<BaseURL>media/file.mp4</BaseURL>"
        '<SegmentList timescale="10" duration="20"><Initialization range="0-99"/>'
        '<SegmentURL mediaRange="100-199"/><SegmentURL mediaRange="200-"/>'
        '<SegmentURL media="other.mp4"/></SegmentList>'
    )
    assert init == SegmentRef((BASE + "media/file.mp4",), ByteRange(0, 99), period="0")
    assert [(s.url, s.byte_range, s.start, s.duration) for s in segments] == [
        (BASE + "media/file.mp4", ByteRange(100, 199), 0.0, 2.0),
        (BASE + "media/file.mp4", ByteRange(200, None), 2.0, 2.0),
        (BASE + "media/other.mp4", None, 4.0, 2.0),
    ]


def test_segment_list_inherited_with_timeline_and_source_url() -> None:
    m = manifest(
        '<Period><AdaptationSet><SegmentList timescale="2">'
        '<Initialization sourceURL="init.mp4"/><SegmentTimeline><S t="4" d="2" r="1"/>'
        '</SegmentTimeline></SegmentList><Representation id="r" bandwidth="1">'
        '<SegmentList><SegmentURL media="a"/><SegmentURL media="b"/></SegmentList>'
        "</Representation></AdaptationSet></Period>"
    )
    period = m.periods[0]
    init, segments = address(period.representations[0], period)
    assert init is not None and init.url == BASE + "init.mp4"
    assert [(s.url, s.start, s.duration) for s in segments] == [
        (BASE + "a", 2.0, 1.0),
        (BASE + "b", 3.0, 1.0),
    ]


def test_segment_list_without_duration_has_no_times() -> None:
    _, segments = addressed('<SegmentList><SegmentURL media="a"/></SegmentList>')
    assert (segments[0].start, segments[0].duration) == (None, None)


def test_segment_list_limit() -> None:
    inner = "<SegmentList>" + '<SegmentURL media="a"/>' * 3 + "</SegmentList>"
    with pytest.raises(LimitExceeded):
        addressed(inner, limits=ManifestLimits(max_segments=2))


# -- whole files and SegmentBase ------------------------------------------------------------------


def test_base_url_only_is_one_whole_file() -> None:
    init, segments = addressed("<BaseURL>v.mp4</BaseURL>")
    assert init is None
    assert segments == (SegmentRef((BASE + "v.mp4",), None, 0.0, 10.0, "0"),)


def test_segment_base_without_index_is_one_whole_file() -> None:
    init, segments = addressed(
        '<BaseURL>v.mp4</BaseURL><SegmentBase><Initialization range="0-10"/></SegmentBase>'
    )
    assert init is None and urls(segments) == [BASE + "v.mp4"]


def test_segment_base_with_index_range_is_a_placeholder_with_its_index() -> None:
    inner = (
        '<BaseURL>v.mp4</BaseURL><SegmentBase indexRange="100-200" timescale="1000" '
        'presentationTimeOffset="500"/>'
    )
    init, segments = addressed(inner)
    assert init is None
    (placeholder,) = segments
    assert placeholder.url == BASE + "v.mp4" and placeholder.byte_range is None
    assert placeholder.index == IndexRef(
        urls=(BASE + "v.mp4",), range=ByteRange(100, 200), period="0", offset=0.5
    )
    assert placeholder.index.init == SegmentRef((BASE + "v.mp4",), ByteRange(0, 99), period="0")


def test_segment_base_initialization_and_representation_index() -> None:
    _, (placeholder,) = addressed(
        "<BaseURL>http://a.example/v.mp4</BaseURL><BaseURL>http://b.example/v.mp4</BaseURL>"
        '<SegmentBase><Initialization sourceURL="init.mp4"/>'
        '<RepresentationIndex sourceURL="v.sidx"/></SegmentBase>'
    )
    index = placeholder.index
    assert index is not None
    assert index.fetch_urls == ("http://a.example/v.sidx", "http://b.example/v.sidx")
    assert index.range == ByteRange(0)
    assert index.init == SegmentRef(
        ("http://a.example/init.mp4", "http://b.example/init.mp4"), period="0"
    )
    assert placeholder.urls == ("http://a.example/v.mp4", "http://b.example/v.mp4")


def test_segment_base_index_in_a_separate_file_has_no_implicit_init() -> None:
    _, (placeholder,) = addressed(
        '<BaseURL>v.mp4</BaseURL><SegmentBase><RepresentationIndex sourceURL="v.idx" '
        'range="10-99"/></SegmentBase>'
    )
    assert placeholder.index is not None and placeholder.index.range == ByteRange(10, 99)
    assert placeholder.index.init is None


def test_clip_sets_the_period_window() -> None:
    inner = (
        '<BaseURL>v.mp4</BaseURL><SegmentBase indexRange="9-99" timescale="10" '
        'presentationTimeOffset="40"/>'
    )
    m = manifest(rep_period(inner, 'duration="PT3S"'))
    period = m.periods[0]
    _, (placeholder,) = address(period.representations[0], period, clip=True)
    assert placeholder.index is not None and placeholder.index.window == (4.0, 7.0)


def test_no_base_url_and_no_segment_information() -> None:
    with pytest.raises(ManifestParseError, match="neither segment information nor a BaseURL"):
        addressed("")


# -- property tests for the timeline arithmetic ---------------------------------------------------

_entries = st.lists(
    st.builds(TimelineEntry, t=st.none(), d=st.integers(1, 10**6), r=st.integers(0, 50)),
    min_size=1,
    max_size=30,
)


@given(_entries, st.integers(0, 10**9))
def test_timeline_count_is_sum_of_repeats(entries: list[TimelineEntry], t0: int) -> None:
    entries[0] = TimelineEntry(t0, entries[0].d, entries[0].r)
    runs = timeline_runs(entries)
    assert sum(r.count for r in runs) == sum(e.r + 1 for e in entries)


@given(_entries, st.integers(0, 10**9), st.integers(1, 10**6))
def test_timeline_times_contiguous_without_gaps(
    entries: list[TimelineEntry], t0: int, timescale: int
) -> None:
    entries[0] = TimelineEntry(t0, entries[0].d, entries[0].r)
    runs = timeline_runs(entries, start_number=3)
    times = [(r.t + k * r.d, r.d, r.number + k) for r in runs for k in range(r.count)]
    for (t, d, n), (t_next, _, n_next) in itertools.pairwise(times):
        assert t + d == t_next
        assert n + 1 == n_next
    assert times[0][0] == t0 and times[0][2] == 3


@given(st.integers(0, 10**6), st.integers(1, 1000), st.integers(0, 10**6))
def test_open_repeat_covers_up_to_the_next_t(t0: int, d: int, gap: int) -> None:
    entries = [TimelineEntry(t0, d, -1), TimelineEntry(t0 + gap, 1)]
    first = timeline_runs(entries)[0]
    assert first.t + (first.count - 1) * d < t0 + gap or first.count == 0
    assert first.t + first.count * d >= t0 + gap


@given(
    st.lists(
        st.builds(
            Run, st.integers(0, 10**6), st.integers(1, 100), st.integers(0, 20), st.integers(0, 100)
        ),
        max_size=10,
    )
)
def test_expand_runs_yields_one_ref_per_segment(runs: list[Run]) -> None:
    refs = expand_runs(runs, [lambda n, t: f"{n}/{t}"], timescale=10, offset=0, period="p")
    assert len(refs) == sum(r.count for r in runs)
    expected = [f"{r.number + k}/{r.t + k * r.d}" for r in runs for k in range(r.count)]
    assert [ref.url for ref in refs] == expected


@given(st.floats(0, 10**6), st.integers(1, 10**6), st.integers(1, 10**7))
def test_duration_count_covers_the_period(seconds: float, timescale: int, d: int) -> None:
    count = duration_count(seconds, timescale, d, 1, None)
    assert count * d >= seconds * timescale - 1e-6 * d
    assert (count - 1) * d < seconds * timescale + 1e-6 * d or count == 0
