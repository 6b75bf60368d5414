"""Shared fixtures: every test runs with its own localv4 home and Hugging Face cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.tiny_v4 import tiny_v4_0731_gguf, tiny_v4_dspark_gguf, tiny_v4_gguf  # noqa: F401  (fixtures for every test)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """LOCALV4_HOME and HF_HOME in a temp dir, so no test touches the user's real state."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("LOCALV4_HOME", str(home / "localv4"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # never the internet; pull tests override
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return home


def run_cli(*args: str, env: dict[str, str] | None = None, **kwargs):
    """Run `localv4 ARGS` as a real process, the way a user does."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "localv4", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        **kwargs,
    )
