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
from localv4.serve.endpoint import Endpoint

POLL_S = 0.1
HEALTH_TIMEOUT_S = 2.0
FIRST_TOKEN_TIMEOUT_S = 120.0
ANSWER_TIMEOUT_S = 3.0  # `status`: a running engine answers its health route within this
STOPPED_GRACE_S = 5.0  # loading: an engine stopped (SIGSTOP) this long is reported, not waited on
SILENT_AFTER_HEALTHY_S = 30.0  # loading: an engine that answered, then went silent this long, is wedged


@dataclass(frozen=True)
class Probe:
    """What readiness asks: the health route, then a one-token completion of the served model."""

    endpoint: Endpoint
    health_path: str  # the engine's own: "/health", or "/v1/models" where it has none


class EngineNotAnswering(RuntimeFailure):
    """The engine is alive but does not answer (stopped by a signal, or wedged)."""

    def __init__(self, why: str) -> None:
        super().__init__(f"the engine {why}; `localv4 logs` shows its last lines")
        self.why = why


class EngineExited(RuntimeFailure):
    """The engine process ended before it was ready."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(f"the engine exited with code {exit_code} while loading")
        self.exit_code = exit_code


def _request(probe: Probe, method: str, path: str, timeout: float,
             body: dict | None = None) -> tuple[int, bytes] | None:
    """(status, body) of one request, or None when the engine does not answer."""
    url = urlsplit(probe.endpoint.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    headers = dict(probe.endpoint.headers)
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


def healthy(probe: Probe) -> bool:
    answer = _request(probe, "GET", probe.health_path, HEALTH_TIMEOUT_S)
    return answer is not None and answer[0] == 200


def generates(probe: Probe) -> bool:
    """One chat completion of one token, the way a client asks."""
    body = {"model": probe.endpoint.model_id, "max_tokens": 1,
            "messages": [{"role": "user", "content": "Hi"}]}
    answer = _request(probe, "POST", "/v1/chat/completions", FIRST_TOKEN_TIMEOUT_S, body)
    if answer is None or answer[0] != 200:
        return False
    try:
        return bool(json.loads(answer[1]).get("choices"))
    except (ValueError, AttributeError):
        return False


def stopped(proc) -> str | None:
    """Why a live engine cannot answer when the OS has it stopped (SIGSTOP, a debugger), else None."""
    import psutil

    try:
        if proc.status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP):
            return (f"is stopped (pid {proc.pid}, by SIGSTOP or a debugger): `kill -CONT {proc.pid}` "
                    "resumes it")
    except psutil.Error:
        pass
    return None


def not_answering(proc, probe: Probe, timeout: float = ANSWER_TIMEOUT_S) -> str | None:
    """Why a ready engine is not serving (stopped, or no health answer within `timeout` s), else None."""
    why = stopped(proc)
    if why:
        return why
    answer = _request(probe, "GET", probe.health_path, timeout)
    if answer is None:
        return f"does not answer {probe.health_path} within {timeout:g} s (pid {proc.pid})"
    return None


def wait_ready(
    process: subprocess.Popen,
    probe: Probe,
    on_wait: Callable[[], None],
    timeout: float,
) -> None:
    """Return once the engine serves; raise EngineExited if it dies, EngineNotAnswering if it is
    stopped or goes silent after answering, RuntimeFailure on timeout."""
    import psutil

    proc = psutil.Process(process.pid)
    deadline = time.monotonic() + timeout
    stopped_since: float | None = None
    answered_at: float | None = None
    while True:
        code = process.poll()
        if code is not None:
            raise EngineExited(code)
        now = time.monotonic()
        why = stopped(proc)
        stopped_since = (stopped_since or now) if why else None
        if why and now - stopped_since > STOPPED_GRACE_S:
            raise EngineNotAnswering(why)
        if not why:
            if healthy(probe):
                answered_at = time.monotonic()
                if generates(probe):
                    return
            elif answered_at is not None and time.monotonic() - answered_at > SILENT_AFTER_HEALTHY_S:
                raise EngineNotAnswering(
                    f"answered, then stopped answering for {SILENT_AFTER_HEALTHY_S:.0f} s while loading")
        if process.poll() is None and time.monotonic() > deadline:
            raise RuntimeFailure(f"the engine was not ready after {timeout:.0f} s; see `localv4 logs`")
        on_wait()
        time.sleep(POLL_S)
