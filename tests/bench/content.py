"""Benchmark content: one real PyAV-made presentation and synthetic many-segment variants.

Synthetic presentations are a single video Representation addressed by a
``SegmentTemplate`` with ``$Number$``; every MPD of one family shares the same pool of
segment files, so 100 or 20,000 segments cost one set of files on disk. Their bytes are
random: what is measured is fetching and storing, not muxing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import attrs

SMALL_SIZES = (10_000, 30_000)
LARGE_SIZES = (5_000_000, 10_000_000)
INIT_SIZE = 800
SEGMENT_SECONDS = 2
REAL_SECONDS = 60.0


@attrs.frozen
class Presentation:
    """An MPD under the served root and the files a downloader must fetch, in order."""

    name: str
    manifest: str
    files: tuple[str, ...]
    total_bytes: int
    real: bool = False

    @property
    def requests(self) -> int:
        return len(self.files)


def _mpd(name: str, pool: str, segments: int, bandwidth: int) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" minBufferTime="PT2S"
     profiles="urn:mpeg:dash:profile:isoff-live:2011"
     mediaPresentationDuration="PT{segments * SEGMENT_SECONDS}S">
  <ProgramInformation><Title>{name}</Title></ProgramInformation>
  <Period id="0" start="PT0S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true">
      <Representation id="v" codecs="avc1.64001f" bandwidth="{bandwidth}"
                      width="1280" height="720" frameRate="25">
        <SegmentTemplate timescale="1000" duration="{SEGMENT_SECONDS * 1000}" startNumber="1"
                         initialization="{pool}/init.mp4" media="{pool}/seg-$Number$.m4s"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""


class ContentCache:
    """Generated content under ``root`` (kept between runs; ``root`` is ignored by git)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.site = root / "site"
        self.site.mkdir(parents=True, exist_ok=True)
        ignore = root / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")

    def _sizes(self, pool: str) -> list[int]:
        path = self.site / pool / "sizes.json"
        return json.loads(path.read_text()) if path.exists() else []

    def _grow_pool(self, pool: str, count: int, sizes: tuple[int, int], seed: int) -> list[int]:
        """Make sure ``pool`` holds at least ``count`` segments; their sizes, in order."""
        folder = self.site / pool
        folder.mkdir(exist_ok=True)
        have = self._sizes(pool)
        if len(have) >= count:
            return have[:count]
        if not (folder / "init.mp4").exists():
            (folder / "init.mp4").write_bytes(os.urandom(INIT_SIZE))
        rng = random.Random(f"{seed}:{len(have)}")
        noise = os.urandom(sizes[1] + (1 << 16))
        for number in range(len(have) + 1, count + 1):
            size = rng.randint(*sizes)
            offset = rng.randrange(0, len(noise) - size)
            (folder / f"seg-{number}.m4s").write_bytes(noise[offset : offset + size])
            have.append(size)
        (folder / "sizes.json").write_text(json.dumps(have))
        return have

    def synthetic(self, family: str, segments: int) -> Presentation:
        """``family`` is ``small`` (10–30 KB segments) or ``large`` (5–10 MB)."""
        if family == "small":
            sizes = self._grow_pool("small", segments, SMALL_SIZES, 1)
            bandwidth = 80_000
        elif family == "large":
            sizes = self._grow_pool("large", segments, LARGE_SIZES, 2)
            bandwidth = 30_000_000
        else:
            raise ValueError(family)
        name = f"{family}-{segments}"
        manifest = f"{name}.mpd"
        mpd = self.site / manifest
        text = _mpd(name, family, segments, bandwidth)
        if not mpd.exists() or mpd.read_text() != text:
            mpd.write_text(text)
        files = (f"{family}/init.mp4", *(f"{family}/seg-{n}.m4s" for n in range(1, segments + 1)))
        return Presentation(name, manifest, files, INIT_SIZE + sum(sizes))

    def real(self) -> Presentation:
        """A real 60 s presentation (640x360 H.264 + AAC, 1 s segments) made with PyAV."""
        folder = self.site / "real"
        index = folder / "files.json"
        if not index.exists():
            from trioseg.media import make_dash

            shutil.rmtree(folder, ignore_errors=True)
            content = make_dash(
                folder,
                duration=REAL_SECONDS,
                segment_duration=1.0,
                video=((640, 360, 1_000_000),),
                audio=True,
            )
            files = [
                path.relative_to(self.site).as_posix()
                for rep in content.representations
                for path in rep.files
            ]
            index.write_text(json.dumps(files))
        files = json.loads(index.read_text())
        total = sum((self.site / f).stat().st_size for f in files)
        return Presentation("real-60s", "real/manifest.mpd", tuple(files), total, real=True)
