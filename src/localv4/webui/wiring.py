"""The environment that points Open WebUI at the localv4 endpoint, the same in Docker and native.

Open WebUI copies its connection settings into its database on first start and prefers that copy
afterwards (PersistentConfig), so a later change of the endpoint's port or key would be ignored.
ENABLE_PERSISTENT_CONFIG=False (checked in the pinned version's config.py) makes every start take
them from the environment, so the UI always follows the endpoint. The price: settings changed in
the Admin Panel last until the next restart; chats, users, models and prompts are database rows
and are kept.
"""

from __future__ import annotations

import hashlib
import json

from localv4.net import WILDCARD_HOSTS
from localv4.webui.settings import Upstream

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DESKTOP_HOST_ALIAS = "host.docker.internal"


def is_local(host: str) -> bool:
    """Whether the endpoint is bound to loopback (or everywhere, which includes loopback)."""
    return host in WILDCARD_HOSTS or host in LOOPBACK_HOSTS or host.startswith("127.")


def endpoint_url(host: str, port: int) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/v1"


def host_side_url(upstream: Upstream) -> str:
    """The endpoint as a process on this machine (host networking, native) reaches it."""
    host = "127.0.0.1" if upstream.host in WILDCARD_HOSTS else upstream.host
    return endpoint_url(host, upstream.port)


def desktop_url(upstream: Upstream) -> str:
    """The endpoint as a Docker Desktop container reaches it: the host's loopback via its alias."""
    host = DESKTOP_HOST_ALIAS if is_local(upstream.host) else upstream.host
    return endpoint_url(host, upstream.port)


def connection_env(upstream: Upstream, base_url: str) -> dict[str, str]:
    """Open WebUI's settings: only the localv4 endpoint, Ollama off, accounts on, no telemetry."""
    env = {
        "OPENAI_API_BASE_URL": base_url,
        "ENABLE_OPENAI_API": "True",
        "ENABLE_OLLAMA_API": "False",
        "WEBUI_AUTH": "True",
        "ENABLE_PERSISTENT_CONFIG": "False",
        "SCARF_NO_ANALYTICS": "true",
        "DO_NOT_TRACK": "true",
        "ANONYMIZED_TELEMETRY": "false",
    }
    if upstream.model_id:
        env["DEFAULT_MODELS"] = upstream.model_id
    if upstream.api_key:
        env["OPENAI_API_KEY"] = upstream.api_key
    return env


def fingerprint(*parts: object) -> str:
    """A short digest of the UI's settings: equal digests mean the running UI can be kept.

    It covers the API key, which is fine: whoever can read it can read the key itself.
    """
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
