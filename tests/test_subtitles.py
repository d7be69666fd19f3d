from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import pytest
from defusedxml import ElementTree

from trioseg.errors import StoreError, TriosegError
from trioseg.subtitles import (
    SubtitleError,
    convert,
    merge_ttml,
    merge_webvtt,
    stpp_to_ttml,
    wvtt_to_webvtt,
)

# --------------------------------------------------------------------------- ISO BMFF writer

MATRIX = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
TTML_NS = "http://www.w3.org/ns/ttml"


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def large_box(kind: bytes, *payload: bytes) -> bytes:
    """A box written with a 64-bit size (size field 1)."""
    body = b"".join(payload)
    return struct.pack(">I4sQ", 1, kind, 16 + len(body)) + body


def full(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", version << 24 | flags), *payload)


def wvtt_entry(config: str = "WEBVTT") -> bytes:
    return box(
        b"wvtt",
        bytes(6),
        struct.pack(">H", 1),
        box(b"vttC", config.encode()),
        box(b"vlab", b"en"),
    )


def stpp_entry() -> bytes:
    return box(b"stpp", bytes(6), struct.pack(">H", 1), TTML_NS.encode() + b"\0", b"\0", b"\0")


def init_segment(entry: bytes, *, timescale: int = 1000, track_id: int = 1) -> bytes:
    handler, media_header = (b"text", b"nmhd") if entry[4:8] == b"wvtt" else (b"subt", b"sthd")
    language = sum((ord(c) - 0x60) << shift for c, shift in zip("eng", (10, 5, 0), strict=True))
    mvhd = full(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, 1000, 0),
        struct.pack(">iH", 0x10000, 0x100),
        bytes(10),
        MATRIX,
        bytes(24),
        struct.pack(">I", track_id + 1),
    )
    tkhd = full(
        b"tkhd",
        0,
        3,
        struct.pack(">IIIII", 0, 0, track_id, 0, 0),
        bytes(8),
        struct.pack(">hhhH", 0, 0, 0, 0),
        MATRIX,
        struct.pack(">II", 0, 0),
    )
    mdhd = full(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, language, 0))
    hdlr = full(b"hdlr", 0, 0, struct.pack(">I4s", 0, handler), bytes(12), b"Subtitles\0")
    dinf = box(b"dinf", full(b"dref", 0, 0, struct.pack(">I", 1), full(b"url ", 0, 1)))
    stbl = box(
        b"stbl",
        full(b"stsd", 0, 0, struct.pack(">I", 1), entry),
        full(b"stts", 0, 0, struct.pack(">I", 0)),
        full(b"stsc", 0, 0, struct.pack(">I", 0)),
        full(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        full(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    minf = box(b"minf", full(media_header, 0, 0), dinf, stbl)
    trak = box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))
    trex = full(b"trex", 0, 0, struct.pack(">IIIII", track_id, 1, 0, 0, 0))
    moov = box(b"moov", mvhd, trak, box(b"mvex", trex))
    return box(b"ftyp", b"iso6", struct.pack(">I", 0), b"iso6dash") + moov


def media_segment(
    sequence: int,
    decode_time: int,
    samples: Sequence[tuple[int, bytes]],
    *,
    track_id: int = 1,
    default_duration: int | None = None,
    tfdt_version: int = 1,
    large_mdat: bool = False,
) -> bytes:
    """styp + moof + mdat, as a DASH packager writes one media segment."""
    tfhd_flags = 0x020000
    tfhd_fields = struct.pack(">I", track_id)
    trun_flags = 0x1 | 0x200
    if default_duration is None:
        trun_flags |= 0x100
    else:
        tfhd_flags |= 0x8
        tfhd_fields += struct.pack(">I", default_duration)
    tfdt = (
        full(b"tfdt", 1, 0, struct.pack(">Q", decode_time))
        if tfdt_version == 1
        else full(b"tfdt", 0, 0, struct.pack(">I", decode_time))
    )

    def moof(data_offset: int) -> bytes:
        entries = b"".join(
            (struct.pack(">I", d) if default_duration is None else b"") + struct.pack(">I", len(s))
            for d, s in samples
        )
        trun = full(b"trun", 0, trun_flags, struct.pack(">Ii", len(samples), data_offset), entries)
        traf = box(b"traf", full(b"tfhd", 0, tfhd_flags, tfhd_fields), tfdt, trun)
        return box(b"moof", full(b"mfhd", 0, 0, struct.pack(">I", sequence)), traf)

    header = 16 if large_mdat else 8
    first = moof(0)
    fragment = moof(len(first) + header)
    payload = b"".join(s for _, s in samples)
    mdat = large_box(b"mdat", payload) if large_mdat else box(b"mdat", payload)
    styp = box(b"styp", b"msdh", struct.pack(">I", 0), b"msdhmsix")
    return styp + fragment + mdat


def vttc(text: str, *, ident: str = "", settings: str = "") -> bytes:
    parts = []
    if ident:
        parts.append(box(b"iden", ident.encode()))
    if settings:
        parts.append(box(b"sttg", settings.encode()))
    parts.append(box(b"payl", text.encode()))
    return box(b"vttc", *parts)


VTTE = box(b"vtte")


SPANNING = vttc("Spanning\nthe boundary")
OVERLAP = vttc("Overlap", settings="align:start")

#: (decode time, samples (duration, bytes), writer options) of three 4 s segments: an empty
#: sample, cue settings and an id, a cue spanning the first segment boundary, two cues
#: overlapping in one sample, a comment
WVTT_SEGMENTS: list[tuple[int, list[tuple[int, bytes]], dict[str, Any]]] = [
    (
        0,
        [
            (1000, VTTE),
            (1500, vttc("Hello <b>world</b>", ident="1", settings="line:90% align:center")),
            (500, VTTE + box(b"vtta", b"NOTE a comment")),
            (1000, SPANNING),
        ],
        {},
    ),
    (4000, [(1500, SPANNING), (500, SPANNING + OVERLAP), (2000, OVERLAP)], {}),
    (8000, [(4000, VTTE)], {"default_duration": 4000, "tfdt_version": 0, "large_mdat": True}),
]


def wvtt_stream() -> bytes:
    segments = (
        media_segment(number, time, samples, **options)
        for number, (time, samples, options) in enumerate(WVTT_SEGMENTS, 1)
    )
    return init_segment(wvtt_entry()) + b"".join(segments)


WVTT_EXPECTED = (
    "WEBVTT\n"
    "\n"
    "1\n"
    "00:00:01.000 --> 00:00:02.500 line:90% align:center\n"
    "Hello <b>world</b>\n"
    "\n"
    "NOTE a comment\n"
    "\n"
    "00:00:03.000 --> 00:00:06.000\n"
    "Spanning\n"
    "the boundary\n"
    "\n"
    "00:00:05.500 --> 00:00:08.000 align:start\n"
    "Overlap\n"
    "\n"
)


def ttml_document(paragraphs: str, *, head: bool = True) -> bytes:
    styling = (
        '<head><styling><style xml:id="s1" tts:color="white" tts:fontSize="100%"/>'
        '</styling><layout><region xml:id="r1" tts:origin="10% 80%" tts:extent="80% 20%"/>'
        "</layout></head>"
        if head
        else "<head/>"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<tt xmlns="{TTML_NS}" xmlns:tts="{TTML_NS}#styling" '
        f'xmlns:ttp="{TTML_NS}#parameter" ttp:timeBase="media" xml:lang="en">'
        f'{styling}<body><div region="r1">{paragraphs}</div></body></tt>'
    ).encode()


P_FIRST = '<p begin="00:00:01.000" end="00:00:02.000" style="s1">First<br/>line</p>'
P_REPEATED = '<p begin="00:00:03.000" end="00:00:05.000">Repeated &amp; kept once</p>'
P_SPLIT_A = '<p begin="00:00:03.500" end="00:00:04.000">Split</p>'
P_SPLIT_B = '<p begin="00:00:04.000" end="00:00:04.500">Split</p>'
P_LAST = '<p begin="00:00:06.000" end="00:00:07.000" tts:color="yellow">Last</p>'

TTML_EXPECTED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<tt xmlns="{TTML_NS}" xmlns:tts="{TTML_NS}#styling" xmlns:ttp="{TTML_NS}#parameter"'
    ' ttp:timeBase="media" xml:lang="en">'
    '<head><styling><style xml:id="s1" tts:color="white" tts:fontSize="100%"/></styling>'
    '<layout><region xml:id="r1" tts:origin="10% 80%" tts:extent="80% 20%"/></layout></head>'
    '<body><div region="r1">'
    + P_FIRST
    + P_REPEATED
    + '<p begin="00:00:03.500" end="00:00:04.500">Split</p>'
    + P_LAST
    + "</div></body></tt>\n"
).encode()


