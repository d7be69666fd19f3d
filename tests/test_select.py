"""Stream selection and plans, plus the real-world MPD corpus and its yt-dlp oracle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trioseg.errors import ManifestError, ManifestParseError, UnsupportedManifest
from trioseg.formats import format_table, list_formats, plan_json
from trioseg.mpd import Manifest, Representation, parse_mpd
from trioseg.plan import ByteRange, Plan, SegmentRef, StreamPlan
from trioseg.select import (
    best,
    build_plan,
    join_periods,
    select_default,
    stream_plan,
    track_plan,
)

URL = "http://example.test/path/manifest.mpd"
BASE = "http://example.test/path/"
CORPUS = Path(__file__).parent / "data" / "mpd-corpus"

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


def test_multi_period_is_joined_into_one_stream() -> None:
    m = manifest(
        period(adaptation("video/mp4", ("p0v", 1)), attrs='id="intro" duration="PT5S"')
        + period(adaptation("video/mp4", ("p1v", 9)), attrs='id="main"'),
    )
    (stream,) = select_default(m).streams
    assert (stream.id, stream.periods) == ("p0v", ("intro", "main"))
    assert stream.init is not None and stream.init.url == BASE + "p0v/i.mp4"
    assert [(s.url, s.period, s.is_init) for s in stream.segments] == [
        (BASE + "p0v/1.m4s", "intro", False),
        (BASE + "p1v/i.mp4", "main", True),
        (BASE + "p1v/1.m4s", "main", False),
    ]
    later = build_plan(m, [m.periods[1].representations[0]]).streams[0]
    assert [s.period for s in later.segments] == ["main"]


def test_segment_base_index_is_planned_as_a_placeholder() -> None:
    sidx = (
        '<AdaptationSet mimeType="audio/mp4"><Representation id="a" bandwidth="9">'
        '<BaseURL>a.mp4</BaseURL><SegmentBase indexRange="10-20"/></Representation>'
        "</AdaptationSet>"
    )
    m = manifest(period(adaptation("video/mp4", ("v", 1)), sidx))
    plan = select_default(m)
    video, audio = plan.streams
    assert plan.pending_index and not video.pending_index
    (index,) = audio.pending_index
    assert (index.urls, index.range, index.init) == (
        (BASE + "a.mp4",),
        ByteRange(10, 20),
        SegmentRef((BASE + "a.mp4",), ByteRange(0, 9), period="0"),
    )
    assert audio.init is None and [s.url for s in audio.segments] == [BASE + "a.mp4"]


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
#
# tests/data/mpd-corpus holds 269 MPDs written by other projects (PROVENANCE.tsv: source, commit,
# licence) and, in oracle.jsonl, what yt-dlp derives from each static one it can read: per
# format its id, type, Periods and ordered download URLs (front-coded; reduce_oracle.py).


def corpus_files() -> list[Path]:
    return sorted(p for p in (CORPUS / "mpd").rglob("*") if p.is_file())


def test_the_corpus_is_complete() -> None:
    files = corpus_files()
    listed = (CORPUS / "PROVENANCE.tsv").read_text().splitlines()[1:]
    assert len(files) == len(listed) == 269
    assert {p.relative_to(CORPUS / "mpd").as_posix() for p in files} == {
        line.split("\t")[0] for line in listed
    }


@pytest.mark.parametrize(
    "path", corpus_files(), ids=lambda p: p.relative_to(CORPUS / "mpd").as_posix()
)
def test_corpus_plans_or_fails_cleanly(path: Path) -> None:
    try:
        m = parse_mpd(path.read_bytes(), URL)
        rows = list_formats(m)
        assert all(isinstance(r.id, str) for r in rows)
        format_table(rows)
        if m.type == "static":
            plan = select_default(m)
            assert plan.streams
            assert json.dumps(plan_json(plan))
    except ManifestError as exc:
        assert str(exc) and "\n" not in str(exc)


def _decode(urls: list[Any]) -> list[str]:
    out: list[str] = []
    for entry in urls:
        out.append(entry if isinstance(entry, str) else out[-1][: entry[0]] + entry[1])
    return out


def oracles() -> list[dict[str, Any]]:
    lines = (CORPUS / "oracle.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


ORACLES = {o["file"]: o for o in oracles()}


def _period(m: Manifest, key: str) -> int:
    """The index of the Period the oracle calls ``key`` (``period-N`` when it has no id)."""
    for period in m.periods:
        if period.id == key or (period.id is None and key == f"period-{period.index}"):
            return period.index
    raise AssertionError(f"no Period {key!r}")


def _single(m: Manifest, rep: Representation) -> tuple[StreamPlan, list[str]]:
    stream = stream_plan(m, rep)
    urls = ([stream.init.url] if stream.init else []) + [s.url for s in stream.segments]
    return stream, urls


# Where trioseg and yt-dlp's URL lists differ for oracle files that list no known yt-dlp
# limit, and why trioseg follows ISO/IEC 23009-1 instead.
ORACLE_DIFFERENCES = {
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


REFUSED = {
    "carlanton__mpd-tools/parser__src__test__resources__random.mpd": (
        "SegmentTemplate@indexRange: expected a byte range",
        "random attribute values (a parser fuzz vector): trioseg refuses the malformed "
        "indexRange; yt-dlp never reads it",
    ),
    "videojs__mpd-parser/test__manifests__multiperiod.mpd": (
        r"SegmentTemplate@initialization: \$Number\$ is not allowed here",
        "ISO/IEC 23009-1 5.3.9.4.4 forbids $Number$ in @initialization; yt-dlp substitutes it",
    ),
}

ZERO_LENGTH_PERIODS = {
    "streamlink__streamlink/tests__resources__dash__test_baseurl_urljoin.mpd": (
        "every Period starts at PT12M34S, so all but the last last 0 s and have no media "
        "segment; yt-dlp ignores Period@start and gives each the whole presentation"
    ),
}


def _normal(url: str) -> str:
    """``url`` with dot segments removed (RFC 3986 5.2.4)."""
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return urljoin(f"{parts.scheme}://{parts.netloc}/", parts.path + query)


def _reps_for(m: Manifest, fmt: dict[str, Any], index: int) -> list[Representation]:
    """The Representations of Period ``index`` yt-dlp merged into ``fmt``, in order.

    yt-dlp merges Representations whose attributes are identical, whatever their ids.
    """
    reps = [r for r in m.periods[index].representations if r.kind == fmt["type"]]
    same_id = [r for r in reps if r.id == fmt["id"]]
    twins = [r for r in reps if r.id != fmt["id"] and r.bandwidth == fmt["bandwidth"]]
    return same_id + twins


@pytest.mark.parametrize("file", sorted(ORACLES))
def test_urls_agree_with_the_oracle(file: str) -> None:
    """Per Period, trioseg's URLs for each of yt-dlp's formats, in order.

    Where yt-dlp merges Periods (or identical Representations) it concatenates their
    lists, init included; the comparison does the same with trioseg's single-Period
    plans.  How trioseg joins Periods differs on purpose and is tested in
    test_multi_period_tracks_are_their_periods_in_order.  Known yt-dlp limits that change
    no URL (Initialization@range, SegmentURL@mediaRange and indexRange ignored, first
    BaseURL only) are checked for what trioseg does instead.
    """
    oracle = ORACLES[file]
    data = (CORPUS / "mpd" / file).read_bytes()
    if file in REFUSED:
        with pytest.raises(ManifestParseError, match=REFUSED[file][0]):
            m = parse_mpd(data, oracle["manifest_url"])
            for period in m.periods:
                for rep in period.representations:
                    stream_plan(m, rep)
        return
    m = parse_mpd(data, oracle["manifest_url"])
    difference = ORACLE_DIFFERENCES.get(file, (None, ""))[0]
    limits = set(oracle["limits"])
    for fmt in oracle["formats"]:
        if fmt["id"] is None or fmt["type"] not in ("video", "audio"):
            continue  # subtitles carry no format id; thumbnails are not downloaded
        theirs = _decode(fmt["urls"])
        parts: list[list[str]] = []
        whole: list[bool] = []
        drop: list[int] = []
        occurrences: dict[int, int] = {}
        for key in fmt["periods"]:
            index = _period(m, key)
            n = occurrences.get(index, 0)
            occurrences[index] = n + 1
            rep = _reps_for(m, fmt, index)[n]
            if difference == "no-media":
                with pytest.raises(
                    ManifestParseError, match="neither segment information nor a BaseURL"
                ):
                    stream_plan(m, rep)
                continue
            stream, urls = _single(m, rep)
            _check_limits(rep, stream, limits)
            if file in ZERO_LENGTH_PERIODS and index + 1 < len(m.periods):
                assert stream.segments == ()
                # yt-dlp lists the init and one media segment here; trioseg the init only
                drop.append(sum(map(len, parts)) + len(drop) + 1)
            parts.append(urls)
            info = rep.segment_info
            whole.append(stream.init is None and (info is None or info.kind == "base"))
        if difference == "no-media":
            continue
        mine = [u for part in parts for u in part]
        theirs = [u for i, u in enumerate(theirs) if i not in drop]
        if len(parts) > 1 and all(whole) and all(p == parts[0] for p in parts):
            # one whole file named by several merged Representations: yt-dlp lists it once,
            # and so does a trioseg track joining Periods (see track_plan)
            mine = parts[0]
        if difference == "extra-segment":
            assert theirs[:-1] == mine and len(theirs) == len(mine) + 1
        elif limits & {"nested_BaseURL", "BaseURL_absolute"} and mine != theirs:
            # yt-dlp concatenates BaseURLs as strings until one starts with http(s)://;
            # trioseg resolves each against its parent (RFC 3986): same files, and the
            # same URLs once yt-dlp's dot segments are removed, unless a BaseURL lacks
            # its trailing '/'
            normal = [_normal(u) for u in theirs]
            assert len(mine) == len(theirs)
            assert all(
                a == b or b.rpartition("/")[2].endswith(a.rpartition("/")[2])
                for a, b in zip(mine, normal, strict=True)
            )
        else:
            assert mine == theirs


def _check_limits(rep: Representation, stream: StreamPlan, limits: set[str]) -> None:
    info = rep.segment_info
    if info is not None and info.kind == "base" and info.has_index:
        # yt-dlp fetches the whole file; trioseg plans the same file as a placeholder that
        # the sidx expands into the init range and one ranged request per subsegment.
        (placeholder,) = stream.segments
        assert placeholder.index is not None and stream.pending_index
        if info.initialization is not None and info.initialization.byte_range is not None:
            assert placeholder.index.init_range == info.initialization.byte_range
    if "SegmentURL_mediaRange" in limits and info is not None and info.segment_urls:
        # yt-dlp drops the ranges: the same URLs, without which bytes of them
        ranges = [u.media_range for u in info.segment_urls]
        assert [s.byte_range for s in stream.segments] == ranges
    if "multiple_BaseURL" in limits and len(rep.base_urls) > 1:
        # yt-dlp keeps the first BaseURL; trioseg keeps every alternative, first one first
        assert all(len(s.urls) > 1 for s in stream.segments if "://" in s.url)


MULTI_PERIOD = sorted(
    f for f, o in ORACLES.items() if "multi_period" in o["limits"] and f not in REFUSED
)


@pytest.mark.parametrize("file", MULTI_PERIOD)
def test_multi_period_tracks_are_their_periods_in_order(file: str) -> None:
    """trioseg's joined tracks versus yt-dlp's merged formats.

    yt-dlp concatenates formats whose attributes are identical across Periods, repeating
    every Period's init and ignoring Period@start; trioseg follows a Representation through
    the Periods (AdaptationSet id, else kind + language + codec family; then same id, else
    the closest bandwidth), adds a Period's init only where it changes, and fetches a whole
    file that several Periods name once.  Each track is its Periods' plans in order.
    """
    m = parse_mpd((CORPUS / "mpd" / file).read_bytes(), ORACLES[file]["manifest_url"])
    join = join_periods(m)
    assert all(note and "\n" not in note for note in join.notes)
    for track in join.tracks:
        try:
            joined = track_plan(m, track)
        except ManifestError:
            continue
        assert len({r.period_index for r in track.reps}) == len(track.reps) == len(join.periods)
        expected: list[tuple[str, bool]] = []
        current = None
        seen_whole: set[str] = set()
        for i, rep in enumerate(track.reps):
            part = stream_plan(m, rep)
            init = (part.init.url, part.init.byte_range) if part.init else None
            if i == 0 or (init is not None and init != current):
                if init is not None:
                    expected.append((init[0], i > 0))
                current = init
            info = rep.segment_info
            whole = (info is None or info.kind == "base") and part.segments[0].index is None
            if whole and part.segments[0].url in seen_whole:
                continue
            seen_whole.update(s.url for s in part.segments if whole)
            expected += [(s.url, False) for s in part.segments]
        got = ([(joined.init.url, False)] if joined.init else []) + [
            (s.url, s.is_init) for s in joined.segments
        ]
        assert got == expected
        assert joined.periods == tuple(m.periods[i].key for i in join.periods)


# -- property tests for Period joining ------------------------------------------------------------


@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(1, 10**7), min_size=1, max_size=4),
            st.integers(1, 6),
            st.booleans(),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_joined_tracks_cover_every_period_in_order(
    periods: list[tuple[list[int], int, bool]],
) -> None:
    """Periods with the same AdaptationSets join: one track per Representation of the first
    Period, following its id (or the closest bandwidth), with every Period's segments."""
    first_ids = [f"r{i}" for i in range(len(periods[0][0]))]
    body = ""
    for p, (bandwidths, seconds, same_ids) in enumerate(periods):
        reps = "".join(
            f'<Representation id="{f"r{i}" if same_ids or p == 0 else f"p{p}r{i}"}" '
            f'bandwidth="{b}"/>'
            for i, b in enumerate(bandwidths)
        )
        body += (
            f'<Period id="P{p}" duration="PT{seconds}S"><AdaptationSet mimeType="video/mp4" '
            f'codecs="avc1.4d401f"><SegmentTemplate media="P{p}/$RepresentationID$/$Number$" '
            f'duration="1"/>{reps}</AdaptationSet></Period>'
        )
    m = manifest(body)
    join = join_periods(m)
    assert join.notes == ()
    assert [t.id for t in join.tracks] == first_ids
    for track in join.tracks:
        assert [r.period_index for r in track.reps] == list(range(len(periods)))
        for p, rep in enumerate(track.reps[1:], start=1):
            bandwidths, _, same_ids = periods[p]
            here = {r.id for r in m.periods[p].representations}
            previous = track.reps[p - 1]
            if previous.id in here or track.id in here:
                assert rep.id == (previous.id if previous.id in here else track.id)
            else:
                distance = abs(rep.bandwidth - previous.bandwidth)
                assert distance == min(abs(b - previous.bandwidth) for b in bandwidths)
        stream = track_plan(m, track)
        assert [s.period for s in stream.segments] == [
            f"P{p}" for p, (_, seconds, _) in enumerate(periods) for _ in range(seconds)
        ]
        assert stream.periods == tuple(f"P{p}" for p in range(len(periods)))


@given(
    st.lists(
        st.text(alphabet="aAvV1_/ .-", min_size=1, max_size=90),
        min_size=2,
        max_size=6,
    )
)
def test_stream_ids_never_share_a_file_name(ids: list[str]) -> None:
    from xml.sax.saxutils import quoteattr

    from trioseg.naming import file_key

    reps = "".join(
        f'<Representation id={quoteattr(i)} bandwidth="{n + 1}"/>' for n, i in enumerate(ids)
    )
    doc = manifest(period(f'<AdaptationSet mimeType="video/mp4">{TEMPLATE}{reps}</AdaptationSet>'))
    chosen = doc.periods[0].adaptation_sets[0].representations
    plan = build_plan(doc, chosen)
    keys = [file_key(s.id) for s in plan.streams]
    assert len(set(keys)) == len(keys) == len(ids)
    # an id that clashes with nothing is kept as it is
    assert plan.streams[0].id == chosen[0].id
