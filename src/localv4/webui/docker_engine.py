"""Open WebUI as a Docker container: connect, pull, create or reuse, stop, remove.

Networking, with the endpoint listening on 127.0.0.1 and nowhere wider:
- Linux engine ("host"): host networking. The container shares the host's loopback, so it reaches
  the endpoint at 127.0.0.1 unchanged, and HOST/PORT (read by the image's start.sh) make Open
  WebUI itself listen on 127.0.0.1:<port> only. The bridge-gateway alternative would need the
  engine to listen on 172.17.0.1, where every container on the machine could reach it.
- Docker Desktop ("published"; macOS, Windows, Desktop on Linux): containers run in a VM, so the
  UI is published on 127.0.0.1:<port> and reaches the host's loopback as host.docker.internal.

Chats live in a named volume, never in the container: `down`, restarts, a changed endpoint (which
recreates the container with new env) and image upgrades all keep them.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from localv4.errors import RuntimeFailure
from localv4.webui import ui_port
from localv4.webui.events import EventSink, PullProgress, UIEvent
from localv4.serve.endpoint import Endpoint
from localv4.webui.settings import LABEL, LABEL_VALUE, WebUISettings
from localv4.webui.wiring import DESKTOP_HOST_ALIAS, connection_env, desktop_url, fingerprint

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

CONTAINER_PORT = 8080
DATA_PATH = "/app/backend/data"
CONFIG_LABEL = "localv4.config"
NATIVE_HINT = "or run it without Docker: `localv4 ui start --mode native`"


@dataclass(frozen=True)
class ContainerSpec:
    """Everything the container is created with; its fingerprint decides reuse vs recreate."""

    name: str
    image: str
    volume: str
    port: int
    network: str  # "host" | "published"
    environment: dict[str, str] = field(repr=False)

    @property
    def endpoint(self) -> str:
        return self.environment["OPENAI_API_BASE_URL"]

    def fingerprint(self) -> str:
        return fingerprint(self.image, self.volume, self.port, self.network, self.environment)

    def create_kwargs(self) -> dict:
        kwargs: dict = {
            "image": self.image,
            "name": self.name,
            "detach": True,
            "environment": self.environment,
            "labels": {LABEL: LABEL_VALUE, CONFIG_LABEL: self.fingerprint()},
            "restart_policy": {"Name": "unless-stopped"},
            "volumes": {self.volume: {"bind": DATA_PATH, "mode": "rw"}},
        }
        if self.network == "host":
            kwargs["network_mode"] = "host"
        else:
            kwargs["ports"] = {f"{CONTAINER_PORT}/tcp": (ui_port.HOST, self.port)}
            kwargs["extra_hosts"] = {DESKTOP_HOST_ALIAS: "host-gateway"}
        return kwargs


def container_spec(settings: WebUISettings, endpoint: Endpoint, network: str) -> ContainerSpec:
    if network == "host":
        env = connection_env(endpoint, endpoint.v1_url)
        env |= {"HOST": ui_port.HOST, "PORT": str(settings.port)}
    else:
        env = connection_env(endpoint, desktop_url(endpoint))
    return ContainerSpec(settings.name, settings.image, settings.volume, settings.port, network, env)


# --- the engine ---------------------------------------------------------------------------


def _daemon_address() -> str:
    """DOCKER_HOST, else the current docker context's (Docker Desktop moves the socket)."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    from docker.context import ContextAPI
    from docker.errors import DockerException

    try:
        context = ContextAPI.get_current_context()
    except DockerException:
        context = None
    return (context.Host if context else None) or "unix:///var/run/docker.sock"


def unreachable_reason(address: str, error: str) -> str:
    """The one line for a daemon that cannot be reached, with the fix for the likely cause."""
    if "Permission denied" in error or "PermissionError" in error:
        return (
            f"permission denied on the Docker socket ({address}): add yourself to the docker group "
            f"(`sudo usermod -aG docker $USER`, then log out and in), {NATIVE_HINT}."
        )
    if not (shutil.which("docker") or shutil.which("dockerd")):
        return (
            "Docker is not installed: install Docker Desktop (https://docs.docker.com/get-docker/) "
            f"or, on Debian/Ubuntu, `sudo apt install docker.io`; {NATIVE_HINT}."
        )
    desktop = sys.platform in ("darwin", "win32")
    start = "start Docker Desktop" if desktop else "start it with `sudo systemctl start docker`"
    return f"the Docker daemon is not running ({address}): {start}, {NATIVE_HINT}."


def connect() -> DockerClient:
    import docker
    from docker.errors import DockerException

    address = _daemon_address()
    try:
        client = docker.from_env() if os.environ.get("DOCKER_HOST") else docker.DockerClient(base_url=address)
        client.ping()
    except DockerException as err:
        raise RuntimeFailure(unreachable_reason(address, str(err))) from None
    return client