def ttml_segments() -> list[bytes]:
    return [
        ttml_document(P_FIRST + P_REPEATED + P_SPLIT_A),
        ttml_document(P_REPEATED + P_SPLIT_B, head=False),
        ttml_document("", head=False),
        ttml_document(P_LAST, head=False),
    ]


def stpp_stream() -> bytes:
    first, second, empty, last = ttml_segments()
    return (
        init_segment(stpp_entry(), timescale=90000)
        + media_segment(1, 0, [(360000, first)])
        + media_segment(2, 360000, [(180000, second), (180000, empty)])
        + media_segment(3, 720000, [(360000, last)], large_mdat=True)
    )


# --------------------------------------------------------------------------- wvtt


def test_wvtt_to_webvtt_exact_text() -> None:
    assert wvtt_to_webvtt(wvtt_stream()) == WVTT_EXPECTED


def test_wvtt_header_from_vttc_and_timescale() -> None:
    data = init_segment(
        wvtt_entry("WEBVTT - with a title\n\nSTYLE\n::cue { color: lime }"), timescale=90000
    ) + media_segment(1, 90000 * 3661, [(45045, vttc("Late"))])
    assert wvtt_to_webvtt(data) == (
        "WEBVTT - with a title\n\nSTYLE\n::cue { color: lime }\n\n"
        "01:01:01.000 --> 01:01:01.501\nLate\n\n"
    )


