"""Start, stop, find and open Open WebUI wired to the localv4 endpoint.

The one API behind `localv4 ui ...`, `up --ui`, `down` / `down --purge-ui` and the tray. The
endpoint comes in as a plain `serve.endpoint.Endpoint`; nothing here reads the engine's state.
"""

from __future__ import annotations

import shutil
import webbrowser
from dataclasses import asdict, dataclass, field

from localv4.errors import RuntimeFailure
from localv4.webui import docker_engine, native, readiness, ui_port
from localv4.webui.events import EventSink, UIEvent, ignore
from localv4.serve.endpoint import Endpoint
from localv4.webui.settings import WebUISettings, load_settings, parse_mode
from localv4.webui.state import UIRecord, clear_record, log_path, native_data_dir, read_record, write_record

__all__ = [
    "NativeOffer", "UIStarted", "UIStatus", "UIStopped", "install_native", "native_installed",
    "native_offer", "open_ui", "parse_mode", "start_ui", "stop_ui", "ui_status",
]


@dataclass(frozen=True)
class UIStarted:
    mode: str
    url: str
    endpoint: str  # OPENAI_API_BASE_URL as the UI sees it
    reused: bool  # the UI was already running with these settings and was left as it was
    pulled: bool  # the Docker image was downloaded
    opened: bool  # a browser was opened on `url`


@dataclass(frozen=True)
class UIStopped:
    stopped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class UIStatus:
    state: str  # "running", "stopped", "not started", or "unknown" (Docker unreachable)
    mode: str | None = None
    url: str | None = None
    endpoint: str | None = None
    answering: bool = False  # /health answers now
    detail: str | None = None  # where it runs and keeps its data, or why the state is unknown

    @property
    def running(self) -> bool:
        return self.state == "running"

    def to_dict(self) -> dict:
        return asdict(self) | {"running": self.running}


@dataclass(frozen=True)
class NativeOffer:
    """Docker cannot run Open WebUI here; `open-webui serve` can, installed with pip first if need be."""

    docker_problem: str  # the one line saying why Docker cannot be used, with its fix
    installed: bool  # open-webui is already in localv4's environment

    def question(self) -> str:
        from localv4.webui.settings import OPEN_WEBUI_VERSION

        install = "" if self.installed else f", after installing open-webui=={OPEN_WEBUI_VERSION} with pip (large)"
        cause = self.docker_problem.split(":", 1)[0]
        return f"Docker cannot run Open WebUI here ({cause}). Run it natively instead{install}?"


def native_offer(mode: str) -> NativeOffer | None:
    """For the Docker mode on a machine whose Docker engine does not answer: the native way instead.
    None when the mode is native already, or Docker answers."""
    if parse_mode(mode) != "docker":
        return None
    try:
        docker_engine.connect().close()
    except RuntimeFailure as err:
        return NativeOffer(str(err), native_installed())
    return None


def native_installed() -> bool:
    return native.find_executable(load_settings()) is not None


def install_native(on_event: EventSink = ignore) -> None:
    native.install(on_event)


def start_ui(
    upstream: Endpoint,
    mode: str = "docker",
    port: int | None = None,
    open_browser: bool = True,
    on_event: EventSink = ignore,
) -> UIStarted:
    """Run Open WebUI against `upstream`, wait until it answers, then open the browser."""
    mode = parse_mode(mode)
    settings = load_settings(port)
    _stop_other_mode(mode, settings)
    was_running = _running(read_record())[0] is True
    try:
        if mode == "docker":
            endpoint, reused, pulled, failure = _start_docker(settings, upstream, on_event)
            logs = f"`docker logs {settings.name}`"
        else:
            endpoint, reused, failure = _start_native(settings, upstream, on_event)
            pulled, logs = False, str(log_path())
        on_event(UIEvent("step", f"waiting for Open WebUI to answer at {settings.url}"))
        readiness.wait_until_answers(settings.url, failure, logs)
    except KeyboardInterrupt:
        # Ctrl-C while it starts: stop what this call started, as `down` would (its data stays),
        # so no UI is left coming up unwatched. One that was already running is left alone.
        if not was_running:
            stop_ui()
        raise
    opened = open_browser and webbrowser.open(settings.url)
    return UIStarted(mode, settings.url, endpoint, reused, pulled, bool(opened))


def _start_docker(settings: WebUISettings, upstream: Endpoint, on_event: EventSink):
    client = docker_engine.connect()
    network = docker_engine.detect_network(client, settings.network)
    spec = docker_engine.container_spec(settings, upstream, network)
    pulled = docker_engine.ensure_image(client, spec.image, on_event)
    on_event(UIEvent("step", f"starting container {spec.name} (data in volume {spec.volume})"))
    container, reused = docker_engine.run_container(client, spec)
    write_record(UIRecord("docker", settings.port, settings.url, spec.endpoint))
    restarts = docker_engine.restart_count(container)
    return spec.endpoint, reused, pulled, lambda: docker_engine.failure_reason(container, restarts)


