import random
from datetime import UTC, datetime

import pytest

from trioseg.errors import FetchTimeout, HTTPStatusError, TransportError, TruncatedBody
from trioseg.retry import RetryPolicy, parse_retry_after

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Fri, 02 Jan 2026 03:04:15 GMT", 10.0),
        ("Fri, 02 Jan 2026 03:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    policy = RetryPolicy(retries=3)
    error = HTTPStatusError(status, "http://x/")
    assert policy.should_retry(error, 1)
    assert policy.should_retry(error, 3)
    assert not policy.should_retry(error, 4)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 416])
def test_other_4xx_are_permanent(status: int) -> None:
    assert not RetryPolicy().should_retry(HTTPStatusError(status, "http://x/"), 1)


@pytest.mark.parametrize(
    "error", [TransportError("reset"), FetchTimeout("stalled"), TruncatedBody(10, 20)]
)
def test_transport_errors_are_transient(error: Exception) -> None:
    assert RetryPolicy().should_retry(error, 1)  # type: ignore[arg-type]


def test_zero_retries_never_retries() -> None:
    assert not RetryPolicy(retries=0).should_retry(TransportError("x"), 1)


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    policy = RetryPolicy(base=0.5, cap=8.0)
    rng = random.Random(4)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        delays = [policy.delay(TransportError("x"), attempt, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # jitter spreads over the whole range rather than clustering at the ceiling
        assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9


def test_retry_after_is_honoured_exactly_and_capped() -> None:
    policy = RetryPolicy(max_retry_after=60.0)
    rng = random.Random(0)
    assert policy.delay(HTTPStatusError(429, "u", retry_after=3.0), 1, rng) == 3.0
    assert policy.delay(HTTPStatusError(503, "u", retry_after=3600.0), 1, rng) == 60.0