def test_wvtt_same_text_not_contiguous_stays_two_cues() -> None:
    data = init_segment(wvtt_entry()) + media_segment(
        1, 0, [(1000, vttc("Again")), (1000, VTTE), (1000, vttc("Again"))]
    )
    assert wvtt_to_webvtt(data) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nAgain\n\n00:00:02.000 --> 00:00:03.000\nAgain\n\n"
    )


def test_wvtt_only_init_segment_gives_an_empty_document() -> None:
    assert wvtt_to_webvtt(init_segment(wvtt_entry())) == "WEBVTT\n\n"


def test_wvtt_rejects_stpp_track() -> None:
    with pytest.raises(SubtitleError, match="'stpp', not 'wvtt'"):
        wvtt_to_webvtt(init_segment(stpp_entry()))


def test_wvtt_samples_in_order_when_data_offset_is_wrong() -> None:
    segment = bytearray(media_segment(1, 0, [(1000, vttc("A")), (1000, vttc("B"))]))
    trun = segment.index(b"trun")
    segment[trun + 12 : trun + 16] = struct.pack(">i", 1 << 30)  # data_offset far away
    data = init_segment(wvtt_entry()) + bytes(segment)
    assert wvtt_to_webvtt(data).endswith("00:00:01.000 --> 00:00:02.000\nB\n\n")


def _demux(data: bytes) -> tuple[str, list[tuple[int, int, bytes]]]:
    with av.open(io.BytesIO(data), "r") as container:
        (stream,) = container.streams
        packets = [
            (int(p.pts or 0), int(p.duration or 0), bytes(p))
            for p in container.demux(stream)
            if p.size
        ]
        return stream.type, packets


def test_ffmpeg_reads_the_test_wvtt_stream() -> None:
    """An independent check of the box writer: FFmpeg's mp4 demuxer finds every sample at
    its time.  (It exposes wvtt as a data stream: it has no wvtt depacketizer.)"""
    kind, packets = _demux(wvtt_stream())
    assert kind == "data"
    expected = []
    for time, samples, _ in WVTT_SEGMENTS:
        for duration, sample in samples:
            expected.append((time, duration, sample))
            time += duration
    assert packets == expected


