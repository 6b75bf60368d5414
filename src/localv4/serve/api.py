"""`up`, `down`, `status`: the serving stage as plain Python, for the CLI, the UI and the tray.

up: a plan and its weights on disk -> one engine process -> ready (alive, healthy, and a
one-token completion works) -> recorded in server.json, the plan with it. (Planning and pulling
come before, in `localv4.flow`.) Anything that fails on the way stops
the engine it started, so no process is ever left behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.net import is_loopback
from localv4.planning.values import Plan
from localv4.recipes import Recipe, Variant
from localv4.serve import logs, ports, process, readiness
from localv4.serve.endpoint import Endpoint
from localv4.serve.engines import policy, registry
from localv4.serve.engines.base import EngineCommand, EngineInputs
from localv4.serve.state import (
    ServerBusy,
    ServerState,
    StateDamaged,
    bench_path,
    clear_state,
    endpoint_of,
    ensure_api_key,
    ensure_state_dir,
    log_path,
    read_state,
    server_lock,
    set_aside_damaged,
    state_path,
    write_state,
)

__all__ = [
    "CheckedServe", "EngineLoadFailed", "ServeOptions", "ServerInfo", "ServerStatus", "Serving", "UpEvent",
    "already_serving", "down", "log_path", "read_api_key", "serving", "status", "up",
]

DEFAULT_HOST = "127.0.0.1"
BUSY_WAIT_S = 2.0  # how long `up` waits for another `up` to finish before saying it is there
READY_TIMEOUT_S = 3600.0  # the largest variants take minutes to read from disk
FAILURE_LOG_LINES = 20
RPC_LOG_LINES = 200


@dataclass(frozen=True)
class ServeOptions:
    """How to serve a plan, as asked: where to listen, which engine, which default thinking mode.
    `check` turns it into `CheckedServe`, once, before any slow work."""

    port: str | int | None = None  # None: 8484; "auto": any free port
    host: str = DEFAULT_HOST
    backend: str | None = None  # "llama-server" | "xllamacpp" | "llama-cpp-python" | "mlx"; None: the plan's
    reasoning: str | None = None  # "off" | "high" | "max"; None: the recipe's default
    foreground: bool = False  # the engine dies with this process (Linux); the caller streams the log
    ready_timeout: float = READY_TIMEOUT_S
    engine_args: tuple[str, ...] = ()  # the engine's own flags, after localv4's (`up -- FLAGS`)

    def check(self, recipe: Recipe | None = None, variant: Variant | None = None) -> CheckedServe:
        """Refuse bad values (UsageError) before any slow work: alone, then against the recipe and
        the variant asked for (before planning)."""
        backend = policy.parse_backend(self.backend)
        policy.check_engine_args(self.engine_args, backend)
        if recipe is not None:
            policy.check_reasoning(recipe.model, self.reasoning)
        if variant is not None:
            policy.check_format(variant, backend)
        return CheckedServe(ports.parse_port(self.port), ports.check_host(self.host), backend, self.reasoning,
                            self.foreground, self.ready_timeout, self.engine_args)


@dataclass(frozen=True)
class CheckedServe:
    """ServeOptions parsed and checked; `for_plan` settles the backend and thinking mode for one
    plan, so `flow` refuses before any download and `up` starts what was settled."""

    port: int | None  # None: any free port
    host: str
    backend: str | None  # None: the plan's default, until `for_plan`
    reasoning: str | None  # as asked; None: the recipe's default
    foreground: bool
    ready_timeout: float
    engine_args: tuple[str, ...]
    plan: Plan | None = field(default=None, repr=False, compare=False)  # what `for_plan` settled them for
    thinking: str | None = None  # `for_plan`: the mode the engine starts with (the asked one, else the recipe's)

    def for_plan(self, plan: Plan) -> CheckedServe:
        """The backend that serves `plan` and its thinking default (NoEngine, UsageError if none)."""
        if self.plan is plan:
            return self
        backend = policy.choose_backend(plan, self.backend)
        policy.check_engine_args(self.engine_args, backend)
        return dataclasses.replace(self, backend=backend, thinking=policy.resolve_reasoning(plan, self.reasoning),
                                   plan=plan)


@dataclass(frozen=True)
class UpEvent:
    """Progress for a spinner: stage is plan | install | pull | start | load | ready."""

    stage: str
    message: str
    detail: object = None  # pull: the weights stage's own event
    keep: bool = False  # a line to print and keep (the install's choices, its log), not spinner text


@dataclass(frozen=True)
class ServerInfo:
    server: ServerState
    already_running: bool


@dataclass(frozen=True)
class ServerStatus:
    state: str  # "running" | "loading" | "unresponsive" | "stopped" | "crashed"
    server: ServerState | None = None
    uptime_s: float | None = None
    rss_bytes: int | None = None
    bench_tok_s: float | None = None  # the last `localv4 bench` generation speed
    log_tail: tuple[str, ...] = field(default_factory=tuple)  # when crashed or unresponsive
    workers: tuple = ()  # a pooled engine's workers, each a rpc.probe.WorkerHealth
    problem: str | None = None  # why it is "crashed", in one line: which worker, what the engine said
    note: str | None = None  # why it is "unresponsive", or what was recovered (a damaged record)
    endpoint: Endpoint | None = None  # a live engine as clients reach it, its key read once

    def to_dict(self) -> dict:
        server = self.server
        return {
            "state": self.state,
            "endpoint": server.endpoint if server else None,
            "model_id": server.model_id if server else None,
            **({k: v for k, v in server.to_dict().items() if k != "model_id"} if server else {}),
            "uptime_s": self.uptime_s,
            "rss_bytes": self.rss_bytes,
            "bench_tok_s": self.bench_tok_s,
            "log_tail": list(self.log_tail),
            "workers": [w.to_dict() for w in self.workers],
            "problem": self.problem,
            "note": self.note,
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
    """What the engine is doing; a pooled one is "crashed" as soon as one of its workers is gone
    (the engine cannot serve without it, and may wait on it forever), with that worker named; a
    live one that does not answer is "unresponsive", bounded by ANSWER_TIMEOUT_S even when it hangs."""
    try:
        server = read_state()
    except StateDamaged as err:
        return ServerStatus("stopped", note=_set_aside(err, stop_orphans=False))
    if server is None:
        return ServerStatus("stopped")
    proc = process.find(server.pid, server.create_time)
    workers = _worker_health(server)
    lost = [w for w in workers if not w.ok]
    if proc is None or lost:
        tail = tuple(logs.tail(Path(server.log), FAILURE_LOG_LINES))
        said = _engine_rpc_line(Path(server.log)) if server.workers else None
        return ServerStatus("crashed", server, log_tail=tail, workers=workers,
                            problem=_pool_problem(lost, said, engine_alive=proc is not None))
    endpoint = endpoint_of(server)
    silent = (readiness.not_answering(proc, readiness.Probe(endpoint, server.health_path or "/v1/models"))
              if server.ready_at else readiness.stopped(proc))
    return ServerStatus(
        "unresponsive" if silent else "running" if server.ready_at else "loading",
        server,
        uptime_s=time.time() - server.started_at,
        rss_bytes=process.rss_bytes(proc),
        bench_tok_s=last_bench_tok_s(),
        log_tail=tuple(logs.tail(Path(server.log), FAILURE_LOG_LINES)) if silent else (),
        workers=workers,
        note=silent,
        endpoint=endpoint,
    )


def _worker_health(server: ServerState) -> tuple:
    if not server.workers:
        return ()
    from localv4.rpc.probe import health

    return health(server.workers)


def _engine_rpc_line(log: Path) -> str | None:
    """The engine's last word about RPC (an abort prints a backtrace after it, so look further back)."""
    lines = logs.tail(log, RPC_LOG_LINES)
    return next((line.split(": ", 1)[-1] for line in reversed(lines) if "RPC" in line), None)


