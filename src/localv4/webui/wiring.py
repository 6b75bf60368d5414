"""The environment that points Open WebUI at the localv4 endpoint, the same in Docker and native.

Open WebUI copies its connection settings into its database on first start and prefers that copy
afterwards (PersistentConfig), so a later change of the endpoint's port or key would be ignored.
ENABLE_PERSISTENT_CONFIG=False (checked in the pinned version's config.py) makes every start take
them from the environment, so the UI always follows the endpoint. The price: settings changed in
the Admin Panel last until the next restart; chats, users, models and prompts are database rows
and are kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from localv4.net import on_loopback
from localv4.serve.endpoint import Endpoint

DESKTOP_HOST_ALIAS = "host.docker.internal"


def desktop_url(endpoint: Endpoint) -> str:
    """The endpoint as a Docker Desktop container reaches it: the host's loopback via its alias.
    (A process on this machine, host networking included, takes `endpoint.v1_url`.)"""
    if on_loopback(endpoint.host):
        endpoint = dataclasses.replace(endpoint, host=DESKTOP_HOST_ALIAS)
    return endpoint.v1_url


def connection_env(endpoint: Endpoint, base_url: str) -> dict[str, str]:
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
    if endpoint.model_id:
        env["DEFAULT_MODELS"] = endpoint.model_id
    if endpoint.api_key:
        env["OPENAI_API_KEY"] = endpoint.api_key
    return env


def fingerprint(*parts: object) -> str:
    """A short digest of the UI's settings: equal digests mean the running UI can be kept.

    It covers the API key, which is fine: whoever can read it can read the key itself.
    """
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