def test_ffmpeg_reads_the_test_stpp_stream() -> None:
    kind, packets = _demux(stpp_stream())
    assert kind == "subtitle"
    first, second, empty, last = ttml_segments()
    assert packets == [
        (0, 360000, first),
        (360000, 180000, second),
        (540000, 180000, empty),
        (720000, 360000, last),
    ]


def test_converted_webvtt_opens_with_pyav(tmp_path: Path) -> None:
    source = tmp_path / "movie.text-en.mp4"
    source.write_bytes(wvtt_stream())
    out = convert(source, "wvtt", "mp4", tmp_path, "movie.text-en")
    assert out == tmp_path / "movie.text-en.vtt"
    with av.open(str(out), "r") as container:
        (stream,) = container.streams
        assert stream.type == "subtitle"
        assert stream.codec_context.name == "webvtt"
        packets = [p for p in container.demux(stream) if p.size]
    starts = [float((p.pts or 0) * (p.time_base or 0)) for p in packets]
    assert starts == [1.0, 3.0, 5.5]


# --------------------------------------------------------------------------- stpp / TTML


def test_stpp_to_ttml_exact_document() -> None:
    assert stpp_to_ttml(stpp_stream()) == TTML_EXPECTED


def test_merge_ttml_segments() -> None:
    assert merge_ttml(ttml_segments()) == TTML_EXPECTED


def test_merge_ttml_keeps_foreign_namespaces_and_new_divs() -> None:
    first = (
        f'<tt:tt xmlns:tt="{TTML_NS}" xmlns:ebuttm="urn:ebu:tt:metadata" xml:lang="de">'
        '<tt:body><tt:div xml:id="d1"><tt:p begin="1s" end="2s" ebuttm:x="1">Eins</tt:p>'
        "</tt:div></tt:body></tt:tt>"
    ).encode()
    second = (
        f'<tt xmlns="{TTML_NS}" xml:lang="de"><body><div xml:id="d2">'
        '<p begin="3s" end="4s">Zwei</p></div></body></tt>'
    ).encode()
    assert merge_ttml([first, second]).decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<tt:tt xmlns:tt="{TTML_NS}" xmlns:ebuttm="urn:ebu:tt:metadata" xmlns="{TTML_NS}"'
        ' xml:lang="de">'
        '<tt:body><tt:div xml:id="d1"><tt:p begin="1s" end="2s" ebuttm:x="1">Eins</tt:p>'
        '</tt:div><tt:div xml:id="d2"><tt:p begin="3s" end="4s">Zwei</tt:p></tt:div>'
        "</tt:body></tt:tt>\n"
    )


def test_stpp_without_samples_is_an_empty_document() -> None:
    assert (
        stpp_to_ttml(init_segment(stpp_entry()))
        == (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<tt xmlns="{TTML_NS}"><body/></tt>\n'
        ).encode()
    )


def test_convert_in_place_leaves_the_file(tmp_path: Path) -> None:
    source = tmp_path / "movie.text-en.vtt"
    source.write_bytes(b"WEBVTT\n")
    assert convert(source, None, "vtt", tmp_path, "movie.text-en") == source
    assert source.read_bytes() == b"WEBVTT\n"
    assert [p.name for p in tmp_path.iterdir()] == ["movie.text-en.vtt"]


def test_merge_ttml_refuses_entities() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE tt [<!ENTITY a "aaaa">]><tt>&a;</tt>'
    with pytest.raises(SubtitleError, match="document 1 is not valid XML"):
        merge_ttml([bomb])


def test_merge_ttml_rejects_other_xml() -> None:
    with pytest.raises(SubtitleError, match=r"document 2 is not TTML \(root <html>\)"):
        merge_ttml([ttml_document(""), b"<html/>"])


