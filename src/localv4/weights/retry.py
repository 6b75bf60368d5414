"""How hard a pull tries: bounded retries with exponential backoff, and what counts as a stall.

The defaults suit a real hub (30 s without a byte is a stall); LOCALV4_PULL_STALL_S and
LOCALV4_PULL_BACKOFF_S shorten them for tests and for impatient mirrors.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from localv4 import env

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class Transient(Exception):
    """A failure worth another try: a dropped connection, a stall, a 429 or a 5xx."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # tries in a row without a new byte before a file fails
    metadata_attempts: int = 4  # tries for the hub listing before "cannot reach the hub"
    verify_attempts: int = 3  # full fetches of one file whose hash keeps failing
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    stall_s: float = 30.0
    connect_s: float = 15.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        return cls(stall_s=env.seconds(env.PULL_STALL_S, cls.stall_s),
                   backoff_s=env.seconds(env.PULL_BACKOFF_S, cls.backoff_s))

    def wait_s(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before try `attempt + 1`: what the server asked for, else exponential with jitter."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff_s)
        return min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s) * random.uniform(0.8, 1.2)


def parse_retry_after(value: str | None) -> float | None:
    """The seconds form of Retry-After (the hub sends seconds); anything else is ignored."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def sleep_unless(cancelled: threading.Event, seconds: float) -> None:
    """Back off, but wake at once when the pull is being stopped."""
    cancelled.wait(seconds)
