"""Open WebUI in a real Docker engine, played by a busybox stand-in image built here.

What is checked is what the user gets: the container's env, mounts, network, restart policy and
labels; that the endpoint URL it was given reaches a real server on the host from inside the
container; that chats (the volume) survive `down`, a changed endpoint and a second start; and one
clear line for a busy port, a dead or missing daemon, a denied socket and a failed pull.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

from conftest import run_cli
from support.docker_support import (
    CRASHING_CMD, CRASHING_IMAGE, STANDIN_IMAGE, build_standin, container_env, exec_in, local_registry,
    remove_image,
)
from localv4.errors import RuntimeFailure
from support.enable import pytest_as_root
from support.ports import free_port
from localv4.webui import api
from localv4.serve.endpoint import Endpoint
from localv4.webui.state import UIRecord, write_record
from support.webui_support import STANDIN_OPEN_WEBUI, FakeEndpoint, register_with_serve, write_program

DATA = "/app/backend/data"


@pytest.fixture
def endpoint():
    server = FakeEndpoint(key="sk-test-key")
    yield server
    server.close()


def non_loopback_ipv4() -> list[str]:
    return [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
            if a.family == socket.AF_INET and not a.address.startswith("127.")]


def refuses(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return True
    return False


@pytest.mark.docker
def test_linux_container_uses_host_network_on_loopback_and_reaches_the_endpoint(docker_client, ui, endpoint) -> None:
    port = free_port()
    upstream = Endpoint("127.0.0.1", port=endpoint.port, api_key="sk-test-key", model_id="standin-model")
    started = api.start_ui(upstream, "docker", port, open_browser=False)
    assert (started.url, started.endpoint, started.reused, started.pulled) == (
        f"http://127.0.0.1:{port}", f"http://127.0.0.1:{endpoint.port}/v1", False, False)

    container = docker_client.containers.get(ui)
    env = container_env(container)
    assert {k: env.get(k) for k in ("OPENAI_API_BASE_URL", "OPENAI_API_KEY", "ENABLE_OLLAMA_API", "WEBUI_AUTH",
                                    "ENABLE_PERSISTENT_CONFIG", "DEFAULT_MODELS", "HOST", "PORT")} == {
        "OPENAI_API_BASE_URL": f"http://127.0.0.1:{endpoint.port}/v1", "OPENAI_API_KEY": "sk-test-key",
        "ENABLE_OLLAMA_API": "False", "WEBUI_AUTH": "True", "ENABLE_PERSISTENT_CONFIG": "False",
        "DEFAULT_MODELS": "standin-model", "HOST": "127.0.0.1", "PORT": str(port),
    }
    host_config = container.attrs["HostConfig"]
    assert host_config["NetworkMode"] == "host" and not host_config.get("PortBindings")
    assert host_config["RestartPolicy"]["Name"] == "unless-stopped"
    assert [(m["Type"], m["Name"], m["Destination"]) for m in container.attrs["Mounts"]] == [("volume", f"{ui}-data", DATA)]
    assert container.attrs["Config"]["Image"] == STANDIN_IMAGE
    assert container.labels["localv4"] == "webui"
    assert docker_client.volumes.get(f"{ui}-data").attrs["Labels"] == {"localv4": "webui"}

    # From inside the container, the configured URL and key reach the server on the host's 127.0.0.1.
    code, output = exec_in(container, 'wget -q -O - --header "Authorization: Bearer $OPENAI_API_KEY" "$OPENAI_API_BASE_URL/models"')
    assert code == 0, output
    assert json.loads(output)["data"][0]["id"] == "standin-model"
    assert endpoint.auth_headers[-1] == "Bearer sk-test-key"

    # The UI answers on 127.0.0.1 and on no wider address.
    assert httpx.get(f"{started.url}/health").status_code == 200
    assert all(refuses(address, port) for address in non_loopback_ipv4())


@pytest.mark.docker
def test_docker_desktop_layout_publishes_on_loopback_and_uses_the_host_alias(docker_client, ui, monkeypatch) -> None:
    monkeypatch.setenv("LOCALV4_WEBUI_NETWORK", "published")
    subnet = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Subnet"]
    gateway = str(next(ipaddress.ip_network(subnet).hosts()))  # where host-gateway points on a Linux engine
    on_gateway = FakeEndpoint(host=gateway)
    try:
        port = free_port()
        started = api.start_ui(Endpoint("127.0.0.1", port=on_gateway.port), "docker", port, open_browser=False)
        container = docker_client.containers.get(ui)
        env, host_config = container_env(container), container.attrs["HostConfig"]
        assert env["OPENAI_API_BASE_URL"] == f"http://host.docker.internal:{on_gateway.port}/v1"
        assert "HOST" not in env and "OPENAI_API_KEY" not in env
        assert host_config["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        assert host_config["ExtraHosts"] == ["host.docker.internal:host-gateway"]
        assert host_config["NetworkMode"] in ("default", "bridge")
        assert httpx.get(f"{started.url}/health").status_code == 200
        code, output = exec_in(container, 'wget -q -O - "$OPENAI_API_BASE_URL/models"')
        assert code == 0 and json.loads(output)["data"][0]["id"] == "standin-model"
    finally:
        on_gateway.close()


@pytest.mark.docker
def test_a_changed_endpoint_recreates_the_container_and_keeps_the_chats(docker_client, ui, endpoint) -> None:
    port = free_port()
    api.start_ui(Endpoint("127.0.0.1", port=endpoint.port, api_key="k1"), "docker", port, open_browser=False)
    first = docker_client.containers.get(ui)
    assert exec_in(first, f"echo 'my chat' > {DATA}/chat.txt")[0] == 0

    same = api.start_ui(Endpoint("127.0.0.1", port=endpoint.port, api_key="k1"), "docker", port, open_browser=False)
    assert same.reused and docker_client.containers.get(ui).id == first.id

    moved = api.start_ui(Endpoint("127.0.0.1", port=endpoint.port + 1, api_key="k2"), "docker", port, open_browser=False)
    second = docker_client.containers.get(ui)
    assert not moved.reused and second.id != first.id
    env = container_env(second)
    assert (env["OPENAI_API_BASE_URL"], env["OPENAI_API_KEY"]) == (f"http://127.0.0.1:{endpoint.port + 1}/v1", "k2")
    assert env["ENABLE_PERSISTENT_CONFIG"] == "False"  # Open WebUI reads the new URL, not its saved copy
    assert exec_in(second, f"cat {DATA}/chat.txt") == (0, "my chat\n")


@pytest.mark.docker
def test_down_keeps_the_volume_a_second_start_finds_the_data_and_purge_removes_all(docker_client, ui, endpoint) -> None:
    port = free_port()
    upstream = Endpoint("127.0.0.1", port=endpoint.port)
    api.start_ui(upstream, "docker", port, open_browser=False)
    assert exec_in(docker_client.containers.get(ui), f"echo kept > {DATA}/chat.txt")[0] == 0

    assert api.stop_ui().stopped == [f"container {ui}"]
    container = docker_client.containers.get(ui)
    assert container.status == "exited"
    assert docker_client.volumes.get(f"{ui}-data")
    assert api.ui_status().state == "stopped"
    assert api.stop_ui().stopped == []

    again = api.start_ui(upstream, "docker", port, open_browser=False)
    assert again.reused
    assert exec_in(docker_client.containers.get(ui), f"cat {DATA}/chat.txt") == (0, "kept\n")
    status = api.ui_status()
    assert (status.state, status.answering, status.detail) == (
        "running", True, f"container {ui} ({STANDIN_IMAGE}), volume {ui}-data")

    purged = api.stop_ui(purge=True)
    assert purged.removed == [f"container {ui}", f"volume {ui}-data"]
    assert docker_client.containers.list(all=True, filters={"name": ui}) == []
    assert docker_client.volumes.list(filters={"name": ui}) == []


@pytest.mark.docker
def test_a_busy_port_is_one_clear_line_and_nothing_is_created(docker_client, ui, endpoint) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(RuntimeFailure, match=rf"^port {port} on 127.0.0.1 is already in use by another program: pass --port \d+ \(free\), or stop that program\.$"):
            api.start_ui(Endpoint("127.0.0.1", port=endpoint.port), "docker", port, open_browser=False)
    assert docker_client.containers.list(all=True, filters={"name": ui}) == []


@pytest.mark.docker
def test_a_crashing_ui_is_reported_with_its_last_log_line(docker_client, ui, monkeypatch) -> None:
    monkeypatch.setenv("LOCALV4_WEBUI_IMAGE", build_standin(docker_client, CRASHING_IMAGE, CRASHING_CMD))
    # Seen first exited (exit code 3), or already restarted by its policy (that code is then gone).
    with pytest.raises(RuntimeFailure, match=rf"Open WebUI stopped while starting \((exit code 3|restarted \d time\(s\))\): stand-in: cannot open database; see `docker logs {ui}`"):
        api.start_ui(Endpoint("127.0.0.1", port=8484), "docker", free_port(), open_browser=False)


@pytest.mark.docker
def test_a_container_localv4_did_not_create_is_left_alone(docker_client, ui) -> None:
    docker_client.containers.create(STANDIN_IMAGE, name=ui)
    with pytest.raises(RuntimeFailure, match=rf"a container named {ui} exists that localv4 did not create: remove it \(`docker rm -f {ui}`\)"):
        api.start_ui(Endpoint("127.0.0.1", port=8484), "docker", free_port(), open_browser=False)
    assert api.stop_ui(purge=True).removed == []
    assert docker_client.containers.get(ui)


@pytest.mark.docker
def test_starting_docker_stops_a_native_ui(docker_client, ui, endpoint, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LOCALV4_OPEN_WEBUI", str(write_program(tmp_path / "open-webui", STANDIN_OPEN_WEBUI)))
    port = free_port()
    api.start_ui(Endpoint("127.0.0.1", port=endpoint.port), "native", port, open_browser=False)
    native_status = api.ui_status()
    assert native_status.running and native_status.mode == "native"
    started = api.start_ui(Endpoint("127.0.0.1", port=endpoint.port), "docker", port, open_browser=False)
    assert started.mode == "docker" and api.ui_status().mode == "docker"


@pytest.mark.docker
def test_pull_from_a_registry_shows_progress_then_runs(docker_client, ui, tmp_path) -> None:
    endpoint = FakeEndpoint()
    register_with_serve(endpoint, tmp_path / "server.log")
    try:
        image = "not pushed yet"
        with local_registry(tmp_path) as registry:
            image = f"{registry}/open-webui:pull-{uuid.uuid4().hex[:6]}"
            build_standin(docker_client, image, extra={"www/blob": os.urandom(2_000_000)})
            for line in docker_client.images.push(image, stream=True, decode=True):
                assert "error" not in line, line
            docker_client.images.remove(image)
            port = free_port()
            done = run_cli("ui", "start", "--port", str(port), "--no-open", env={"LOCALV4_WEBUI_IMAGE": image})
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == f"pulling {image}"
        assert f"pulling {image}: 1/1 layers" in lines
        assert f"Open WebUI at http://127.0.0.1:{port} (docker), talking to http://127.0.0.1:{endpoint.port}/v1" in lines
        assert docker_client.images.get(image)
    finally:
        endpoint.close()
        api.stop_ui(purge=True)
        remove_image(docker_client, image)


@pytest.mark.docker
def test_an_unreachable_registry_is_one_clear_line(docker_client, ui, monkeypatch) -> None:
    image = f"127.0.0.1:{free_port()}/open-webui:absent"
    monkeypatch.setenv("LOCALV4_WEBUI_IMAGE", image)
    with pytest.raises(RuntimeFailure, match=rf"^could not pull {image}: .*; check the network, or set LOCALV4_WEBUI_IMAGE to an image you have \(`docker images`\)\.$"):
        api.start_ui(Endpoint("127.0.0.1", port=8484), "docker", free_port(), open_browser=False)


# --- no daemon: these need no Docker at all ------------------------------------------------


def test_a_stopped_daemon_is_one_line_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"unix://{tmp_path}/dead.sock"
    endpoint = FakeEndpoint()
    register_with_serve(endpoint, tmp_path / "server.log")
    try:
        done = run_cli("ui", "start", "--no-open", env={"DOCKER_HOST": dead})
    finally:
        endpoint.close()
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"localv4: the Docker daemon is not running ({dead}): start it with `sudo systemctl start docker`, "
        "or run it without Docker: `localv4 ui start --mode native`.\n"
    )
    # `down` must still work: a dead daemon means its containers are down too. --purge must say why not.
    monkeypatch.setenv("DOCKER_HOST", dead)
    write_record(UIRecord("docker", 3000, "http://127.0.0.1:3000", "http://127.0.0.1:8484/v1"))
    assert api.stop_ui().stopped == []
    with pytest.raises(RuntimeFailure, match="the Docker daemon is not running"):
        api.stop_ui(purge=True)


def test_docker_not_installed_is_one_line_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeFailure, match=r"^Docker is not installed: install Docker Desktop .* `sudo apt install docker.io`; or run it without Docker: `localv4 ui start --mode native`\.$"):
        api.start_ui(Endpoint("127.0.0.1", port=8484), "docker", free_port(), open_browser=False)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to drop the DAC override: sudo apt-get install util-linux, then "
                           + pytest_as_root("tests/test_webui_docker.py"))
def test_a_socket_the_user_may_not_open_means_join_the_docker_group(tmp_path: Path) -> None:
    """A real EACCES: a socket with mode 000, probed by root stripped of the DAC-override capability
    (exactly what a user outside the docker group meets on /var/run/docker.sock)."""
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        path.chmod(0)
        probe = "from localv4.webui import docker_engine\ntry:\n    docker_engine.connect()\nexcept Exception as err:\n    print(err)\n"
        done = subprocess.run(
            ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", sys.executable, "-c", probe],
            capture_output=True, text=True, env={**os.environ, "DOCKER_HOST": f"unix://{path}"},
        )
    assert done.stdout == (
        f"permission denied on the Docker socket (unix://{path}): add yourself to the docker group "
        "(`sudo usermod -aG docker $USER`, then log out and in), or run it without Docker: `localv4 ui start --mode native`.\n"
    ), done.stderr
