"""trioseg: a concurrent, resumable MPEG-DASH downloader on trio and httpx.

The public API, for programs that embed the engine rather than run the command line::

    manifest = trioseg.parse_mpd(data, url)
    plan = trioseg.select(manifest, "video[height<=720]+audio")
    async with trioseg.open_fetcher(concurrency=16) as fetcher:
        outcome = await trioseg.run_job(plan, trioseg.JobConfig(output=path), fetcher, emit)

``emit`` receives the :mod:`trioseg.events`; :class:`trioseg.Progress` folds them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .engine import JobConfig, JobControl, JobOutcome, Session, run_job
from .errors import (
    FetchError,
    ManifestError,
    MuxError,
    StoreError,
    TriosegError,
    UsageError,
)
from .fetch import Fetcher, NetworkOptions, open_fetcher
from .formats import list_formats, parse_format_spec, select
from .mpd import Manifest, ManifestLimits, parse_mpd
from .plan import ByteRange, Plan, SegmentRef, StreamPlan
from .progress import Progress
from .retry import RetryPolicy
from .select import select_default

__all__ = [
    "ByteRange",
    "FetchError",
    "Fetcher",
    "JobConfig",
    "JobControl",
    "JobOutcome",
    "Manifest",
    "ManifestError",
    "ManifestLimits",
    "MuxError",
    "NetworkOptions",
    "Plan",
    "Progress",
    "RetryPolicy",
    "SegmentRef",
    "Session",
    "StoreError",
    "StreamPlan",
    "TriosegError",
    "UsageError",
    "__version__",
    "list_formats",
    "open_fetcher",
    "parse_format_spec",
    "parse_mpd",
    "run_job",
    "select",
    "select_default",
]