def test_stpp_with_subsamples_uses_the_xml_part() -> None:
    document = ttml_document(P_FIRST)
    sample = document + b"\x89PNG fake image bytes"
    segment = media_segment(1, 0, [(4000, sample)])
    subs = full(
        b"subs",
        1,
        0,
        struct.pack(">IIH", 1, 1, 2),
        struct.pack(">IBBI", len(document), 0, 0, 0),
        struct.pack(">IBBI", len(sample) - len(document), 0, 0, 0),
    )
    # insert subs into the traf and fix the box sizes and the data offset
    moof_at = segment.index(b"moof") - 4
    traf_at = segment.index(b"traf") - 4
    trun_at = segment.index(b"trun") - 4
    out = bytearray(segment[:trun_at] + subs + segment[trun_at:])
    for at in (moof_at, traf_at):
        (size,) = struct.unpack_from(">I", out, at)
        struct.pack_into(">I", out, at, size + len(subs))
    offset_at = trun_at + len(subs) + 16
    (offset,) = struct.unpack_from(">i", out, offset_at)
    struct.pack_into(">i", out, offset_at, offset + len(subs))
    data = init_segment(stpp_entry()) + bytes(out)
    assert stpp_to_ttml(data) == merge_ttml([document])


# --------------------------------------------------------------------------- WebVTT


def test_merge_webvtt_with_timestamp_map() -> None:
    first = (
        "WEBVTT\nKind: captions\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n\n"
        "STYLE\n::cue { color: yellow }\n\n"
        "NOTE first segment\n\n"
        "a\n00:00.500 --> 00:01.500 position:10%\nOne\n\n"
        "00:03.000 --> 00:04.000\nAcross\n"
    )
    second = (
        "\ufeffWEBVTT\r\nX-TIMESTAMP-MAP=LOCAL:00:00:04.000,MPEGTS:1260000\r\n\r\n"
        "STYLE\r\n::cue { color: red }\r\n\r\n"
        "NOTE dropped\r\n\r\n"
        "00:03.000 --> 00:04.000\r\nAcross\r\n\r\n"
        "00:04.000 --> 00:04.500\r\nSplit\r\n\r\n"
    )
    third = (
        "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:1620000,LOCAL:00:00:12.500\n\n"
        "00:09.000 --> 00:09.250\nSplit\n\n"
        "b\n01:00:08.000 --> 01:00:09.000 line:0\nLater\n<i>two lines</i>\n"
    )
    assert merge_webvtt([first, second, third]) == (
        "WEBVTT\nKind: captions\n\n"
        "STYLE\n::cue { color: yellow }\n\n"
        "NOTE first segment\n\n"
        "a\n00:00:10.500 --> 00:00:11.500 position:10%\nOne\n\n"
        "00:00:13.000 --> 00:00:14.000\nAcross\n\n"
        "00:00:14.000 --> 00:00:14.750\nSplit\n\n"
        "b\n01:00:13.500 --> 01:00:14.500 line:0\nLater\n<i>two lines</i>\n\n"
    )


def test_merge_webvtt_without_map_drops_boundary_duplicates() -> None:
    texts = [
        "WEBVTT\n\n00:00:01.000 --> 00:00:05.000\nLong cue\n",
        "WEBVTT\n\n00:00:01.000 --> 00:00:05.000\nLong cue\n\n"
        "00:00:06.000 --> 00:00:07.000\nNext\n",
    ]
    assert merge_webvtt(texts) == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:05.000\nLong cue\n\n"
        "00:00:06.000 --> 00:00:07.000\nNext\n\n"
    )


def test_merge_webvtt_keeps_cue_ids_unique() -> None:
    texts = [
        "WEBVTT\n\nc1\n00:00:01.000 --> 00:00:02.000\nA\n",
        "WEBVTT\n\nc1\n00:00:01.000 --> 00:00:02.000\nA\n\nc1\n00:00:03.000 --> 00:00:04.000\nB\n",
    ]
    assert merge_webvtt(texts) == (
        "WEBVTT\n\nc1\n00:00:01.000 --> 00:00:02.000\nA\n\n"
        "c1-2\n00:00:03.000 --> 00:00:04.000\nB\n\n"
    )


def test_merge_webvtt_rejects_non_webvtt() -> None:
    with pytest.raises(SubtitleError, match="document 2 does not start with 'WEBVTT'"):
        merge_webvtt(["WEBVTT\n", "1\n00:00:01,000 --> 00:00:02,000\nsrt\n"])


