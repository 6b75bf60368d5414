"""Real Docker for the UI tests: a stand-in Open WebUI image and a local registry.

Registries are unreachable in tests, so the stand-in image is built here with `docker import` of
a tiny root filesystem: a static busybox whose httpd plays Open WebUI. Like the real image's
start.sh, it listens on ${HOST:-0.0.0.0}:${PORT:-8080} and answers /health; /app/backend/data
exists for the volume. Tests skip (with the reason) when no Docker daemon can be reached.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import struct
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .enable import start_docker
from .ports import free_port

STANDIN_CMD = 'exec /bin/busybox httpd -f -p "${HOST:-0.0.0.0}:${PORT:-8080}" -h /www'
CRASHING_CMD = "echo 'stand-in: cannot open database' >&2; exit 3"
STANDIN_IMAGE = "localv4-test/open-webui:standin"
CRASHING_IMAGE = "localv4-test/open-webui:crashing"


def docker_client_or_skip():
    """A client for the local daemon, or skip the test saying why there is none."""
    docker = pytest.importorskip("docker", reason="needs the Docker SDK for Python (pip install docker)")
    from docker.errors import DockerException

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as err:
        pytest.skip(f"no Docker daemon reachable ({err}); to run the UI's Docker tests: {start_docker()}")
    return client


def static_busybox_or_skip() -> Path:
    """A statically linked busybox (the rootfs has no libc); Debian: busybox-static."""
    found = shutil.which("busybox") or "/bin/busybox"
    path = Path(found)
    if not path.is_file() or _has_interpreter(path.read_bytes()):
        pytest.skip("no static busybox (apt install busybox-static) for the stand-in Open WebUI image")
    return path


def _has_interpreter(elf: bytes) -> bool:
    """Whether a 64-bit little-endian ELF asks for a dynamic loader (a PT_INTERP header)."""
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    return any(struct.unpack_from("<I", elf, phoff + i * phentsize)[0] == 3 for i in range(phnum))


def _rootfs(busybox: Path, extra: dict[str, bytes]) -> bytes:
    files = {"bin/busybox": (busybox.read_bytes(), 0o755), "www/health": (b'{"status":true}\n', 0o644)}
    files |= {name: (data, 0o644) for name, data in extra.items()}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "www", "tmp", "app/backend/data"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        for applet in ("sh", "wget", "cat", "echo", "env"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return buffer.getvalue()


def build_standin(client, image: str, command: str = STANDIN_CMD, extra: dict[str, bytes] | None = None) -> str:
    """Import the stand-in rootfs as `image` (repository:tag); returns `image`."""
    repository, _, tag = image.rpartition(":")
    cmd = json.dumps(["/bin/busybox", "sh", "-c", command])
    client.api.import_image_from_data(
        _rootfs(static_busybox_or_skip(), extra or {}), repository=repository, tag=tag,
        changes=[f"CMD {cmd}", "ENV PATH=/bin"],
    )
    return image


def remove_image(client, image: str) -> None:
    """Remove a test image (all its layers that nothing else uses); gone already is fine."""
    from docker.errors import ImageNotFound

    try:
        client.images.remove(image, force=True)
    except ImageNotFound:
        pass


def exec_in(container, command: str) -> tuple[int, str]:
    """Run `sh -c command` inside the container, as `docker exec` does."""
    code, output = container.exec_run(["/bin/busybox", "sh", "-c", command])
    return code, output.decode("utf-8", "replace")


# --- a local registry, for a real streaming pull ----------------------------------------------


@contextlib.contextmanager
def local_registry(tmp: Path) -> Iterator[str]:
    """Debian's docker-registry on 127.0.0.1:<free port> (Docker trusts loopback registries)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is not installed (apt install docker-registry): no local registry to pull from")
    port = free_port()
    config = tmp / "registry.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp / 'registry'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    with open(tmp / "registry.log", "wb") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def docker_client():
    """A client for the local daemon with the stand-in image built; the test images are removed after."""
    client = docker_client_or_skip()
    build_standin(client, STANDIN_IMAGE)
    yield client
    for image in (STANDIN_IMAGE, CRASHING_IMAGE):
        remove_image(client, image)


@pytest.fixture
def ui(docker_client, monkeypatch: pytest.MonkeyPatch):
    """A uniquely named UI on the stand-in image; its container and volume are removed after."""
    name = f"localv4-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LOCALV4_WEBUI_NAME", name)
    monkeypatch.setenv("LOCALV4_WEBUI_IMAGE", STANDIN_IMAGE)
    yield name
    for container in docker_client.containers.list(all=True, filters={"name": name}):
        container.remove(force=True)
    for volume in docker_client.volumes.list(filters={"name": name}):
        volume.remove(force=True)


def container_env(container) -> dict[str, str]:
    """The container's environment as the process inside sees it."""
    return dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
