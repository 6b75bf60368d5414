"""Shared fixtures: every test runs with its own localv4 home and Hugging Face cache.

The fixtures of tests/support are imported here, which is what makes pytest offer them to every
test module; test modules import helpers from `support.*`, never from one another.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.docker_support import docker_client, ui  # noqa: F401  (fixtures)
from support.gemma_serving import (  # noqa: F401  (fixtures)
    fake_hub, gemma_gguf, gemma_plan, llama_cpp_server, native_server, no_engine_left, recipe_dir,
)
from support.pull_hub import fake_recipe, hub, hub_root  # noqa: F401  (fixtures)
from support.tiny_mlx import mlx_url, tiny_mlx_model  # noqa: F401  (fixtures)
from support.tiny_v4 import (  # noqa: F401  (fixtures)
    tiny_v4_0731_gguf, tiny_v4_dspark_gguf, tiny_v4_gguf, tiny_v4_hub_root,
)

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
    # Plans are the estimate alone unless a test asks for the engine's projection
    # (tests/test_engine_check.py): no header fetches from hubs that other tests stand up.
    monkeypatch.setenv("LOCALV4_ENGINE_CHECK", "off")
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
