"""Is a port free? Asked by doctor, by `up` and by the UI, the way servers bind."""

from __future__ import annotations

import socket

# Addresses that mean "listen everywhere": a client on this machine reaches them on loopback.
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now."""
    with socket.socket(family(host), socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
