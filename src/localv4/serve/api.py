"""`up`, `down`, `status`: the serving stage as plain Python, for the CLI, the UI and the tray.

up: plan -> weights (pulled if missing) -> one engine process -> ready (alive, healthy, and a
one-token completion works) -> recorded in server.json. Anything that fails on the way stops
the engine it started, so no process is ever left behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.plan_model import Plan
from localv4.serve import engines, logs, ports, process, readiness
from localv4.serve.state import (
    ServerState,
    bench_path,
    clear_state,
    ensure_api_key,
    ensure_state_dir,
    log_path,
    read_key_file,
    read_state,
    server_lock,
    write_state,
)

__all__ = [
    "EngineLoadFailed", "ServerInfo", "ServerStatus", "UpEvent", "UpOptions",
    "down", "log_path", "read_api_key", "status", "up",
]

DEFAULT_HOST = "127.0.0.1"
READY_TIMEOUT_S = 3600.0  # the largest variants take minutes to read from disk
FAILURE_LOG_LINES = 20


@dataclass(frozen=True)
class UpOptions:
    variant: str | None = None  # "UD-Q2_K_XL", or "recipe-id:variant"
    model: str | None = None  # recipe id; default deepseek-v4-flash
    ctx: int | None = None
    port: str | int | None = None  # None: 8484; "auto": any free port
    host: str = DEFAULT_HOST
    backend: str | None = None  # "llama-server" | "llama-cpp-python" | "mlx"; None: the plan's
    reasoning: str | None = None  # "off" | "high" | "max"; None: the recipe's default
    foreground: bool = False  # the engine dies with this process (Linux); the caller streams the log
    ready_timeout: float = READY_TIMEOUT_S


@dataclass(frozen=True)
class UpEvent:
    """Progress for a spinner: stage is plan | pull | start | load | ready."""

    stage: str
    message: str
    detail: object = None  # pull: the weights stage's own event


@dataclass(frozen=True)
class ServerInfo:
    server: ServerState
    already_running: bool


@dataclass(frozen=True)
class ServerStatus:
    state: str  # "running" | "loading" | "stopped" | "crashed"
    server: ServerState | None = None
    uptime_s: float | None = None
    rss_bytes: int | None = None
    bench_tok_s: float | None = None  # the last `localv4 bench` generation speed
    log_tail: tuple[str, ...] = field(default_factory=tuple)  # when crashed

    def to_dict(self) -> dict:
        server = self.server
        return {
            "state": self.state,
            "endpoint": server.endpoint if server else None,
            "model_id": server.model_id if server else None,
            **({k: v for k, v in asdict(server).items() if k != "model_id"} if server else {}),
            "uptime_s": self.uptime_s,
            "rss_bytes": self.rss_bytes,
            "bench_tok_s": self.bench_tok_s,
            "log_tail": list(self.log_tail),
        }


class EngineLoadFailed(RuntimeFailure):
    """The engine exited while loading: the cause in words, and the log lines that show it."""

    def __init__(self, cause: str, log_tail: list[str]) -> None:
        super().__init__(f"the engine failed to load the model: {cause}.")
        self.cause = cause
        self.log_tail = tuple(log_tail)


def _ignore(_: UpEvent) -> None:
    pass


# ---------------------------------------------------------------- status, down


def status() -> ServerStatus:
    server = read_state()
    if server is None:
        return ServerStatus("stopped")
    proc = process.find(server.pid, server.create_time)
    if proc is None:
        return ServerStatus("crashed", server, log_tail=tuple(logs.tail(Path(server.log), FAILURE_LOG_LINES)))
    return ServerStatus(
        "running" if server.ready_at else "loading",
        server,
        uptime_s=time.time() - server.started_at,
        rss_bytes=process.rss_bytes(proc),
        bench_tok_s=last_bench_tok_s(),
    )


def down() -> ServerState | None:
    """Stop the engine (SIGTERM, SIGKILL after a timeout) and forget it; None if none was known."""
    server = read_state()
    if server is None:
        return None
    process.stop(server.pid, server.create_time)
    clear_state()
    return server


def read_api_key() -> str | None:
    """The key clients must send to the running endpoint; None when it needs none."""
    server = read_state()
    if server is None or not server.api_key_file:
        return None
    return read_key_file(server.api_key_file)


def last_bench_tok_s() -> float | None:
    try:
        value = json.loads(bench_path().read_text(encoding="utf-8")).get("generation_tok_s")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


# ---------------------------------------------------------------- up


def make_plan(options: UpOptions) -> Plan:
    from localv4 import planner
    from localv4.hardware import detect
    from localv4.recipes import load_catalog

    model, variant = options.model, options.variant
    if variant and ":" in variant:
        model, variant = variant.split(":", 1)
    recipe = load_catalog().recipe(model)
    if variant is not None:
        variant = recipe.variant(variant).id  # unknown names fail here, before any probing
    return planner.plan(detect(), recipe, variant=variant, ctx=options.ctx)


def model_path(plan: Plan, report: Callable[[UpEvent], None]) -> Path:
    """Where the plan's weights are on disk (the GGUF entry file or the MLX folder); pulls them
    first when they are missing."""
    from localv4 import weights

    variant = plan.variant
    found = weights.locate(variant)
    if found is None:
        report(UpEvent("pull", f"downloading {variant.qualified_id}"))
        found = weights.pull(variant, on_event=lambda e: report(UpEvent("pull", _pull_text(e), e)))
    return Path(found.path)


def _pull_text(event: object) -> str:
    """A spinner line for a pull event (the CLI prints the weights stage's own lines besides)."""
    from localv4.weights import FileProgress

    if isinstance(event, FileProgress) and event.size:
        return f"downloading {event.path}: {100 * event.done / event.size:.0f}%"
    return "downloading"


def _running() -> ServerState | None:
    """The engine already up (or loading); a crashed one's record is dropped, its log kept."""
    current = status()
    if current.state in ("running", "loading"):
        return current.server
    if current.state == "crashed":
        clear_state()
    return None


def _fresh_log() -> Path:
    """A new log for this engine; the previous one is kept as server.log.1 for a post-mortem."""
    ensure_state_dir()
    path = log_path()
    if path.exists():
        path.replace(path.with_name(path.name + ".1"))
    path.touch()
    return path


def up(options: UpOptions, on_event: Callable[[UpEvent], None] = _ignore,
       plan: Plan | None = None, weights: Path | None = None) -> ServerInfo:
    """Serve the plan; returns once the endpoint answers a completion (or if it already was up).

    `plan` (else planned here from the options) and `weights` (else located, pulled if missing)
    let a caller that already has them - the UI's plan screen, a test - skip those steps.
    """
    requested_port = ports.parse_port(options.port)
    asked_backend = engines.parse_backend(options.backend)
    host = ports.check_host(options.host)
    with server_lock():
        running = _running()
        if running is not None:
            return ServerInfo(running, already_running=True)
        if plan is None:
            on_event(UpEvent("plan", "planning"))
            plan = make_plan(options)
        backend = engines.choose_backend(plan, asked_backend)
        reasoning = engines.resolve_reasoning(plan, options.reasoning)
        path = weights if weights is not None else model_path(plan, on_event)
        port = ports.choose_port(host, requested_port)
        key_file = None if ports.is_loopback(host) else ensure_api_key()
        inputs = engines.EngineInputs(plan, path, host, port, key_file, reasoning)
        command = engines.build_command(backend, inputs)
        return _start(plan, command, inputs, options, on_event)


def _start(plan: Plan, command: engines.EngineCommand, inputs: engines.EngineInputs,
           options: UpOptions, on_event: Callable[[UpEvent], None]) -> ServerInfo:
    log = _fresh_log()
    on_event(UpEvent("start", f"starting {command.backend}"))
    child = process.spawn(command.argv, {**os.environ, **command.env}, log, options.foreground)
    started = process.create_time(child.pid)  # a zombie keeps it: safe even if it died at once
    try:
        server = ServerState(
            pid=child.pid, create_time=started, backend=command.backend, engine=plan.engine,
            model_id=plan.model.served_name, variant=plan.variant.qualified_id, context=plan.context,
            placement=plan.placement, host=inputs.host, port=inputs.port, log=str(log),
            started_at=time.time(), foreground=options.foreground,
            api_key_file=str(inputs.api_key_file) if inputs.api_key_file else None,
        )
        write_state(server)
        key = read_key_file(inputs.api_key_file) if inputs.api_key_file else None
        endpoint = readiness.Endpoint(server.base_url, command.health_path, server.model_id, key)
        shown = [f"starting {command.backend}"]

        def waiting() -> None:
            shown[0] = logs.phase(logs.tail(log, 5)) or shown[0]  # the latest phase the log told
            on_event(UpEvent("load", shown[0]))

        readiness.wait_ready(child, endpoint, waiting, options.ready_timeout)
        server = dataclasses.replace(server, ready_at=time.time())
        write_state(server)
    except BaseException as err:  # Ctrl-C included: never leave the engine behind
        process.stop(child.pid, started)
        clear_state()
        if isinstance(err, readiness.EngineExited):
            lines = logs.tail(log, FAILURE_LOG_LINES)
            raise EngineLoadFailed(logs.failure_cause(lines, err.exit_code), lines) from None
        raise
    on_event(UpEvent("ready", f"ready at {server.endpoint}"))
    return ServerInfo(server, already_running=False)
