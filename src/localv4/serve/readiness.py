"""Is the engine ready? Alive, its health endpoint says so, and it really generates a token.

The last check matters: mlx_lm.server answers /health while its generation thread is dead
(mlx-lm#1672), and llama-cpp-python's server has no health endpoint at all.
The checks use the standard library's http.client: it costs nothing to import, so `up` takes no
CPU from an engine that is loading (httpx would pull in trio and take a few hundred ms).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from localv4.errors import RuntimeFailure

POLL_S = 0.1
HEALTH_TIMEOUT_S = 2.0
FIRST_TOKEN_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Probe:
    """What readiness asks: the health route, then a one-token completion of the served model."""

    base_url: str  # http://127.0.0.1:8484
    health_path: str
    model_id: str
    api_key: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


class EngineExited(RuntimeFailure):
    """The engine process ended before it was ready."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(f"the engine exited with code {exit_code} while loading")
        self.exit_code = exit_code


def _request(endpoint: Probe, method: str, path: str, timeout: float,
             body: dict | None = None) -> tuple[int, bytes] | None:
    """(status, body) of one request, or None when the engine does not answer."""
    url = urlsplit(endpoint.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    headers = dict(endpoint.headers)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def healthy(endpoint: Probe) -> bool:
    answer = _request(endpoint, "GET", endpoint.health_path, HEALTH_TIMEOUT_S)
    return answer is not None and answer[0] == 200


def generates(endpoint: Probe) -> bool:
    """One chat completion of one token, the way a client asks."""
    body = {"model": endpoint.model_id, "max_tokens": 1,
            "messages": [{"role": "user", "content": "Hi"}]}
    answer = _request(endpoint, "POST", "/v1/chat/completions", FIRST_TOKEN_TIMEOUT_S, body)
    if answer is None or answer[0] != 200:
        return False
    try:
        return bool(json.loads(answer[1]).get("choices"))
    except (ValueError, AttributeError):
        return False


def wait_ready(
    process: subprocess.Popen,
    endpoint: Probe,
    on_wait: Callable[[], None],
    timeout: float,
) -> None:
    """Return once the engine serves; raise EngineExited if it dies, RuntimeFailure on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        code = process.poll()
        if code is not None:
            raise EngineExited(code)
        if healthy(endpoint) and generates(endpoint):
            return
        if process.poll() is None and time.monotonic() > deadline:
            raise RuntimeFailure(f"the engine was not ready after {timeout:.0f} s; see `localv4 logs`")
        on_wait()
        time.sleep(POLL_S)
