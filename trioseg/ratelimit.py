"""One token bucket for the whole run (``--limit-rate``).

Consumers take what they received and then wait off any deficit, so the long-run
average never exceeds ``rate`` whatever the concurrency, while bursts up to ``burst``
bytes pass without delay.  Time is trio's clock: tests run it in virtual time.
"""

from __future__ import annotations

import re

import attrs
import trio

from .errors import UsageError

__all__ = ["TokenBucket", "parse_rate"]

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(i?b)?(?:/s)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_rate(text: str) -> float:
    """Bytes per second from ``800K``, ``2.5M``, ``1MiB``, ``500000`` (K = 1024)."""
    match = _RATE.match(text)
    if not match or float(match[1]) <= 0:
        raise UsageError(f"malformed rate {text!r} (expected e.g. 500K, 2.5M or 1000000)")
    return float(match[1]) * _UNITS[match[2].lower()]


@attrs.define
class TokenBucket:
    rate: float
    burst: float
    tokens: float = 0.0
    updated: float | None = None

    @classmethod
    def per_second(cls, rate: float) -> TokenBucket:
        """A bucket allowing ``rate`` bytes/s with a burst of a tenth of a second."""
        burst = max(rate / 10, 16 * 1024)
        return cls(rate, burst, tokens=burst)

    async def consume(self, nbytes: int) -> None:
        now = trio.current_time()
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= nbytes
        if self.tokens < 0:
            await trio.sleep(-self.tokens / self.rate)
