"""Segment indexes: sidx parsing, hierarchical expansion, Period windows, range splitting."""

from __future__ import annotations

import contextlib
import itertools
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trioseg.errors import LimitExceeded, ManifestError
from trioseg.mpd import ManifestLimits, parse_mpd
from trioseg.plan import ByteRange, SegmentRef, StreamPlan
from trioseg.select import build_plan, join_periods
from trioseg.sidx import (
    IndexRequest,
    NeedMore,
    SidxError,
    expand_index,
    parse_sidx,
    split_ranges,
    split_segment,
)

URL = "http://example.test/path/manifest.mpd"
BASE = "http://example.test/path/"

Ref = tuple[int, int, int]  # (reference_type, size, duration)


def sidx(
    refs: list[Ref],
    *,
    version: int = 0,
    timescale: int = 1000,
    ept: int = 0,
    first_offset: int = 0,
    large: bool = False,
) -> bytes:
    body = bytes([version, 0, 0, 0]) + struct.pack(">II", 1, timescale)
    body += struct.pack(">II" if version == 0 else ">QQ", ept, first_offset)
    body += struct.pack(">HH", 0, len(refs))
    for kind, size, duration in refs:
        body += struct.pack(">III", (kind << 31) | size, duration, 0x90000000)
    if large:
        return struct.pack(">I4sQ", 1, b"sidx", 16 + len(body)) + body
    return struct.pack(">I4s", 8 + len(body), b"sidx") + body


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


# -- parsing ------------------------------------------------------------------------------------


def test_version_0_offsets_and_times() -> None:
    data = sidx([(0, 100, 2000), (0, 50, 1500)], timescale=1000, ept=500, first_offset=7)
    parsed = parse_sidx(data, offset=1000)
    end = 1000 + len(data)
    assert parsed.box == ByteRange(1000, end - 1)
    assert [(r.kind, r.range, r.start, r.duration) for r in parsed.references] == [
        ("media", ByteRange(end + 7, end + 106), 0.5, 2.0),
        ("media", ByteRange(end + 107, end + 156), 2.5, 1.5),
    ]
    assert all(r.starts_with_sap for r in parsed.references)


def test_version_1_sixty_four_bit_fields_and_large_size() -> None:
    ept = 2**40
    data = sidx(
        [(0, 10, 90000)], version=1, timescale=90000, ept=ept, first_offset=2**33, large=True
    )
    parsed = parse_sidx(data, offset=0)
    (ref,) = parsed.references
    assert parsed.earliest_presentation_time == ept and parsed.first_offset == 2**33
    assert ref.range.first == len(data) + 2**33
    assert ref.start == pytest.approx(ept / 90000)


def test_boxes_before_the_sidx_are_skipped() -> None:
    data = box(b"styp", b"msdh") + sidx([(0, 10, 1)])
    parsed = parse_sidx(data, offset=100)
    assert parsed.box.first == 100 + 12
    assert parsed.references[0].range.first == 100 + len(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no sidx box"),
        (b"\x00\x00", "truncated box header"),
        (box(b"moov", b"x" * 10), "no sidx box"),
        (struct.pack(">I4s", 4, b"sidx"), "invalid size 4"),
        (sidx([(0, 10, 1)])[:-3], "only"),
        (struct.pack(">I4s", 12, b"sidx") + b"\x00\x00\x00\x00", "truncated sidx header"),
        (sidx([(0, 10, 1)], timescale=0), "timescale is 0"),
        (sidx([(0, 0, 1)]), "reference 0 has size 0"),
        (box(b"sidx", bytes([2]) + b"\x00" * 40), "unsupported sidx version 2"),
    ],
)
def test_garbage_is_a_clear_manifest_error(data: bytes, message: str) -> None:
    with pytest.raises(SidxError, match=message) as info:
        parse_sidx(data)
    assert isinstance(info.value, ManifestError)
    assert str(info.value).startswith("segment index: ")


def test_reference_count_beyond_the_box() -> None:
    data = bytearray(sidx([(0, 10, 1)]))
    data[-14:-12] = struct.pack(">H", 9)  # reference_count says 9, one is present
    with pytest.raises(SidxError, match="lists 9 references but holds only 1"):
        parse_sidx(bytes(data))


@given(st.binary(max_size=200))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    with contextlib.suppress(SidxError):
        parse_sidx(data)


@given(st.integers(0, 60))
def test_every_truncation_is_refused(cut: int) -> None:
    data = sidx([(0, 10, 1), (1, 20, 2)])
    if cut < len(data):
        with pytest.raises(SidxError):
            parse_sidx(data[:cut])


@given(
    st.lists(st.tuples(st.integers(1, 2**31 - 1), st.integers(0, 2**32 - 1)), max_size=40),
    st.integers(0, 2**40),
    st.integers(0, 2**32 - 1),
    st.integers(1, 2**32 - 1),
    st.integers(0, 2**40),
)
def test_offsets_are_contiguous_from_the_anchor(
    refs: list[tuple[int, int]], offset: int, first_offset: int, timescale: int, ept: int
) -> None:
    data = sidx(
        [(0, size, d) for size, d in refs],
        version=1,
        timescale=timescale,
        ept=ept,
        first_offset=first_offset,
    )
    parsed = parse_sidx(data, offset)
    position = offset + len(data) + first_offset
    time = ept
    for (size, d), ref in zip(refs, parsed.references, strict=True):
        assert ref.range == ByteRange(position, position + size - 1)
        assert ref.start == pytest.approx(time / timescale)
        position += size
        time += d


