"""What the UI connects to and how it is run: plain values, read once from flags and env.

The pinned Open WebUI version is the one whose source was checked for the env vars used here
(ENABLE_PERSISTENT_CONFIG, HOST/PORT in the image's start.sh, `open-webui serve --host/--port`).
LOCALV4_WEBUI_IMAGE / LOCALV4_OPEN_WEBUI override the Docker image / the native executable.
"""

from __future__ import annotations

from dataclasses import dataclass

from localv4 import env
from localv4.errors import UsageError
from localv4.net import port_number

OPEN_WEBUI_VERSION = "0.12.4"
DEFAULT_IMAGE = f"ghcr.io/open-webui/open-webui:v{OPEN_WEBUI_VERSION}"
DEFAULT_PORT = 3000
DEFAULT_NAME = "localv4-webui"
MODES = ("docker", "native")
NETWORKS = ("auto", "host", "published")
LABEL = "localv4"
LABEL_VALUE = "webui"


@dataclass(frozen=True)
class WebUISettings:
    """Where the UI listens and which Docker objects hold it."""

    port: int = DEFAULT_PORT
    image: str = DEFAULT_IMAGE
    name: str = DEFAULT_NAME  # the container; the volume is `<name>-data`
    network: str = "auto"  # "host" (Linux engine), "published" (Docker Desktop), or detect
    native_executable: str | None = None  # an existing `open-webui` to run instead of installing

    @property
    def volume(self) -> str:
        return f"{self.name}-data"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def parse_mode(value: str | None) -> str:
    mode = (value or "docker").strip().lower()
    if mode not in MODES:
        raise UsageError(f"unknown UI mode '{value}': use 'docker' or 'native'.")
    return mode


def parse_ui_port(value: str | int | None, source: str = "--port") -> int | None:
    """A UI port from a flag (or the env var named by `source`); None when not given."""
    return None if value is None else port_number(value, source)


def load_settings(port: int | None = None) -> WebUISettings:
    """Settings from the flag (port) and the LOCALV4_WEBUI_* environment variables."""
    network = (env.get(env.WEBUI_NETWORK) or "auto").strip().lower()
    if network not in NETWORKS:
        raise UsageError(f"LOCALV4_WEBUI_NETWORK must be one of {', '.join(NETWORKS)} (got '{network}').")
    env_port = parse_ui_port(env.get(env.WEBUI_PORT), env.WEBUI_PORT)
    return WebUISettings(
        port=port or env_port or DEFAULT_PORT,
        image=env.get(env.WEBUI_IMAGE) or DEFAULT_IMAGE,
        name=env.get(env.WEBUI_NAME) or DEFAULT_NAME,
        network=network,
        native_executable=env.get(env.OPEN_WEBUI),
    )
