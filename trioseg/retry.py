"""Retry policy: which failures to retry and how long to wait (pure).

Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff
And Jitter"): the n-th retry waits ``uniform(0, min(cap, base * 2**n))`` seconds, unless
the origin said how long with ``Retry-After``, which is honoured as given (up to
``max_retry_after``).
"""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime

import attrs

from .errors import FetchError, HTTPStatusError

__all__ = ["RetryPolicy", "parse_retry_after"]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date.

    Returns None when absent or unparseable; a date in the past gives 0.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


@attrs.frozen
class RetryPolicy:
    """How many times a request is retried and how long each wait is."""

    retries: int = 10
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 600.0

    def should_retry(self, error: FetchError, attempt: int) -> bool:
        """``attempt`` is the number of tries made so far (1 after the first failure)."""
        return error.transient and attempt <= self.retries

    def delay(self, error: FetchError, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before try number ``attempt + 1``."""
        if isinstance(error, HTTPStatusError) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        return rng.uniform(0.0, ceiling)
