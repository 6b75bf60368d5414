"""Is a port free, is a host this machine's loopback? Asked by doctor, by `up` and by the UI."""

from __future__ import annotations

import ipaddress
import socket

from localv4.errors import UsageError

# Addresses that mean "listen everywhere": a client on this machine reaches them on loopback.
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
LOOPBACK = "127.0.0.1"  # where a client on this machine reaches a wildcard bind


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (an endpoint there goes without an API key)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def on_loopback(host: str) -> bool:
    """Whether a server bound to `host` answers on this machine's loopback (a wildcard bind does)."""
    return host in WILDCARD_HOSTS or is_loopback(host)


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


def port_number(value: str | int, source: str = "--port", alternatives: str = "") -> int:
    """A TCP port from user input, or one UsageError line naming where the bad value came from."""
    text = str(value).strip()
    if text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    raise UsageError(f"{source} must be a number from 1 to 65535{alternatives} (got '{value}').")