# --------------------------------------------------------------------------- convert


def test_convert_stpp(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    source.write_bytes(stpp_stream())
    out = convert(source, "stpp.ttml.im1t", "mp4", tmp_path / ".", "movie.text-de")
    assert out.name == "movie.text-de.ttml"
    assert out.read_bytes() == TTML_EXPECTED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "movie.text-de.ttml"]


def test_convert_segmented_webvtt(tmp_path: Path) -> None:
    source = tmp_path / "movie.text-en.vtt"
    source.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA\n"
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA\n\n00:00:03.000 --> 00:00:04.000\nB\n\n"
        "\ufeffWEBVTT\n\n00:00:05.000 --> 00:00:06.000\nC\n"
    )
    out = convert(source, "wvtt", "vtt", tmp_path, "movie.text-en")
    assert out == source
    assert out.read_text() == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA\n\n"
        "00:00:03.000 --> 00:00:04.000\nB\n\n00:00:05.000 --> 00:00:06.000\nC\n\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["movie.text-en.vtt"]


def test_convert_segmented_ttml(tmp_path: Path) -> None:
    source = tmp_path / "in.ttml"
    source.write_bytes(b"\n".join(ttml_segments()))
    out = convert(source, "stpp", "ttml", tmp_path, "subs")
    assert out.read_bytes() == TTML_EXPECTED


@pytest.mark.parametrize(
    ("name", "content", "ext"),
    [
        ("a.vtt", b"WEBVTT\n\n00:01.000 --> 00:02.000\nkept  as is\n", "vtt"),
        ("a.ttml", ttml_document(P_FIRST), "ttml"),
        ("a.srt", b"1\n00:00:01,000 --> 00:00:02,000\nsrt\n\n", "srt"),
    ],
)
def test_convert_copies_single_documents(
    tmp_path: Path, name: str, content: bytes, ext: str
) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    out = convert(source, None, None, tmp_path, "copy")
    assert out == tmp_path / f"copy.{ext}"
    assert out.read_bytes() == content


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b"\x00\x01\x02\xff\xfe garbage", "not a subtitle file"),
        (b"just some text\n", "not a subtitle file"),
        (b"<html><body/></html>", r"document 1 is not TTML \(root <html>\)"),
        (b"<tt><body>", "document 1 is not valid XML"),
        (init_segment(wvtt_entry())[:-20], "invalid size"),
        (media_segment(1, 0, [(1000, vttc("x"))]), "no init segment"),
    ],
)
def test_convert_garbage_is_one_line_error(tmp_path: Path, content: bytes, reason: str) -> None:
    source = tmp_path / "broken.bin"
    source.write_bytes(content)
    with pytest.raises(SubtitleError, match=reason) as caught:
        convert(source, "wvtt", "mp4", tmp_path, "out")
    message = str(caught.value)
    assert message.startswith(f"cannot convert subtitles {source} (wvtt, mp4): ")
    assert "\n" not in message
    assert isinstance(caught.value, TriosegError)
    assert caught.value.__cause__ is None
    assert [p.name for p in tmp_path.iterdir()] == ["broken.bin"]


def test_convert_unsupported_sample_entry(tmp_path: Path) -> None:
    source = tmp_path / "tx3g.mp4"
    source.write_bytes(init_segment(box(b"tx3g", bytes(6), struct.pack(">H", 1))))
    with pytest.raises(SubtitleError, match="unsupported subtitle sample entry 'tx3g'"):
        convert(source, None, None, tmp_path, "out")


def test_convert_missing_file_is_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot read"):
        convert(tmp_path / "missing.mp4", None, None, tmp_path, "out")


def test_every_truncation_is_a_clean_error() -> None:
    data = wvtt_stream()
    for end in range(0, len(data), 7):
        try:
            wvtt_to_webvtt(data[:end])
        except SubtitleError as exc:
            assert "\n" not in str(exc)