def _pool_problem(lost: list, said: str | None, engine_alive: bool) -> str | None:
    """'worker 10.0.0.2:50052 is gone (connection refused); the engine said: ...'."""
    if not lost:
        return None
    names = "; ".join(f"worker {w.endpoint} is gone ({w.detail})" for w in lost)
    engine = (f"the engine said: {said.strip()}" if said else
              "the engine is still waiting on it" if engine_alive else "the engine exited")
    return f"{names}; {engine}"


def _set_aside(err: StateDamaged, stop_orphans: bool) -> str:
    """A damaged server.json: keep it aside, find the engine still writing its log (and stop it
    when asked), and say what was done."""
    kept = set_aside_damaged()
    orphans = process.writing_to(log_path())
    pids = ", ".join(str(p.pid) for p in orphans)
    if orphans and stop_orphans:
        process.stop_processes(orphans)
        found = f"; stopped the engine that was still running (pid {pids})"
    elif orphans:
        found = f"; an engine still runs without a record (pid {pids}): `localv4 down` stops it"
    else:
        found = "; no engine of it is running"
    return f"{err}: kept it as {kept.name} and started a new record{found}."


def down(on_note: Callable[[str], None] = lambda _: None) -> ServerState | None:
    """Stop the engine (SIGTERM, SIGKILL after a timeout) and forget it; None if none was known.

    With no record (none, or a damaged one), an engine still writing our log is stopped too."""
    try:
        server = read_state()
    except StateDamaged as err:
        on_note(_set_aside(err, stop_orphans=True))
        return None
    if server is None:
        orphans = process.writing_to(log_path()) if log_path().exists() else []
        if orphans:
            process.stop_processes(orphans)
            on_note(f"stopped an engine that had no record (pid {', '.join(str(p.pid) for p in orphans)}).")
        return None
    clear_state()  # first: an `up` still loading this engine sees it was stopped on purpose
    process.stop(server.pid, server.create_time)
    return server