# -- expansion ----------------------------------------------------------------------------------


def segment_base_stream(inner: str = "", index: str = "1000-1099") -> StreamPlan:
    data = (
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'mediaPresentationDuration="PT10S"><Period><AdaptationSet mimeType="video/mp4">'
        '<Representation id="v" bandwidth="1"><BaseURL>v.mp4</BaseURL>'
        f'<SegmentBase indexRange="{index}" timescale="1000">{inner}</SegmentBase>'
        "</Representation></AdaptationSet></Period></MPD>"
    )
    m = parse_mpd(data.encode(), URL)
    return build_plan(m, m.periods[0].representations).streams[0]


def fetch_all(stream: StreamPlan, files: dict[str, bytes]) -> tuple[StreamPlan, int]:
    """Run the engine's loop against in-memory files; returns the result and the rounds."""
    fetched: dict[IndexRequest, bytes] = {}
    rounds = 0
    while isinstance(step := expand_index(stream, fetched), NeedMore):
        rounds += 1
        for request in step.requests:
            body = files[request.urls[0]]
            last = len(body) - 1 if request.range.last is None else request.range.last
            fetched[request] = body[request.range.first : last + 1]
    return step, rounds


def test_expand_a_flat_index() -> None:
    stream = segment_base_stream()
    first = expand_index(stream, {})
    assert first == NeedMore((IndexRequest((BASE + "v.mp4",), ByteRange(1000, 1099)),))
    index = sidx([(0, 500, 2000), (0, 600, 2000), (0, 700, 1000)])
    expanded = expand_index(stream, {first.requests[0]: index})
    assert isinstance(expanded, StreamPlan)
    assert expanded.init == SegmentRef((BASE + "v.mp4",), ByteRange(0, 999), period="0")
    anchor = 1000 + len(index)
    assert [(s.byte_range, s.start, s.duration, s.period) for s in expanded.segments] == [
        (ByteRange(anchor, anchor + 499), 0.0, 2.0, "0"),
        (ByteRange(anchor + 500, anchor + 1099), 2.0, 2.0, "0"),
        (ByteRange(anchor + 1100, anchor + 1799), 4.0, 1.0, "0"),
    ]
    assert not expanded.pending_index
    assert expand_index(expanded, {}) == expanded


def test_initialization_range_alternatives_and_offset() -> None:
    data = (
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT9S">'
        "<BaseURL>http://a.example/</BaseURL><BaseURL>http://b.example/</BaseURL><Period>"
        '<AdaptationSet mimeType="audio/mp4"><Representation id="a" bandwidth="1">'
        '<BaseURL>a.mp4</BaseURL><SegmentBase indexRange="800-899" timescale="10" '
        'presentationTimeOffset="20"><Initialization range="0-799"/></SegmentBase>'
        "</Representation></AdaptationSet></Period></MPD>"
    )
    m = parse_mpd(data.encode(), URL)
    stream = build_plan(m, m.periods[0].representations).streams[0]
    urls = ("http://a.example/a.mp4", "http://b.example/a.mp4")
    expanded, rounds = fetch_all(
        stream, {urls[0]: b"\0" * 800 + sidx([(0, 10, 30)], timescale=10, ept=20) + b"\0" * 10}
    )
    assert rounds == 1
    assert expanded.init == SegmentRef(urls, ByteRange(0, 799), period="0")
    (segment,) = expanded.segments
    assert segment.urls == urls and (segment.start, segment.duration) == (0.0, 3.0)


def hierarchy() -> tuple[bytes, int]:
    """A file: 100 bytes of init, a root sidx over two child sidx, each over media."""
    child_a = sidx([(0, 10, 1000), (0, 20, 1000)], ept=0)
    child_b = sidx([(0, 30, 1000)], ept=2000)
    media_a = b"a" * 30
    media_b = b"b" * 30
    root = sidx([(1, len(child_a) + 30, 2000), (1, len(child_b) + 30, 1000)])
    body = b"i" * 100 + root + child_a + media_a + child_b + media_b
    return body, len(root)


def test_hierarchical_index_needs_a_second_round() -> None:
    body, root_size = hierarchy()
    stream = segment_base_stream(index=f"100-{100 + root_size - 1}")
    first = expand_index(stream, {})
    assert isinstance(first, NeedMore)
    fetched = {first.requests[0]: body[100 : 100 + root_size]}
    second = expand_index(stream, fetched)
    assert isinstance(second, NeedMore) and len(second.requests) == 2
    expanded, rounds = fetch_all(stream, {BASE + "v.mp4": body})
    assert rounds == 2
    assert [body[s.byte_range.first : s.byte_range.last + 1] for s in expanded.segments] == [
        b"a" * 10,
        b"a" * 20,
        b"b" * 30,
    ]
    assert [s.start for s in expanded.segments] == [0.0, 1.0, 2.0]