def test_merge_ttml_adds_definitions_and_renames_reused_ids() -> None:
    def document(styles: str, paragraphs: str) -> bytes:
        return (
            f'<tt xmlns="{TTML_NS}" xmlns:tts="{TTML_NS}#styling" xml:lang="en">'
            f"<head><styling>{styles}</styling></head><body><div>{paragraphs}</div></body></tt>"
        ).encode()

    first = document(
        '<style xml:id="s1" tts:color="white"/>',
        '<p xml:id="c1" style="s1" begin="1s" end="2s">A</p>',
    )
    second = document(
        '<style xml:id="s1" tts:color="red"/><style xml:id="s2" tts:color="lime"/>',
        '<p xml:id="c1" style="s1" begin="3s" end="4s">B</p>'
        '<p style="s2 s1" begin="5s" end="6s">C</p>',
    )
    third = document(
        '<style xml:id="s1" tts:color="white"/>',
        '<p xml:id="c1" style="s1" begin="1s" end="2s">A</p>',
    )
    assert merge_ttml([first, second, third]).decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<tt xmlns="{TTML_NS}" xmlns:tts="{TTML_NS}#styling" xml:lang="en"><head><styling>'
        '<style xml:id="s1" tts:color="white"/><style xml:id="s1.1" tts:color="red"/>'
        '<style xml:id="s2" tts:color="lime"/></styling></head><body><div>'
        '<p xml:id="c1" style="s1" begin="1s" end="2s">A</p>'
        '<p xml:id="c1.1" style="s1.1" begin="3s" end="4s">B</p>'
        '<p style="s2 s1.1" begin="5s" end="6s">C</p>'
        "</div></body></tt>\n"
    )


# --------------------------------------------------------------------------- shaka-packager

DATA = Path(__file__).parent / "data" / "subtitles"

SHAKA_VTT = (
    "WEBVTT\n\n"
    "1\n00:00:01.000 --> 00:00:02.500 line:90% align:start\nHello <b>world</b>\n\n"
    "00:00:03.000 --> 00:00:06.000 align:center\nSpanning\ntwo lines\n\n"
    "00:00:05.500 --> 00:00:08.000 align:center\nOverlap\n\n"
    "00:00:09.000 --> 00:00:13.000 align:center\nLong one across\nthree segments\n\n"
)


def test_shaka_packager_wvtt(tmp_path: Path) -> None:
    out = convert(DATA / "shaka-wvtt.mp4", "wvtt", "mp4", tmp_path, "en")
    assert out.read_text() == SHAKA_VTT


def test_shaka_packager_segmented_webvtt(tmp_path: Path) -> None:
    # shaka-packager writes X-TIMESTAMP-MAP=LOCAL:00:00:00.000,MPEGTS:9000 (its 100 ms
    # MPEG-TS offset): applied, cues move by 0.1 s; ignored, they match the wvtt track
    source = DATA / "shaka-segments.vtt"
    ignored = convert(source, None, "vtt", tmp_path, "ignored", timestamp_map=False)
    assert ignored.read_text() == SHAKA_VTT
    applied = convert(source, None, "vtt", tmp_path, "applied").read_text()
    assert applied.splitlines()[3] == "00:00:01.100 --> 00:00:02.600 line:90% align:start"


def _paragraphs(ttml: bytes) -> list[tuple[str | None, str | None, str]]:
    root = ElementTree.fromstring(ttml)
    return [
        (p.get("begin"), p.get("end"), "".join(p.itertext())) for p in root.iter(f"{{{TTML_NS}}}p")
    ]


@pytest.mark.parametrize("name", ["shaka-stpp.mp4", "shaka-segments.ttml"])
def test_shaka_packager_ttml(tmp_path: Path, name: str) -> None:
    out = convert(DATA / name, "stpp", None, tmp_path, "en")
    assert out.suffix == ".ttml"
    assert _paragraphs(out.read_bytes()) == [
        ("00:00:01.000", "00:00:02.500", "Hello <b>world</b>"),
        ("00:00:03.000", "00:00:06.000", "Spanningtwo lines"),
        ("00:00:05.500", "00:00:08.000", "Overlap"),
        ("00:00:09.000", "00:00:13.000", "Long one acrossthree segments"),
    ]