NOT_SERVING = {
    "stopped": "no model is running. Start one with `localv4 up`.",
    "loading": "the model is still loading. Try again when `localv4 status` says running.",
    "crashed": "the engine has crashed (or lost a pooled worker): `localv4 status` says why, "
               "`localv4 up` starts it again.",
    "unresponsive": "the engine is not answering: `localv4 status` says why, `localv4 down` stops it.",
}


@dataclass(frozen=True)
class Serving:
    """The endpoint `up` started, as a client needs it (where, which model id, which key), and the
    record of the engine behind it."""

    state: str  # "running" | "loading"
    server: ServerState
    endpoint: Endpoint


def serving(accept_loading: bool = False) -> Serving:
    """The running endpoint (the one answer for chat, bench, the agents, the UI and the tray), from
    one reading of the record and the key; else RuntimeFailure saying why there is none and what
    to do."""
    current = status()
    wanted = ("running", "loading") if accept_loading else ("running",)
    if current.state not in wanted or current.server is None or current.endpoint is None:
        if current.problem:
            raise RuntimeFailure(f"{current.problem}. `localv4 down`, start the worker again, then `localv4 up --pool ...`.")
        raise RuntimeFailure(NOT_SERVING.get(current.state, f"the model is {current.state}."))
    return Serving(current.state, current.server, current.endpoint)


def read_api_key() -> str | None:
    """The key clients must send to the recorded endpoint; None when it needs none (or none runs)."""
    server = read_state()
    return endpoint_of(server).api_key if server is not None else None


def last_bench_tok_s() -> float | None:
    try:
        value = json.loads(bench_path().read_text(encoding="utf-8")).get("generation_tok_s")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


# ---------------------------------------------------------------- up


def _running(on_event: Callable[[UpEvent], None] = _ignore) -> ServerState | None:
    """The engine already up (or loading); a crashed one's record is dropped, its log kept; a
    damaged record is set aside (its engine stopped); one that does not answer is refused."""
    try:
        read_state()
    except StateDamaged as err:
        on_event(UpEvent("recover", _set_aside(err, stop_orphans=True), keep=True))
    current = status()
    if current.state in ("running", "loading"):
        return current.server
    if current.state == "unresponsive":
        raise RuntimeFailure(f"an engine is up but {current.note}; `localv4 down` stops it, "
                             "then run the same command again.")
    if current.state == "crashed":  # a pooled engine that lost a worker may still be alive: stop it
        process.stop(current.server.pid, current.server.create_time)
        clear_state()
    return None


def already_serving(on_event: Callable[[UpEvent], None] = _ignore) -> ServerInfo | None:
    """The endpoint `up` would return without starting anything, if one is up or loading."""
    running = _running(on_event)
    return ServerInfo(running, already_running=True) if running is not None else None


def _fresh_log() -> Path:
    """A new log for this engine; the previous one is kept as server.log.1 for a post-mortem."""
    ensure_state_dir()
    path = log_path()
    if path.exists():
        path.replace(path.with_name(path.name + ".1"))
    path.touch()
    return path


