"""Where localv4 keeps its config, state and data, and where model weights live.

LOCALV4_HOME puts all three of localv4's own directories under one folder (tests, portable
installs). Otherwise the platform conventions apply (XDG on Linux, ~/Library on macOS).
Weights are never kept here: they go to the standard Hugging Face cache, shared with other tools.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from localv4 import env

APP = "localv4"


def _home_override(kind: str) -> Path | None:
    root = env.get(env.HOME)
    return Path(root).expanduser() / kind if root else None


def _xdg(var: str, default: str, kind: str) -> Path:
    """XDG on Linux; one folder per app with a folder per kind on macOS and Windows, where the
    platform has no separate config, state and data places (as click's and platformdirs' app
    dirs put them: ~/Library/Application Support, %LOCALAPPDATA%)."""
    override = _home_override(kind)
    if override:
        return override
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP / kind
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / APP / kind
    base = os.environ.get(var) or str(Path.home() / default)
    return Path(base).expanduser() / APP


def config_dir() -> Path:
    """User recipes and settings."""
    return _xdg("XDG_CONFIG_HOME", ".config", "config")


def state_dir() -> Path:
    """The running engine's pid, port and log; API keys; benchmark results."""
    return _xdg("XDG_STATE_HOME", ".local/state", "state")


def data_dir() -> Path:
    """Engines localv4 builds or installs."""
    return _xdg("XDG_DATA_HOME", ".local/share", "data")


def platform_cache_dir() -> Path:
    """The platform's cache folder for localv4 (~/.cache/localv4, ~/Library/Caches/localv4):
    what is expensive to make again and safe to delete."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / APP


def cache_dir() -> Path:
    """Cached downloads of localv4's own (GGUF headers): under LOCALV4_HOME where it is set."""
    return _home_override("cache") or platform_cache_dir()


def user_recipes_dir() -> Path:
    return config_dir() / "recipes"


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved from the variables huggingface_hub.constants reads, in
    its order (HF_HUB_CACHE, the legacy HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME). Read on
    each call: hf's constants are fixed when it is first imported, and the tray and the tests
    change the environment after that."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"), "huggingface"
    )
    return Path(hf_home).expanduser() / "hub"
