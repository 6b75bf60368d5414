"""The UI's record in the state dir (webui.json): which mode runs it, where, and its process.

`ui status`, `ui open` and `down` find the UI through this file. It never holds a secret and is
written atomically, so a crash leaves the old record or the new one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from localv4.paths import data_dir, state_dir
from localv4.storage import write_atomic

STATE_FILE = "webui.json"
LOG_FILE = "webui.log"


@dataclass(frozen=True)
class UIRecord:
    mode: str  # "docker" | "native"
    port: int
    url: str
    endpoint: str  # OPENAI_API_BASE_URL as the UI sees it
    pid: int | None = None  # native only, with its start time to tell it from a reused pid
    create_time: float | None = None
    fingerprint: str | None = None  # native only: the settings it was started with


def record_path() -> Path:
    return state_dir() / STATE_FILE


def log_path() -> Path:
    return state_dir() / LOG_FILE


def native_data_dir() -> Path:
    """Open WebUI's DATA_DIR in native mode: its database, uploads and secret key."""
    return data_dir() / "open-webui" / "data"


def read_record() -> UIRecord | None:
    try:
        raw = json.loads(record_path().read_text(encoding="utf-8"))
        known = {f.name for f in fields(UIRecord)}
        return UIRecord(**{k: v for k, v in raw.items() if k in known})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        return None  # a damaged record only loses the pointer; Docker and psutil still tell the truth


def write_record(record: UIRecord) -> None:
    state_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(record_path(), json.dumps(asdict(record), indent=2) + "\n")


def clear_record() -> None:
    record_path().unlink(missing_ok=True)
