"""The real Open WebUI (native), where one is installed: LOCALV4_TEST_OPEN_WEBUI=/path/to/open-webui.

Skipped otherwise (its install is a large download with ~100 exact pins, not done in tests). It
proves against the pinned release what the stand-ins cannot: Open WebUI lists the endpoint's models
only with the right key, and after the endpoint moves, a restart points the UI at the new place
while the accounts stay (PersistentConfig is bypassed, the database is kept).
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from support.ports import free_port
from localv4.webui import api
from localv4.serve.endpoint import Endpoint
from support.webui_support import FakeEndpoint

EXECUTABLE = os.environ.get("LOCALV4_TEST_OPEN_WEBUI")
pytestmark = pytest.mark.skipif(
    not (EXECUTABLE and Path(EXECUTABLE).is_file()),
    reason=("needs an installed Open WebUI: `python3 -m venv ~/.cache/open-webui && ~/.cache/open-webui/bin/pip "
            "install open-webui`, then LOCALV4_TEST_OPEN_WEBUI=~/.cache/open-webui/bin/open-webui python -m pytest "
            "tests/test_webui_real.py"),
)
ADMIN = {"email": "admin@localv4.invalid", "password": "localv4-Test-Passw0rd", "name": "admin"}


def sign(url: str, action: str) -> dict[str, str]:
    reply = httpx.post(f"{url}/api/v1/auths/{action}", json=ADMIN, timeout=120)
    reply.raise_for_status()
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_the_ui_follows_a_moved_endpoint_and_keeps_its_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALV4_OPEN_WEBUI", EXECUTABLE)
    first, moved = FakeEndpoint(key="key-one"), FakeEndpoint(key="key-two")
    port = free_port()
    try:
        started = api.start_ui(Endpoint("127.0.0.1", port=first.port, api_key="key-one"), "native", port, open_browser=False)
        admin = sign(started.url, "signup")
        config = httpx.get(f"{started.url}/openai/config", headers=admin, timeout=60).json()
        assert config["OPENAI_API_BASE_URLS"] == [f"http://127.0.0.1:{first.port}/v1"]
        models = httpx.get(f"{started.url}/api/models", headers=admin, timeout=60).json()["data"]
        assert "standin-model" in [m["id"] for m in models]  # the endpoint accepted the key
        assert "Bearer key-one" in first.auth_headers

        again = api.start_ui(Endpoint("127.0.0.1", port=moved.port, api_key="key-two"), "native", port, open_browser=False)
        admin = sign(again.url, "signin")  # the account made before the restart is still there
        config = httpx.get(f"{again.url}/openai/config", headers=admin, timeout=60).json()
        assert config["OPENAI_API_BASE_URLS"] == [f"http://127.0.0.1:{moved.port}/v1"]
        models = httpx.get(f"{again.url}/api/models", headers=admin, timeout=60).json()["data"]
        assert "standin-model" in [m["id"] for m in models]
        assert "Bearer key-two" in moved.auth_headers
    finally:
        api.stop_ui()
        first.close()
        moved.close()
