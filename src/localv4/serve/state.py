"""The running engine's record in the state dir: server.json, its log, its API key, a lock.

server.json is how `status`, `down`, the UI and the tray find the engine that `up` started, so it
is written atomically (temp file + rename) and never holds a secret: the API key lives in its own
file, mode 0600, and server.json only names that file.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.net import WILDCARD_HOSTS
from localv4.paths import state_dir
from localv4.storage import Busy, NotWritable, ensure_folder, exclusive, write_atomic

STATE_FILE = "server.json"
LOG_FILE = "server.log"
KEY_FILE = "api-key"
LOCK_FILE = "server.lock"
BENCH_FILE = "bench.json"


@dataclass(frozen=True)
class ServerState:
    """What `up` started, where it listens, and since when."""

    pid: int
    create_time: float  # the process's start time (psutil): tells our engine from a reused pid
    backend: str  # "llama-server" | "llama-cpp-python" | "mlx"
    engine: str  # the plan's engine family: "llama.cpp" | "mlx"
    model_id: str  # the id clients send: the recipe's served_name
    variant: str  # "deepseek-v4-flash:UD-Q2_K_XL"
    context: int
    placement: str
    host: str
    port: int
    log: str
    started_at: float
    ready_at: float | None = None
    api_key_file: str | None = None
    foreground: bool = False
    plan: dict | None = None  # the plan it serves (Plan.to_dict(), its estimate included), as planned
    health_path: str | None = None  # the engine's health route, which `status` asks
    draft: str | None = None  # "dspark: <file>" when the engine decodes speculatively; None: no draft
    reasoning: str | None = None  # the default thinking mode `up` was asked for; None: the recipe's
    engine_args: tuple[str, ...] = ()  # the engine's own flags `up` was given after `--`

    @property
    def speed_estimate(self) -> tuple[float, float] | None:
        """The served plan's decode estimate (low, high) in tok/s; None when it has none."""
        low, high = (self.plan or {}).get("speed_estimate_tok_s") or (0, 0)
        return (float(low), float(high)) if high else None

    @property
    def workers(self) -> tuple[str, ...]:
        """The RPC workers a pooled plan runs on (their HOST:PORT), in `--rpc` order; () otherwise."""
        return tuple(((self.plan or {}).get("pool") or {}).get("workers") or ())

    @property
    def base_url(self) -> str:
        """The URL a client on this machine uses (a wildcard bind is reached via loopback)."""
        host = "127.0.0.1" if self.host in WILDCARD_HOSTS else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/v1"


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
        known = {f.name for f in fields(ServerState)}
        record = {k: v for k, v in raw.items() if k in known}
        record["engine_args"] = tuple(record.get("engine_args") or ())
        return ServerState(**record)
    except (AttributeError, TypeError) as err:
        raise StateDamaged(path, f"not a server record: {err}") from None


def set_aside_damaged() -> Path:
    """Move a damaged server.json out of the way (kept for a post-mortem); returns where it went."""
    kept = state_path().with_name(STATE_FILE + ".damaged")
    state_path().replace(kept)
    return kept


def write_state(state: ServerState) -> None:
    ensure_state_dir()
    write_atomic(state_path(), json.dumps(asdict(state), indent=2) + "\n")


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
