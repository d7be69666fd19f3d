"""The live test origin: its MPDs, its media availability, and both adapters."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import httpx
import pytest
import trio
from live_helpers import T0, URL, Clock, make_live
from live_helpers import content as content  # the module-scoped fixture

from trioseg.live import LiveView, live_view, parse_utc_response
from trioseg.liveorigin import LivePresentation, iso_time, trio_clock
from trioseg.media import DashContent
from trioseg.mpd import parse_mpd

NS = {"m": "urn:mpeg:dash:schema:mpd:2011"}


def get(live: LivePresentation, clock: Clock, t: float, path: str, method: str = "GET") -> int:
    clock.t = T0 + t
    return live.respond(method, path)[0]


def mpd_at(live: LivePresentation, clock: Clock, t: float) -> ET.Element:
    clock.t = T0 + t
    status, headers, body = live.respond("GET", "/manifest.mpd")
    assert status == 200 and ("Content-Type", "application/dash+xml") in headers
    return ET.fromstring(body)


# -- the manifest -----------------------------------------------------------------------------


def test_the_dynamic_manifest(content: DashContent) -> None:
    live, clock = make_live(content, tsbd=12.5, minimum_update_period=3.0)
    root = mpd_at(live, clock, 7.25)
    assert root.attrib["type"] == "dynamic"
    assert root.attrib["availabilityStartTime"] == "2027-01-15T08:00:00.000Z"
    assert root.attrib["publishTime"] == "2027-01-15T08:00:07.250Z"
    assert root.attrib["minimumUpdatePeriod"] == "PT3S"
    assert root.attrib["timeShiftBufferDepth"] == "PT12.5S"
    assert root.attrib["suggestedPresentationDelay"] == "PT2S"
    timing = root.find("m:UTCTiming", NS)
    assert timing is not None and timing.attrib == {
        "schemeIdUri": "urn:mpeg:dash:utc:http-iso:2014",
        "value": "/time",
    }
    assert root.find("m:Location", NS) is None
    periods = root.findall("m:Period", NS)
    assert [p.attrib for p in periods] == [{"id": "p0", "start": "PT0S"}]
    template = periods[0].find("m:AdaptationSet/m:Representation/m:SegmentTemplate", NS)
    assert template is not None
    assert template.attrib["media"] == "$RepresentationID$/$Number$.m4s"
    assert template.attrib["duration"] == "1000" and template.attrib["timescale"] == "1000"
    ids = [a.attrib["id"] for a in periods[0].findall("m:AdaptationSet", NS)]
    assert ids == ["0", "1"]


def test_the_timeline_manifest_lists_what_is_available(content: DashContent) -> None:
    live, clock = make_live(content, addressing="timeline", tsbd=4.0)
    template = mpd_at(live, clock, 10.5).find(".//m:SegmentTemplate", NS)
    assert template is not None and template.attrib["startNumber"] == "6"
    assert [s.attrib for s in template.findall("m:SegmentTimeline/m:S", NS)] == [
        {"t": "5000", "d": "1000", "r": "4"}
    ]
    early = mpd_at(live, clock, 0.5).find(".//m:SegmentTimeline", NS)
    assert early is not None and list(early) == []


def test_location_is_announced_and_served(content: DashContent) -> None:
    live, clock = make_live(content, location="http://live.test/v2/live.mpd")
    root = mpd_at(live, clock, 3.0)
    assert root.findtext("m:Location", namespaces=NS) == "http://live.test/v2/live.mpd"
    assert get(live, clock, 3.0, "/v2/live.mpd") == 200
    m = parse_mpd(live.respond("GET", "/v2/live.mpd")[2], "http://live.test/v2/live.mpd")
    segment = live_view(m, None, T0 + 3.0).tracks[0].segments[-1]
    assert segment.ref.url == "http://live.test/live/p0/0/3.m4s"


def test_a_period_change(content: DashContent) -> None:
    live, clock = make_live(content, tsbd=5.0, period_change_at=T0 + 20)
    before = mpd_at(live, clock, 19.999).findall("m:Period", NS)
    assert [p.attrib for p in before] == [{"id": "p0", "start": "PT0S"}]
    after = mpd_at(live, clock, 20.0).findall("m:Period", NS)
    assert [p.attrib for p in after] == [
        {"id": "p0", "start": "PT0S", "duration": "PT20S"},
        {"id": "p1", "start": "PT20S"},
    ]
    assert [p.findtext("m:BaseURL", namespaces=NS) for p in after] == ["/live/p0/", "/live/p1/"]
    for period in after:
        assert [a.attrib["id"] for a in period.findall("m:AdaptationSet", NS)] == ["0", "1"]
    assert get(live, clock, 21.0, "/live/p1/0/1.m4s") == 200
    assert get(live, clock, 21.0, "/live/p0/0/21.m4s") == 404
    gone = mpd_at(live, clock, 26.0).findall("m:Period", NS)
    assert [p.attrib["id"] for p in gone] == ["p1"]
    with pytest.raises(ValueError, match="whole number of segments"):
        LivePresentation(content, availability_start=T0, clock=time.time, period_change_at=T0 + 2.5)


def test_the_end_turns_the_manifest_static(content: DashContent) -> None:
    live, clock = make_live(content, addressing="timeline", end_at=T0 + 12)
    assert mpd_at(live, clock, 11.999).attrib["type"] == "dynamic"
    root = mpd_at(live, clock, 12.0)
    assert root.attrib["type"] == "static"
    assert root.attrib["mediaPresentationDuration"] == "PT12S"
    assert "minimumUpdatePeriod" not in root.attrib
    assert [s.attrib for s in root.findall(".//m:SegmentTimeline", NS)[0]] == [
        {"t": "0", "d": "1000", "r": "11"}
    ]
    assert get(live, clock, 13.0, "/live/p0/0/t11000.m4s") == 200
    assert get(live, clock, 13.0, "/live/p0/0/t12000.m4s") == 404


# -- media ------------------------------------------------------------------------------------


def test_media_availability(content: DashContent) -> None:
    live, clock = make_live(content, tsbd=5.0, late={4: 2.0})
    assert get(live, clock, 2.999, "/live/p0/0/3.m4s") == 404
    assert get(live, clock, 3.0, "/live/p0/0/3.m4s") == 200
    assert live.respond("GET", "/live/p0/0/3.m4s")[2] == live.file_for("0", 3)
    assert live.file_for("0", 7) == content.representation("0").segments[2].read_bytes()
    assert get(live, clock, 8.999, "/live/p0/0/3.m4s") == 200
    assert get(live, clock, 9.0, "/live/p0/0/3.m4s") == 404
    assert [get(live, clock, t, "/live/p0/1/4.m4s") for t in (4.0, 5.999, 6.0)] == [404, 404, 200]
    assert get(live, clock, 0.0, "/live/p0/1/init.mp4") == 200
    assert live.respond("GET", "/live/p0/1/init.mp4")[2] == live.init_for("1")
    for bad in ("/live/p9/0/1.m4s", "/live/p0/9/1.m4s", "/live/p0/0/x.m4s", "/nothing", "/live"):
        assert get(live, clock, 30.0, bad) == 404
    assert get(live, clock, 30.0, "/manifest.mpd", method="POST") == 405
    clock.t = T0 + 30.0
    status, headers, body = live.respond("HEAD", "/live/p0/0/28.m4s")
    assert status == 200 and body == b""
    assert ("Content-Length", str(len(live.file_for("0", 28)))) in headers
    assert ("Date", "Fri, 15 Jan 2027 08:00:30 GMT") in headers
    assert live.requests[-1].method == "HEAD" and live.requests[-1].time == T0 + 30.0
    assert live.statuses("/live/p0/1/4.m4s") == [
        (T0 + 4.0, 404),
        (T0 + 5.999, 404),
        (T0 + 6.0, 200),
    ]


def test_the_time_source(content: DashContent) -> None:
    live, clock = make_live(content)
    clock.t = T0 + 61.0129
    status, _, body = live.respond("GET", "/time")
    assert status == 200 and body == b"2027-01-15T08:01:01.013Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body.decode())
    assert parse_utc_response("urn:mpeg:dash:utc:http-iso:2014", body.decode()) == T0 + 61.013
    assert iso_time(T0) == "2027-01-15T08:00:00.000Z"


# -- adapters ---------------------------------------------------------------------------------


@pytest.mark.trio
async def test_a_recording_in_virtual_time(content: DashContent, autojump_clock: object) -> None:
    """A minimal client: edge start, refresh loop, retries on 404, until the MPD is static."""
    live = LivePresentation(
        content,
        availability_start=T0,
        clock=trio_clock(T0),
        tsbd=10.0,
        late={7: 1.5},
        period_change_at=T0 + 10,
        end_at=T0 + 16,
    )
    got: dict[str, dict[str, bytes]] = {}
    async with httpx.AsyncClient(transport=httpx.MockTransport(live.handler())) as client:
        await trio.sleep(5.5)
        previous: LiveView | None = None
        start: float | None = None
        while True:
            response = await client.get(URL)
            view = live_view(
                parse_mpd(response.content, URL),
                None,
                T0 + trio.current_time(),
                previous=previous,
                since=start,
                edge=previous is None,
            )
            if start is None:
                start = view.edge_start
            for track in view.tracks:
                done = got.setdefault(track.id, {})
                for segment in track.segments:
                    if segment.ident in done:
                        continue
                    await trio.sleep_until(max(segment.available_at - T0, trio.current_time()))
                    while (reply := await client.get(segment.ref.url)).status_code == 404:
                        await trio.sleep(0.5)
                    done[segment.ident] = reply.content
            if view.static:
                break
            previous = view
            assert view.next_refresh is not None
            await trio.sleep_until(max(view.next_refresh - T0, trio.current_time()))
    assert start == T0 + 4
    expected = [f"p0:{k}" for k in range(5, 11)] + [f"p1:{k}" for k in range(1, 7)]
    for rep_id, segments in got.items():
        assert list(segments) == expected
        for ident, data in segments.items():
            assert data == live.file_for(rep_id, int(ident.split(":")[1]))
    assert live.statuses("/live/p0/0/7.m4s") == [
        (T0 + 7.5, 404),
        (T0 + 8.0, 404),
        (T0 + 8.5, 200),
    ]
    assert all(r.status == 200 for r in live.requests if r.path == "/manifest.mpd")


@pytest.mark.trio
async def test_served_over_real_http(content: DashContent) -> None:
    live = LivePresentation(content, availability_start=time.time() - 10.2, clock=time.time)
    origin = live.origin()
    async with trio.open_nursery() as nursery:
        base = await nursery.start(origin.serve)
        async with httpx.AsyncClient() as client:
            manifest_url = base + "manifest.mpd"
            manifest = parse_mpd((await client.get(manifest_url)).content, manifest_url)
            view = live_view(manifest, None, time.time(), edge=True)
            source = view.utc_timing[0]
            assert source.value == base + "time"
            answer = await client.get(source.value)
            server = parse_utc_response(source.scheme, answer.text)
            assert abs(server - time.time()) < 2
            video = view.tracks[0]
            segment = video.segments[-1]
            media = await client.get(segment.ref.url)
            assert media.status_code == 200
            assert media.content == live.file_for("0", segment.number)
            assert video.init is not None
            assert (await client.get(video.init.url)).content == live.init_for("0")
            head = await client.head(segment.ref.url)
            assert head.headers["content-length"] == str(len(media.content))
            future = segment.ref.url.replace(f"/{segment.number}.m4s", f"/{segment.number + 5}.m4s")
            assert (await client.get(future)).status_code == 404
        nursery.cancel_scope.cancel()
    assert [r.status for r in origin.requests] == [200, 200, 200, 200, 200, 404]
    assert [r.path for r in live.requests][:2] == ["/manifest.mpd", "/time"]
