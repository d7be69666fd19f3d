"""Per-host state: failover between BaseURL alternatives and adaptive concurrency.

Each host has its own :class:`trio.CapacityLimiter`, inside the run's global one.

- On 429 or 503 the host's limit is halved (never below 1) and, if the origin sent
  ``Retry-After``, no new request goes to that host until then.
- After ``2 × limit`` successes in a row the limit grows by one, up to ``-N``
  (additive increase, multiplicative decrease, as TCP does).
- A host that failed ``AVOID_AFTER`` times in a row is avoided for ``AVOID_FOR``
  seconds: segments with another alternative use it instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs
import trio

from .errors import FetchError, HTTPStatusError
from .events import Event, HostLimit
from .progress import host_of

__all__ = ["AVOID_AFTER", "AVOID_FOR", "Host", "Hosts", "host_of", "take"]

AVOID_AFTER = 3
AVOID_FOR = 30.0
THROTTLE_STATUSES = frozenset({429, 503})


async def take(limiter: trio.CapacityLimiter, borrower: object) -> bool:
    """Take a token of ``limiter`` for ``borrower``, waiting only when none is free;
    True when it had to wait.

    A free token is taken without a pass through trio's scheduler (``acquire`` always
    makes one): the request that follows has checkpoints enough of its own, and on many
    small segments every pass counts.  Waiters keep their turn: a token is free only
    when nobody waits for one.
    """
    try:
        limiter.acquire_on_behalf_of_nowait(borrower)
    except trio.WouldBlock:
        await limiter.acquire_on_behalf_of(borrower)
        return True
    return False


@attrs.define(eq=False)
class Host:
    name: str
    limit: int
    max_limit: int
    limiter: trio.CapacityLimiter
    successes: int = 0
    failures: int = 0
    avoid_until: float = -float("inf")
    blocked_until: float = -float("inf")

    def avoided(self, now: float) -> bool:
        return now < self.avoid_until

    async def wait_unblocked(self) -> None:
        """Sleep until the host's ``Retry-After`` has passed."""
        # the deadline may move later while we sleep (another 429): check again
        while trio.current_time() < self.blocked_until:  # noqa: ASYNC110
            await trio.sleep_until(self.blocked_until)


@attrs.define
class Hosts:
    max_limit: int
    #: who hears about limit changes: every job using these hosts
    listeners: list[Callable[[Event], None]] = attrs.Factory(list)
    #: per-host caps from the configuration, by host name (without port) or host:port
    caps: Mapping[str, int] = attrs.Factory(dict)
    hosts: dict[str, Host] = attrs.Factory(dict)

    def get(self, url: str) -> Host:
        name = host_of(url)
        host = self.hosts.get(name)
        if host is None:
            cap = self.caps.get(name.lower()) or self.caps.get(name.lower().rsplit(":", 1)[0])
            top = min(self.max_limit, cap) if cap else self.max_limit
            host = Host(name, top, top, trio.CapacityLimiter(top))
            self.hosts[name] = host
        return host

    def choose(self, urls: tuple[str, ...], tries: int) -> str:
        """The URL for try number ``tries``: rotate through the alternatives after each
        failure, skipping hosts being avoided while another alternative is usable."""
        now = trio.current_time()
        n = len(urls)
        start = (tries - 1) % n
        for k in range(n):
            url = urls[(start + k) % n]
            if not self.get(url).avoided(now):
                return url
        return urls[start]

    def emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    def _set_limit(self, host: Host, limit: int, reason: str) -> None:
        if limit == host.limit:
            return
        host.limit = limit
        host.limiter.total_tokens = limit
        self.emit(HostLimit(host.name, limit, reason, trio.current_time()))

    def succeeded(self, host: Host) -> None:
        host.failures = 0
        host.successes += 1
        if host.limit < host.max_limit and host.successes >= 2 * host.limit:
            host.successes = 0
            self._set_limit(host, host.limit + 1, "recovering")

    def failed(self, host: Host, error: FetchError) -> None:
        now = trio.current_time()
        host.successes = 0
        host.failures += 1
        if isinstance(error, HTTPStatusError) and error.status in THROTTLE_STATUSES:
            self._set_limit(host, max(1, host.limit // 2), f"HTTP {error.status}")
            if error.retry_after is not None:
                host.blocked_until = max(host.blocked_until, now + error.retry_after)
        if host.failures >= AVOID_AFTER and not host.avoided(now):
            host.avoid_until = now + AVOID_FOR
            self.emit(HostLimit(host.name, host.limit, "avoided after repeated failures", now))