def up(plan: Plan, weights: Path, options: ServeOptions | CheckedServe = ServeOptions(),
       on_event: Callable[[UpEvent], None] = _ignore, draft: Path | None = None) -> ServerInfo:
    """Serve `plan` from `weights` (the GGUF entry file or the MLX folder); returns once the endpoint
    answers a completion, or at once if an engine is already up. `draft`: the plan's draft GGUF,
    used where the backend declares speculative decoding. `options` checked already (`flow`) are
    not checked again. Planning and pulling are earlier stages: `localv4.flow.up` runs the whole flow."""
    serve = (options if isinstance(options, CheckedServe) else options.check()).for_plan(plan)
    try:
        with server_lock(BUSY_WAIT_S):
            running = _running(on_event)
            if running is not None:
                return ServerInfo(running, already_running=True)
            port = ports.choose_port(serve.host, serve.port)
            key_file = None if is_loopback(serve.host) else ensure_api_key()
            speculative = registry.BACKENDS[serve.backend].capabilities.speculative
            use_draft = draft if plan.draft is not None and speculative else None
            inputs = EngineInputs(plan, weights, serve.host, port, key_file, serve.thinking, draft_path=use_draft)
            command = policy.build_command(serve.backend, inputs, serve.engine_args)
            return _start(plan, command, inputs, serve, on_event)
    except ServerBusy as busy:  # the other `up` does the work; this one says so and changes nothing
        raise ServerBusy(f"{busy}{_starting()}; this one changed nothing. `localv4 status` shows "
                         "when it is ready.") from None


def _draft_line(plan: Plan, draft_path: Path | None) -> str | None:
    """What `status` names: the draft's file (GGUF), or its repo where the draft is a folder (MLX)."""
    if draft_path is None or plan.draft is None:
        return None
    return f"{plan.draft.kind}: {draft_path.name if plan.draft.format == 'gguf' else plan.draft.repo}"


def _starting() -> str:
    """What the other `up` has recorded so far, if anything."""
    try:
        server = read_state()
    except StateDamaged:
        return ""
    return f" ({server.variant}, engine pid {server.pid}, loading)" if server else ""


def _start(plan: Plan, command: EngineCommand, inputs: EngineInputs,
           options: CheckedServe, on_event: Callable[[UpEvent], None]) -> ServerInfo:
    log = _fresh_log()
    on_event(UpEvent("start", f"starting {command.backend}"))
    child = process.spawn(command.argv, {**os.environ, **command.env}, log, options.foreground)
    started = process.create_time(child.pid)  # a zombie keeps it: safe even if it died at once
    try:
        server = ServerState(
            pid=child.pid, create_time=started, backend=command.backend, plan=plan, host=inputs.host,
            port=inputs.port, log=str(log), started_at=time.time(), foreground=options.foreground,
            api_key_file=str(inputs.api_key_file) if inputs.api_key_file else None,
            health_path=command.health_path, draft=_draft_line(plan, inputs.draft_path),
            reasoning=options.reasoning, engine_args=options.engine_args,
        )
        write_state(server)
        probe = readiness.Probe(endpoint_of(server), command.health_path)
        shown = [f"starting {command.backend}"]

        def waiting() -> None:
            shown[0] = logs.phase(logs.tail(log, 5)) or shown[0]  # the latest phase the log told
            on_event(UpEvent("load", shown[0]))
            lost = [w for w in _worker_health(server) if not w.ok]  # a pooled load must not wait forever
            if lost:
                raise RuntimeFailure(f"{_pool_problem(lost, _engine_rpc_line(log), engine_alive=True)}: "
                                     "start `localv4 worker` there again, then `localv4 up --pool ...`.")

        readiness.wait_ready(child, probe, waiting, options.ready_timeout)
        server = dataclasses.replace(server, ready_at=time.time())
        write_state(server)
    except BaseException as err:  # Ctrl-C included: never leave the engine behind
        stopped_by_down = isinstance(err, readiness.EngineExited) and not state_path().exists()
        process.stop(child.pid, started)
        clear_state()
        if stopped_by_down:
            raise RuntimeFailure("`localv4 down` stopped the engine while it was loading.") from None
        if isinstance(err, readiness.EngineExited):
            lines = logs.tail(log, FAILURE_LOG_LINES)
            raise EngineLoadFailed(logs.failure_cause(lines, err.exit_code), lines) from None
        raise
    on_event(UpEvent("ready", f"ready at {server.endpoint}"))
    return ServerInfo(server, already_running=False)
