"""`localv4 up --ui`: the engine and Open WebUI (a stand-in image in a real Docker engine) together.

The pieces are tested on their own in test_serve_engines.py and test_webui_docker.py; this shows
the one command a user types wires them: the UI's container is pointed at the endpoint `up`
started, `down` stops both and keeps the chats, `down --purge-ui` deletes them.
"""

from __future__ import annotations

import pytest

from conftest import run_cli
from support.docker_support import container_env, exec_in
from support.ports import free_port
from localv4.serve.state import read_state
from support.gemma_recipe import RECIPE_ID, SERVED, VARIANT

pytestmark = [pytest.mark.engine, pytest.mark.docker]


def test_up_ui_wires_the_ui_to_the_endpoint_and_down_keeps_its_data(
    docker_client, ui, recipe_dir, fake_hub, llama_cpp_server, no_engine_left,
) -> None:
    up = run_cli("up", "--variant", f"{RECIPE_ID}:{VARIANT}", "--backend", "llama-cpp-python",
                 "--port", "auto", "--ui", "--ui-port", str(free_port()), "--no-open",
                 env={"HF_ENDPOINT": fake_hub.endpoint}, timeout=600)
    assert up.returncode == 0, up.stderr
    assert "Open WebUI at http://127.0.0.1:" in up.stdout
    server = read_state()
    container = docker_client.containers.get(ui)
    assert container_env(container)["OPENAI_API_BASE_URL"] == f"http://127.0.0.1:{server.port}/v1"
    code, models = exec_in(container, f"wget -qO- http://127.0.0.1:{server.port}/v1/models")
    assert code == 0 and SERVED in models  # the UI's container really reaches the engine

    down = run_cli("down")
    assert down.returncode == 0 and f"stopped container {ui}" in down.stdout
    container.reload()
    assert container.status != "running"
    assert docker_client.volumes.list(filters={"name": ui})  # the chats are kept

    purge = run_cli("down", "--purge-ui", "--yes")
    assert purge.returncode == 0 and "Nothing is running." in purge.stdout
    assert not docker_client.containers.list(all=True, filters={"name": ui})
    assert not docker_client.volumes.list(filters={"name": ui})
