"""`up --ui` where Docker cannot run the UI: the native Open WebUI is offered instead of a failure.

The Docker engine is made unreachable the real way (DOCKER_HOST names a socket nobody listens
on); Open WebUI itself is the suite's stand-in program (installing the real one takes minutes).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import run_cli
from localv4.serve.state import read_state
from terminal_support import Terminal
from test_serve_engines import (  # noqa: F401  (fixtures)
    RECIPE_ID, VARIANT, fake_hub, gemma_gguf, llama_cpp_server, no_engine_left, recipe_dir,
)
from docker_support import free_port
from webui_support import STANDIN_OPEN_WEBUI, write_program


def _no_docker(tmp_path: Path) -> dict[str, str]:
    return {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",
            "LOCALV4_OPEN_WEBUI": str(write_program(tmp_path / "open-webui", STANDIN_OPEN_WEBUI))}


def _up_ui(port: int) -> list[str]:
    return ["up", "--variant", f"{RECIPE_ID}:{VARIANT}", "--backend", "llama-cpp-python", "--port", "auto",
            "--ui", "--ui-port", str(port), "--no-open"]


def test_without_a_terminal_up_ui_says_why_docker_cannot_and_starts_nothing(recipe_dir, tmp_path):  # noqa: F811
    done = run_cli(*_up_ui(free_port()), env=_no_docker(tmp_path), stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "the Docker daemon is not running" in line and "--mode native" in line
    assert read_state() is None


def test_on_a_terminal_up_ui_offers_native_open_webui_and_serves_both(
        recipe_dir, fake_hub, llama_cpp_server, no_engine_left, tmp_path):  # noqa: F811
    port = free_port()
    env = {**os.environ, **_no_docker(tmp_path), "HF_ENDPOINT": fake_hub.endpoint, "TERM": "xterm"}
    terminal = Terminal([sys.executable, "-m", "localv4", *_up_ui(port)], env)
    try:
        terminal.wait_for(r"Docker cannot run Open WebUI here .*Run it natively instead\?.*\[Y/n\]", timeout=60)
        terminal.type("y\r")
        terminal.wait_for(rf"Open WebUI at http://127\.0\.0\.1:{port} \(native\)", timeout=600)
        assert terminal.finish(timeout=60) == 0, terminal.seen[-3000:]
        assert terminal.seen.count("[Y/n]") == 1
        assert read_state() is not None
    finally:
        down = run_cli("down", env=_no_docker(tmp_path))
    assert down.returncode == 0 and "open-webui serve" in down.stdout
