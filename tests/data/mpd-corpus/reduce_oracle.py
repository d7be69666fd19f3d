"""Rebuild this directory from the shared corpus: python reduce_oracle.py PATH/TO/mpd-corpus.

Copies every MPD (unmodified) and PROVENANCE.tsv, and reduces each yt-dlp oracle of a static
manifest it could plan to what tests/test_select.py compares: per format its id, type,
Periods and ordered download URLs (front-coded: an entry ``[n, "tail"]`` is the previous
URL's first ``n`` characters followed by ``tail``).  The oracle's byte_ranges are null
throughout and are not kept.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).parent


def front_code(urls: list[str]) -> list[str | list[int | str]]:
    out: list[str | list[int | str]] = []
    previous = ""
    for url in urls:
        n = 0
        limit = min(len(url), len(previous))
        while n < limit and url[n] == previous[n]:
            n += 1
        out.append([n, url[n:]] if n >= 8 else url)
        previous = url
    return out


def main(corpus: Path) -> None:
    shutil.rmtree(HERE / "mpd", ignore_errors=True)
    shutil.copytree(corpus / "mpd", HERE / "mpd")
    shutil.copy(corpus / "PROVENANCE.tsv", HERE / "PROVENANCE.tsv")
    provenance = {
        line.split("\t", 1)[0]: line
        for line in (corpus / "PROVENANCE.tsv").read_text().splitlines()[1:]
    }
    lines = []
    for path in sorted((corpus / "oracle").rglob("*.json")):
        oracle = json.loads(path.read_text())
        if oracle.get("status") != "ok" or oracle.get("mpd_type") != "static":
            continue
        reduced = {
            "file": oracle["file"],
            "provenance": provenance[oracle["file"]],
            "manifest_url": oracle["manifest_url"],
            "yt_dlp_version": oracle["yt_dlp_version"],
            "limits": sorted(oracle.get("yt_dlp_known_limits") or {}),
            "formats": [
                {
                    "id": f["format_id"],
                    "type": f["type"],
                    "bandwidth": f["bandwidth"],
                    "periods": f["periods"],
                    "urls": front_code(f["download_urls"]),
                }
                for f in oracle["formats"]
            ],
        }
        lines.append(json.dumps(reduced, separators=(",", ":")))
    (HERE / "oracle.jsonl").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
