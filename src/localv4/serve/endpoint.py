"""The running endpoint as every client takes it: where it is, which model it serves, which key.

One value for chat, bench, readiness, the agents, Open WebUI and the tray, so the URL and the
Authorization header are derived in one place. Standard library only: readiness uses it while an
engine loads, and a client with its own HTTP library should not pay for httpx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from localv4.errors import UsageError
from localv4.net import LOOPBACK, WILDCARD_HOSTS

SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible server: the host as bound (or as a user's URL names it), the model id
    clients send (None: the server's only model), and the key (None: it needs none)."""

    host: str
    port: int | None  # None: the scheme's default (a user's URL without a port)
    model_id: str | None = None
    api_key: str | None = field(default=None, repr=False)
    key_file: str | None = None  # where the key is, to say so instead of printing it
    scheme: str = "http"
    path: str = ""  # a user's URL below the server's root, without /v1: "/api"

    @classmethod
    def at(cls, url: str, model: str | None = None, api_key: str | None = None) -> Endpoint:
        """A user's `--url`: `http://host:port` or `http://host:port/v1` (https, a path too)."""
        url = url.rstrip("/")
        parts = urlsplit(url)
        try:
            host, port = parts.hostname, parts.port
        except ValueError:  # a port that is not a number
            host = None
        if parts.scheme not in SCHEMES or not host:
            raise UsageError(f"'{url}' is not an http:// or https:// URL.")
        return cls(host, port, model, api_key, scheme=parts.scheme,
                   path=parts.path.removesuffix("/v1"))

    @property
    def base_url(self) -> str:
        """http://HOST:PORT as a client on this machine dials it (a wildcard bind via loopback)."""
        host = LOOPBACK if self.host in WILDCARD_HOSTS else self.host
        if ":" in host:
            host = f"[{host}]"
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{host}{port}{self.path}"

    @property
    def v1_url(self) -> str:
        """The OpenAI-compatible API's root, where clients send /chat/completions."""
        return f"{self.base_url}/v1"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