def test_a_wide_index_range_serves_the_children() -> None:
    body, _ = hierarchy()
    stream = segment_base_stream(index=f"100-{len(body) - 1}")
    expanded, rounds = fetch_all(stream, {BASE + "v.mp4": body})
    assert rounds == 1 and len(expanded.segments) == 3


def test_hierarchy_depth_is_bounded() -> None:
    chain = sidx([(0, 5, 1)])
    for _ in range(9):
        chain = sidx([(1, len(chain), 1)]) + chain
    stream = segment_base_stream(index=f"0-{len(chain) - 1}")
    with pytest.raises(LimitExceeded, match="deeper than 8 levels"):
        fetch_all(stream, {BASE + "v.mp4": chain + b"\0" * 5})


def test_segment_and_box_limits() -> None:
    index = sidx([(0, 1, 1)] * 5)
    stream = segment_base_stream(index=f"0-{len(index) - 1}")
    request = IndexRequest((BASE + "v.mp4",), ByteRange(0, len(index) - 1))
    with pytest.raises(LimitExceeded, match="more than the limit of 4 segments"):
        expand_index(stream, {request: index}, limits=ManifestLimits(max_segments=4))
    with pytest.raises(LimitExceeded, match="more than 0 sidx boxes"):
        expand_index(stream, {request: index}, limits=ManifestLimits(max_index_requests=0))


def test_short_answer_is_a_clear_error() -> None:
    stream = segment_base_stream(index="0-99")
    request = IndexRequest((BASE + "v.mp4",), ByteRange(0, 99))
    with pytest.raises(SidxError, match="only 10 were received"):
        expand_index(stream, {request: sidx([(0, 1, 1)])[:10] + b""})


def test_periods_cutting_one_file_partition_its_segments() -> None:
    """Two Periods name the same file and index, each with its presentationTimeOffset."""
    rep = (
        '<AdaptationSet id="0" contentType="audio"><Representation id="a" bandwidth="1" '
        'codecs="mp4a.40.2" mimeType="audio/mp4"><BaseURL>a.mp4</BaseURL>'
        '<SegmentBase indexRange="100-{last}" timescale="1000"{pto}>'
        '<Initialization range="0-99"/></SegmentBase></Representation></AdaptationSet>'
    )
    index = sidx([(0, 10, 1000)] * 4)
    last = 100 + len(index) - 1
    one = rep.format(last=last, pto="")
    two = rep.format(last=last, pto=' presentationTimeOffset="2000"')
    data = (
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT4S">'
        f'<Period id="one" duration="PT2S">{one}</Period>'
        f'<Period id="two" duration="PT2S">{two}</Period></MPD>'
    )
    m = parse_mpd(data.encode(), URL)
    (track,) = join_periods(m).tracks
    stream = build_plan(m, [track]).streams[0]
    assert len(stream.pending_index) == 2
    expanded, rounds = fetch_all(stream, {BASE + "a.mp4": b"\0" * 100 + index + b"\0" * 40})
    assert rounds == 1
    assert expanded.init == SegmentRef((BASE + "a.mp4",), ByteRange(0, 99), period="one")
    anchor = 100 + len(index)
    assert [(s.byte_range.first - anchor, s.period, s.start) for s in expanded.segments] == [
        (0, "one", 0.0),
        (10, "one", 1.0),
        (20, "two", 0.0),
        (30, "two", 1.0),
    ]


# -- splitting ------------------------------------------------------------------------------------


def test_split_ranges() -> None:
    assert split_ranges(10, 4) == (ByteRange(0, 3), ByteRange(4, 7), ByteRange(8, 9))
    assert split_ranges(0, 4) == ()
    with pytest.raises(ValueError):
        split_ranges(10, 0)


@given(st.integers(0, 10**12), st.integers(1, 10**11))
def test_split_ranges_cover_exactly(size: int, chunk: int) -> None:
    if size // chunk > 10_000:
        chunk = size // 10_000 + 1
    ranges = split_ranges(size, chunk)
    assert sum(r.length or 0 for r in ranges) == size
    assert all(0 < (r.length or 0) <= chunk for r in ranges)
    assert all(a.last is not None and a.last + 1 == b.first for a, b in itertools.pairwise(ranges))
    assert not ranges or (ranges[0].first == 0 and ranges[-1].last == size - 1)


def test_split_segment_shares_time_by_bytes() -> None:
    whole = SegmentRef(("http://a/x", "http://b/x"), None, 0.0, 10.0, "p")
    parts = split_segment(whole, 100, 40)
    assert [(p.byte_range, p.start, p.duration, p.urls, p.period) for p in parts] == [
        (ByteRange(0, 39), 0.0, 4.0, whole.urls, "p"),
        (ByteRange(40, 79), 4.0, 4.0, whole.urls, "p"),
        (ByteRange(80, 99), 8.0, 2.0, whole.urls, "p"),
    ]