def _start_native(settings: WebUISettings, upstream: Endpoint, on_event: EventSink):
    executable = native.find_executable(settings)
    if executable is None:
        raise RuntimeFailure(
            "Open WebUI is not installed in localv4's environment: run `localv4 ui start --mode native "
            "--yes` to install it with pip, or use Docker: `localv4 ui start`."
        )
    plan = native.launch(executable, settings, upstream)
    endpoint = plan.env["OPENAI_API_BASE_URL"]
    record = read_record()
    if _native_alive(record):
        if record.fingerprint == plan.fingerprint:
            return endpoint, True, lambda: None
        native.stop(record.pid, record.create_time)
    ui_port.ensure_free(settings.port)
    on_event(UIEvent("step", f"starting open-webui serve (data in {plan.cwd})"))
    proc = native.spawn(plan, log_path())
    started_at = native.start_time(proc.pid)
    write_record(UIRecord("native", settings.port, settings.url, endpoint, proc.pid, started_at, plan.fingerprint))
    return endpoint, False, lambda: native.failure_reason(proc, log_path())


def _native_alive(record: UIRecord | None) -> bool:
    if record is None or record.mode != "native" or not record.pid:
        return False
    return native.is_running(record.pid, record.create_time or 0.0)


def _stop_other_mode(mode: str, settings: WebUISettings) -> None:
    """One UI at a time: starting one mode stops the other (its data stays)."""
    record = read_record()
    if record is None or record.mode == mode:
        return
    if record.mode == "native" and _native_alive(record):
        native.stop(record.pid, record.create_time)
    elif record.mode == "docker":
        try:
            client = docker_engine.connect()
        except RuntimeFailure:
            return  # no daemon: its containers are not running either
        docker_engine.stop(client, settings.name)


def stop_ui(purge: bool = False) -> UIStopped:
    """Stop the UI, keeping its data; `purge` also deletes it (container, volume, native data)."""
    settings = load_settings()
    record = read_record()
    result = UIStopped()
    if _native_alive(record):
        native.stop(record.pid, record.create_time)
        result.stopped.append(f"open-webui serve (pid {record.pid})")
    client = _docker_for_stop(record, purge)
    if client is not None:
        if docker_engine.stop(client, settings.name):
            result.stopped.append(f"container {settings.name}")
        if purge:
            result.removed.extend(docker_engine.purge(client, settings.name, settings.volume))
    if purge:
        data = native_data_dir()
        if data.exists():
            shutil.rmtree(data)
            result.removed.append(f"native data {data}")
        clear_record()
    return result


def _docker_for_stop(record: UIRecord | None, purge: bool):
    """A Docker client when the UI ran there or data may be purged there, else None.

    A daemon that cannot be reached has no running containers, so this is an error only when
    purging a UI that ran in Docker (its volume could not be deleted).
    """
    ran_in_docker = bool(record and record.mode == "docker")
    if not (purge or ran_in_docker):
        return None
    try:
        return docker_engine.connect()
    except RuntimeFailure:
        if purge and ran_in_docker:
            raise
        return None


def ui_status() -> UIStatus:
    record = read_record()
    if record is None:
        return UIStatus("not started")
    running, detail = _running(record)
    if running is None:
        return UIStatus("unknown", record.mode, record.url, record.endpoint, detail=detail)
    answering = running and readiness.answers(record.url)
    return UIStatus("running" if running else "stopped", record.mode, record.url, record.endpoint, answering, detail)


def _running(record: UIRecord | None) -> tuple[bool | None, str]:
    """Whether the recorded UI runs (None: cannot tell) and where it keeps its data."""
    if record is None:
        return False, "not started"
    return _native_state(record) if record.mode == "native" else _docker_state(record)


def _native_state(record: UIRecord) -> tuple[bool, str]:
    running = _native_alive(record)
    where = f"data in {native_data_dir()}, log {log_path()}"
    return running, (f"open-webui serve (pid {record.pid}), {where}" if running else where)


def _docker_state(record: UIRecord) -> tuple[bool | None, str]:
    """Whether the container runs (None: Docker cannot be asked) and where the data is."""
    settings = load_settings()
    try:
        container = docker_engine.find(docker_engine.connect(), settings.name)
    except RuntimeFailure as err:
        return None, str(err)
    if container is None:
        return False, f"no container {settings.name}; data in volume {settings.volume}"
    image = container.attrs["Config"]["Image"]
    return container.status in ("running", "restarting"), f"container {settings.name} ({image}), volume {settings.volume}"


def open_ui() -> tuple[str, bool]:
    """Open the running UI in the browser; its URL, and whether a browser was opened."""
    status = ui_status()
    if not status.running or not status.url:
        raise RuntimeFailure("Open WebUI is not running: start it with `localv4 ui start` (or `localv4 up --ui`).")
    return status.url, webbrowser.open(status.url)
