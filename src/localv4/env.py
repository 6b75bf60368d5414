"""Every LOCALV4_* environment variable localv4 reads: named, documented and read here only.

An empty value counts as unset, as for most Unix tools.
"""

from __future__ import annotations

import os

from localv4.errors import UsageError

HOME = "LOCALV4_HOME"  # one folder for localv4's state, data and config (tests, portable installs)
BUILD_CACHE = "LOCALV4_BUILD_CACHE"  # where finished engine builds are kept
PULL_STALL_S = "LOCALV4_PULL_STALL_S"  # seconds without a byte before a download counts as stalled
PULL_BACKOFF_S = "LOCALV4_PULL_BACKOFF_S"  # the first wait before a retry
WEBUI_NETWORK = "LOCALV4_WEBUI_NETWORK"  # Open WebUI's Docker networking: auto, host or bridge
WEBUI_PORT = "LOCALV4_WEBUI_PORT"  # the UI's port on 127.0.0.1
WEBUI_IMAGE = "LOCALV4_WEBUI_IMAGE"  # the Open WebUI Docker image
WEBUI_NAME = "LOCALV4_WEBUI_NAME"  # the UI container's name
OPEN_WEBUI = "LOCALV4_OPEN_WEBUI"  # the native `open-webui` executable to run
ENGINE_CHECK = "LOCALV4_ENGINE_CHECK"  # "off": plans are the estimate alone (no headers fetched, no projection)


def get(name: str) -> str | None:
    return os.environ.get(name) or None


def seconds(name: str, default: float) -> float:
    """A duration in seconds from `name`, else `default`; a bad value is the user's to fix."""
    raw = get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise UsageError(f"{name}={raw!r} is not a number of seconds; unset it or use e.g. 30.")
    return value
