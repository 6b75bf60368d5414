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
from localv4.storage import exclusive, write_atomic

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
    draft: str | None = None  # "dspark: <file>" when the engine decodes speculatively; None: no draft

    @property
    def speed_estimate(self) -> tuple[float, float] | None:
        """The served plan's decode estimate (low, high) in tok/s; None when it has none."""
        low, high = (self.plan or {}).get("speed_estimate_tok_s") or (0, 0)
        return (float(low), float(high)) if high else None

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
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def state_path() -> Path:
    return state_dir() / STATE_FILE


def log_path() -> Path:
    return state_dir() / LOG_FILE


def api_key_path() -> Path:
    return state_dir() / KEY_FILE


def bench_path() -> Path:
    return state_dir() / BENCH_FILE


def read_state() -> ServerState | None:
    path = state_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(ServerState)}
        return ServerState(**{k: v for k, v in raw.items() if k in known})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as err:
        raise RuntimeFailure(
            f"the server state file {path} is unreadable ({err}); "
            "stop any engine by hand and delete the file."
        ) from None


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


@contextlib.contextmanager
def server_lock() -> Iterator[None]:
    """Serialize `up`s: two at once must never start two engines."""
    ensure_state_dir()
    with exclusive(state_dir() / LOCK_FILE):
        yield
