"""Is the UI's port on 127.0.0.1 free? Checked before starting, because with host networking
Docker cannot notice a clash: Open WebUI would just fail to bind and restart forever."""

from __future__ import annotations

from localv4.errors import RuntimeFailure
from localv4.net import is_free as _is_free

HOST = "127.0.0.1"


def is_free(port: int) -> bool:
    return _is_free(HOST, port)


def next_free(port: int) -> int | None:
    return next((p for p in range(port + 1, min(port + 100, 65536)) if is_free(p)), None)


def ensure_free(port: int) -> None:
    if is_free(port):
        return
    spare = next_free(port)
    instead = f"pass --port {spare} (free)" if spare else "pass another --port"
    raise RuntimeFailure(
        f"port {port} on {HOST} is already in use by another program: {instead}, or stop that program."
    )