def detect_network(client: DockerClient, requested: str) -> str:
    """"host" on a Linux engine, "published" under Docker Desktop, unless the user chose."""
    if requested != "auto":
        return requested
    info = client.info()
    if any("rootless" in option for option in info.get("SecurityOptions") or []):
        raise RuntimeFailure(
            "rootless Docker cannot reach the endpoint on this machine's 127.0.0.1: "
            "use `localv4 ui start --mode native`."
        )
    desktop = sys.platform != "linux" or "Docker Desktop" in (info.get("OperatingSystem") or "")
    return "published" if desktop else "host"


def ensure_image(client: DockerClient, image: str, on_event: EventSink) -> bool:
    """Pull `image` unless it is here already; True when it was pulled."""
    from docker.errors import APIError, ImageNotFound
    from docker.utils import parse_repository_tag

    try:
        client.images.get(image)
        return False
    except ImageNotFound:
        pass
    repository, tag = parse_repository_tag(image)
    progress = PullProgress(image)
    on_event(UIEvent("step", f"pulling {image}"))
    fix = "check the network, or set LOCALV4_WEBUI_IMAGE to an image you have (`docker images`)"
    try:
        for line in client.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
            if "error" in line:
                raise RuntimeFailure(f"could not pull {image}: {line['error']}; {fix}.")
            event = progress.update(line)
            if event:
                on_event(event)
    except APIError as err:
        raise RuntimeFailure(f"could not pull {image}: {err.explanation or err}; {fix}.") from None
    return True


def ensure_volume(client: DockerClient, name: str) -> None:
    from docker.errors import NotFound

    try:
        client.volumes.get(name)
    except NotFound:
        client.volumes.create(name=name, labels={LABEL: LABEL_VALUE})


def find(client: DockerClient, name: str) -> Container | None:
    from docker.errors import NotFound

    try:
        return client.containers.get(name)
    except NotFound:
        return None


def _start(container: Container, port: int) -> None:
    from docker.errors import APIError

    try:
        container.start()
    except APIError as err:
        text = str(err.explanation or err)
        if "port is already allocated" in text or "address already in use" in text:
            ui_port.ensure_free(port)  # raises the usual port-clash line
        raise RuntimeFailure(f"Docker could not start {container.name}: {text}") from None


def run_container(client: DockerClient, spec: ContainerSpec) -> tuple[Container, bool]:
    """The running container for `spec`, reused when its settings match; True when reused."""
    existing = find(client, spec.name)
    if existing is not None and existing.labels.get(LABEL) != LABEL_VALUE:
        raise RuntimeFailure(
            f"a container named {spec.name} exists that localv4 did not create: remove it "
            f"(`docker rm -f {spec.name}`) or set LOCALV4_WEBUI_NAME to another name."
        )
    if existing is not None and existing.labels.get(CONFIG_LABEL) == spec.fingerprint():
        if existing.status not in ("running", "restarting"):
            ui_port.ensure_free(spec.port)
            _start(existing, spec.port)
        return existing, True
    if existing is not None:
        existing.remove(force=True)  # settings changed: new env, same volume
    ui_port.ensure_free(spec.port)
    ensure_volume(client, spec.volume)
    container = client.containers.create(**spec.create_kwargs())
    try:
        _start(container, spec.port)
    except RuntimeFailure:
        container.remove(force=True)
        raise
    return container, False


def restart_count(container: Container) -> int:
    container.reload()
    return int(container.attrs.get("RestartCount") or 0)


def failure_reason(container: Container, restarts_before: int) -> str | None:
    """Why the container is not coming up, or None while it may still be starting."""
    restarts = restart_count(container)
    state = container.attrs.get("State") or {}
    if state.get("Status") not in ("exited", "dead") and restarts <= restarts_before:
        return None
    logs = container.logs(tail=20).decode("utf-8", "replace").strip().splitlines()
    last = logs[-1].strip() if logs else "no output"
    # Once Docker has restarted it, the exit code of the run that failed is gone (it reads 0).
    how = (f"exit code {state.get('ExitCode')}" if state.get("Status") in ("exited", "dead")
           else f"restarted {restarts - restarts_before} time(s)")
    return f"Open WebUI stopped while starting ({how}): {last}; see `docker logs {container.name}`."


def stop(client: DockerClient, name: str) -> bool:
    """Stop the container, keeping it and its volume; True when one was running."""
    container = find(client, name)
    if container is None or container.status not in ("running", "restarting"):
        return False
    container.stop(timeout=10)
    return True


def purge(client: DockerClient, name: str, volume: str) -> list[str]:
    """Remove localv4's container and the volume with every chat in it; what was removed.

    Objects with those names that localv4 did not label are left alone.
    """
    from docker.errors import NotFound

    removed = []
    container = find(client, name)
    if container is not None and container.labels.get(LABEL) == LABEL_VALUE:
        container.remove(force=True)
        removed.append(f"container {name}")
    try:
        data = client.volumes.get(volume)
    except NotFound:
        return removed
    if (data.attrs.get("Labels") or {}).get(LABEL) == LABEL_VALUE:
        data.remove()
        removed.append(f"volume {volume}")
    return removed
