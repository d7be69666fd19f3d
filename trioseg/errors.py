"""trioseg's exceptions: one tree, each user-facing failure one line of text.

::

    TriosegError
     ├── UsageError ............... bad command line or option value      (exit 2)
     ├── ManifestError ............ the MPD cannot be read or used        (exit 2)
     │    ├── ManifestFetchError .. the MPD could not be downloaded
     │    ├── ManifestParseError .. malformed XML, missing/invalid attribute
     │    ├── UnsupportedManifest . a feature trioseg does not handle
     │    └── LimitExceeded ....... a configured safety limit was hit
     ├── FetchError ............... one request failed (carried in reports)
     │    ├── HTTPStatusError ..... the origin answered with an error status
     │    ├── TransportError ...... connect/read/write failure, reset
     │    ├── FetchTimeout ........ nothing received for --timeout seconds
     │    └── TruncatedBody ....... fewer bytes than Content-Length
     ├── StoreError ............... the output could not be written       (exit 1)
     └── MuxError ................. the streams could not be muxed        (exit 1)

``str(exc)`` is always the one line shown to the user.
"""

from __future__ import annotations

__all__ = [
    "FetchError",
    "FetchTimeout",
    "HTTPStatusError",
    "LimitExceeded",
    "ManifestError",
    "ManifestFetchError",
    "ManifestParseError",
    "MuxError",
    "StoreError",
    "TransportError",
    "TriosegError",
    "TruncatedBody",
    "UnsupportedManifest",
    "UsageError",
]


class TriosegError(Exception):
    """Root of every error trioseg raises on purpose."""

    exit_code: int = 1


class UsageError(TriosegError):
    exit_code = 2


class ManifestError(TriosegError):
    exit_code = 2


class ManifestFetchError(ManifestError):
    pass


class ManifestParseError(ManifestError):
    pass


class UnsupportedManifest(ManifestError):
    pass


class LimitExceeded(ManifestError):
    pass


class FetchError(TriosegError):
    """A single request failed.  ``transient`` says whether retrying may help."""

    transient: bool = True


class HTTPStatusError(FetchError):
    def __init__(self, status: int, url: str, retry_after: float | None = None) -> None:
        self.status = status
        self.url = url
        self.retry_after = retry_after
        self.transient = status in TRANSIENT_STATUSES
        super().__init__(f"HTTP {status}")


TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class TransportError(FetchError):
    pass


class FetchTimeout(FetchError):
    pass


class TruncatedBody(FetchError):
    def __init__(self, received: int, expected: int) -> None:
        self.received = received
        self.expected = expected
        super().__init__(f"truncated body: {received} of {expected} bytes")


class StoreError(TriosegError):
    pass


class MuxError(TriosegError):
    pass
