"""Wait until Open WebUI answers on /health, failing early when its process or container dies.

A first start runs database migrations and can take minutes, so the wait is long; a crash must
not make the user sit through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from localv4.errors import RuntimeFailure

READY_TIMEOUT_S = 600.0
POLL_S = 0.5


def answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until_answers(
    url: str,
    failure: Callable[[], str | None],
    logs: str,
    timeout_s: float = READY_TIMEOUT_S,
) -> None:
    """Return once `url` answers; raise with `failure()`'s reason as soon as it reports one.

    `logs` says where to look when it neither answers nor fails in time.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if answers(url):
            return
        reason = failure()
        if reason:
            raise RuntimeFailure(reason)
        if time.monotonic() > deadline:
            raise RuntimeFailure(f"Open WebUI did not answer at {url} within {timeout_s:.0f} s; see {logs}.")
        time.sleep(POLL_S)
