"""Which port the endpoint listens on, and who holds a port that is taken.

The default, 8484, collides with none of the usual local-LLM tools: llama-server, mlx_lm.server
and `open-webui serve` (8080), Ollama (11434), LM Studio (1234), Open WebUI in Docker (3000),
vLLM (8000).
"""

from __future__ import annotations

import random
import socket

from localv4.errors import RuntimeFailure, UsageError
from localv4.net import family, is_free, port_number

DEFAULT_PORT = 8484
AUTO = "auto"


def parse_port(value: str | int | None) -> int | None:
    """A port number, the default for None, or None for `auto` (pick a free one)."""
    if value is None:
        return DEFAULT_PORT
    if str(value).strip().lower() == AUTO:
        return None
    return port_number(value, "--port", alternatives=", or 'auto'")


def check_host(host: str) -> str:
    """The host as given, when this machine can listen on it."""
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        raise UsageError(f"--host '{host}' is not an address this machine can listen on.") from None
    return host


# `--port auto` picks below the usual ephemeral range (Linux 32768-60999, macOS and Windows 49152+):
# a port the kernel hands out for outgoing connections can be taken by one between this choice and
# the engine's bind, which then fails to start.
AUTO_PORTS = range(20000, 32768)


def free_port(host: str) -> int:
    start = random.randrange(len(AUTO_PORTS))
    for i in range(len(AUTO_PORTS)):
        port = AUTO_PORTS[(start + i) % len(AUTO_PORTS)]
        if is_free(host, port):
            return port
    with socket.socket(family(host), socket.SOCK_STREAM) as s:  # all taken: whatever the kernel gives
        s.bind((host, 0))
        return s.getsockname()[1]


def holder(port: int) -> str | None:
    """'name (pid N)' of the process listening on `port`, when the OS lets us see it."""
    import psutil

    try:
        connections = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return None
    for c in connections:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            try:
                return f"{psutil.Process(c.pid).name()} (pid {c.pid})"
            except psutil.Error:
                return f"pid {c.pid}"
    return None


def choose_port(host: str, requested: int | None) -> int:
    """The requested port when free, a free one for `auto`; a taken port names its holder."""
    if requested is None:
        return free_port(host)
    if is_free(host, requested):
        return requested
    who = holder(requested)
    held = f"by {who}" if who else "by another program"
    raise RuntimeFailure(
        f"port {requested} is already in use {held}: stop it, or pass --port auto or --port N."
    )
