"""trioseg: a concurrent, resumable MPEG-DASH downloader."""

from __future__ import annotations

__version__ = "0.1.0"
