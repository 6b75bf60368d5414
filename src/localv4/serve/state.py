"""The running engine's record in the state dir: server.json, its log, its API key, a lock.

server.json is how `status`, `down`, the UI and the tray find the engine that `up` started, so it
is written atomically (temp file + rename) and never holds a secret: the API key lives in its own
file, mode 0600, and server.json only names that file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localv4.codec import from_json, to_json
from localv4.errors import RuntimeFailure
from localv4.paths import state_dir
from localv4.planning.values import Plan
from localv4.serve.endpoint import Endpoint
from localv4.storage import Busy, NotWritable, ensure_folder, exclusive, write_atomic

STATE_FILE = "server.json"
LOG_FILE = "server.log"
KEY_FILE = "api-key"
LOCK_FILE = "server.lock"
BENCH_FILE = "bench.json"


@dataclass(frozen=True)
class ServerState:
    """What `up` started: the plan it serves, as planned, and what running it added (the process,
    where it listens, its key file, flags and times). The rest is read from the plan."""

    pid: int
    create_time: float  # the process's start time (psutil): tells our engine from a reused pid
    backend: str  # "llama-server" | "llama-cpp-python" | "mlx"
    plan: Plan  # the plan it serves, its estimate included
    host: str
    port: int
    log: str
    started_at: float
    ready_at: float | None = None
    api_key_file: str | None = None
    foreground: bool = False
    health_path: str | None = None  # the engine's health route, which `status` asks
    draft: str | None = None  # "dspark: <file>" when the engine decodes speculatively; None: no draft
    reasoning: str | None = None  # the default thinking mode `up` was asked for; None: the recipe's
    engine_args: tuple[str, ...] = ()  # the engine's own flags `up` was given after `--`

    @property
    def engine(self) -> str:
        """The plan's engine family: "llama.cpp" | "mlx"."""
        return self.plan.engine

    @property
    def model_id(self) -> str:
        """The id clients send: the recipe's served_name."""
        return self.plan.model.served_name

    @property
    def variant(self) -> str:
        """The recipe and its variant: deepseek-v4-flash:UD-Q2_K_XL."""
        return self.plan.variant.qualified_id

    @property
    def context(self) -> int:
        return self.plan.context

    @property
    def placement(self) -> str:
        return self.plan.placement

    @property
    def speed_estimate(self) -> tuple[float, float] | None:
        """The served plan's decode estimate (low, high) in tok/s, as `status` shows it; None when
        it has none."""
        speed = self.plan.speed
        return (round(speed.low, 1), round(speed.high, 1)) if speed.high else None

    @property
    def workers(self) -> tuple[str, ...]:
        """The RPC workers a pooled plan runs on (their HOST:PORT), in `--rpc` order; () otherwise."""
        return self.plan.pool.workers if self.plan.pool else ()

    @property
    def address(self) -> Endpoint:
        """Where clients reach it, without its key (`endpoint_of` reads it)."""
        return Endpoint(self.host, self.port, self.model_id, key_file=self.api_key_file)

    @property
    def base_url(self) -> str:
        return self.address.base_url

    @property
    def endpoint(self) -> str:
        """The OpenAI-compatible URL, ending in /v1."""
        return self.address.v1_url

    def to_dict(self) -> dict[str, Any]:
        """As `status --json` and `up --json` show it: what is read from the plan beside what
        running added, and the plan's public form."""
        return {
            "pid": self.pid, "create_time": self.create_time, "backend": self.backend, "engine": self.engine,
            "model_id": self.model_id, "variant": self.variant, "context": self.context,
            "placement": self.placement, "host": self.host, "port": self.port, "log": self.log,
            "started_at": self.started_at, "ready_at": self.ready_at, "api_key_file": self.api_key_file,
            "foreground": self.foreground, "plan": self.plan.to_dict(), "health_path": self.health_path,
            "draft": self.draft, "reasoning": self.reasoning, "engine_args": list(self.engine_args),
        }

    def to_record(self) -> dict[str, Any]:
        """As server.json keeps it: every field, the whole plan (`Plan.to_record`) included."""
        return to_json(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ServerState:
        """The record `to_record` wrote; ValueError or TypeError when `record` is not one."""
        return from_json(cls, record)


def ensure_state_dir() -> Path:
    return ensure_folder(state_dir(), mode=0o700)


def state_path() -> Path:
    return state_dir() / STATE_FILE


def log_path() -> Path:
    return state_dir() / LOG_FILE


def api_key_path() -> Path:
    return state_dir() / KEY_FILE


def bench_path() -> Path:
    return state_dir() / BENCH_FILE


class StateDamaged(RuntimeFailure):
    """server.json is there but cannot be understood (truncated, garbage, a foreign format)."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"the server state file {path} is damaged ({why})")
        self.path = path


def read_state() -> ServerState | None:
    """The recorded engine; None when there is none; StateDamaged when the record is unreadable."""
    path = state_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except NotADirectoryError as err:  # the state folder is a file: nothing can be recorded there
        raise NotWritable(state_dir(), err) from None
    except (OSError, ValueError) as err:
        raise StateDamaged(path, str(err)) from None
    try:
        return ServerState.from_record(raw)
    except (TypeError, ValueError) as err:  # not ours, or an older localv4's (its plan untyped)
        raise StateDamaged(path, f"not a server record: {err}") from None


def set_aside_damaged() -> Path:
    """Move a damaged server.json out of the way (kept for a post-mortem); returns where it went."""
    kept = state_path().with_name(STATE_FILE + ".damaged")
    state_path().replace(kept)
    return kept


def write_state(state: ServerState) -> None:
    ensure_state_dir()
    write_atomic(state_path(), json.dumps(state.to_record(), indent=2) + "\n")


def clear_state() -> None:
    state_path().unlink(missing_ok=True)


def ensure_api_key() -> Path:
    """The API key file, created with a fresh random key (mode 0600) when there is none."""
    ensure_state_dir()
    path = api_key_path()
    if not path.exists() or not path.read_text(encoding="utf-8").strip():
        write_atomic(path, secrets.token_urlsafe(32) + "\n", mode=0o600)
    return path


def read_key_file(path: str | Path) -> str | None:
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return key or None


def endpoint_of(server: ServerState) -> Endpoint:
    """The recorded engine as a client reaches it, its key read from the key file."""
    key = read_key_file(server.api_key_file) if server.api_key_file else None
    return dataclasses.replace(server.address, api_key=key)


class ServerBusy(RuntimeFailure):
    """Another `localv4 up` holds the server lock: it is starting an engine right now."""


@contextlib.contextmanager
def server_lock(timeout: float = -1) -> Iterator[None]:
    """Serialize `up`s: two at once must never start two engines. ServerBusy after `timeout` s."""
    ensure_state_dir()
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(exclusive(state_dir() / LOCK_FILE, timeout))
        except Busy:
            raise ServerBusy("another `localv4 up` is starting an engine right now") from None
        yield
