"""Open WebUI without Docker: `open-webui serve` from a pip install that localv4 owns.

The install is a virtual environment in localv4's data dir, not localv4's own site-packages:
open-webui pins about a hundred exact versions (psutil, httpx, openai, pillow, transformers...)
that would replace the ones localv4 runs on.

It listens on 127.0.0.1 only (its own default, 0.0.0.0:8080, is public and llama-server's port),
keeps its database and secret key in localv4's data dir, and runs detached in its own session so
it outlives the command that started it. It is found again by pid and start time, so a pid the OS
reused is never stopped by mistake.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from localv4.errors import RuntimeFailure, UsageError
from localv4.paths import data_dir
from localv4.serve.endpoint import Endpoint
from localv4.webui import ui_port
from localv4.webui.events import EventSink, UIEvent
from localv4.webui.settings import OPEN_WEBUI_VERSION, WebUISettings
from localv4.webui.state import native_data_dir
from localv4.webui.wiring import connection_env, fingerprint

if TYPE_CHECKING:
    import psutil

PYTHON_RANGE = ((3, 11), (3, 13))  # the pinned release's Requires-Python: >=3.11,<3.13
STOP_TIMEOUT_S = 15.0
# Connection settings a user's shell may carry for other tools; the UI gets localv4's only.
INHERITED_CONNECTION_VARS = (
    "OPENAI_API_KEY", "OPENAI_API_KEYS", "OPENAI_API_BASE_URLS", "OLLAMA_BASE_URL", "OLLAMA_BASE_URLS",
)


@dataclass(frozen=True)
class Launch:
    """How `open-webui serve` is started: argv, environment, working dir (its secret key lands there)."""

    argv: list[str]
    env: dict[str, str] = field(repr=False)
    cwd: Path
    fingerprint: str  # of argv and localv4's settings: equal means a running UI can be kept


def venv_dir() -> Path:
    """Open WebUI's own virtual environment: its ~100 exact pins must not replace localv4's."""
    return data_dir() / "open-webui" / "venv"


def _venv_bin(name: str) -> Path:
    return venv_dir() / ("Scripts" if os.name == "nt" else "bin") / (f"{name}.exe" if os.name == "nt" else name)


def find_executable(settings: WebUISettings) -> Path | None:
    """LOCALV4_OPEN_WEBUI if set, else the `open-webui` that `install` put in localv4's venv."""
    if settings.native_executable:
        path = Path(settings.native_executable).expanduser()
        if not path.is_file():
            raise UsageError(f"LOCALV4_OPEN_WEBUI is {path}, which is not a file: fix or unset it.")
        return path
    path = _venv_bin("open-webui")
    return path if path.is_file() else None


def _supported(version: tuple[int, int]) -> bool:
    low, high = PYTHON_RANGE
    return low <= version < high


def interpreter() -> str:
    """A Python that the pinned Open WebUI supports: localv4's own, else python3.12/3.11 on PATH."""
    if _supported(sys.version_info[:2]):
        return sys.executable
    for minor in range(PYTHON_RANGE[1][1] - 1, PYTHON_RANGE[0][1] - 1, -1):
        found = shutil.which(f"python3.{minor}")
        if found:
            return found
    low, high = PYTHON_RANGE
    raise RuntimeFailure(
        f"Open WebUI {OPEN_WEBUI_VERSION} needs Python {low[0]}.{low[1]} to {high[0]}.{high[1] - 1} and none "
        f"is installed (localv4 runs on {sys.version_info.major}.{sys.version_info.minor}): install one, or use "
        "Docker: `localv4 ui start`."
    )


def install_commands(python: str) -> list[list[str]]:
    """Create the venv, then pip-install the pinned release into it."""
    return [
        [python, "-m", "venv", str(venv_dir())],
        [str(_venv_bin("python")), "-m", "pip", "install", f"open-webui=={OPEN_WEBUI_VERSION}"],
    ]


def install(on_event: EventSink) -> None:
    """Install the pinned Open WebUI into its venv in localv4's data dir, streaming the output."""
    on_event(UIEvent("step", f"installing open-webui=={OPEN_WEBUI_VERSION} into {venv_dir()} (a large download)"))
    for argv in install_commands(interpreter()):
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as step:
            assert step.stdout is not None
            for line in step.stdout:
                on_event(UIEvent("install", line.rstrip()))
        if step.returncode != 0:
            raise RuntimeFailure(
                f"installing Open WebUI failed ({argv[2]}, exit code {step.returncode}): see the output above, "
                "or use Docker: `localv4 ui start`."
            )


def launch(executable: Path, settings: WebUISettings, endpoint: Endpoint) -> Launch:
    data = native_data_dir()
    settings_env = connection_env(endpoint, endpoint.v1_url) | {"DATA_DIR": str(data)}
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_CONNECTION_VARS} | settings_env
    argv = [str(executable), "serve", "--host", ui_port.HOST, "--port", str(settings.port)]
    return Launch(argv, env, data, fingerprint(argv, settings_env))


def spawn(plan: Launch, log: Path) -> subprocess.Popen:
    """Start detached (own session / process group), output appended to `log`."""
    plan.cwd.mkdir(parents=True, exist_ok=True, mode=0o700)
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    detached = (
        {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS}
        if sys.platform == "win32"
        else {"start_new_session": True}
    )
    with open(log, "ab") as out:
        return subprocess.Popen(
            plan.argv, cwd=plan.cwd, env=plan.env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, close_fds=True, **detached,
        )


def start_time(pid: int) -> float:
    import psutil

    return psutil.Process(pid).create_time()


def _ours(pid: int, create_time: float) -> psutil.Process | None:
    """The psutil.Process for our UI, or None when it is gone (or the pid now belongs to another)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        same = abs(proc.create_time() - create_time) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return None
    return proc if same else None


def is_running(pid: int, create_time: float) -> bool:
    return _ours(pid, create_time) is not None


def failure_reason(proc: subprocess.Popen, log: Path) -> str | None:
    if proc.poll() is None:
        return None
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines() if log.exists() else []
    last = lines[-1].strip() if lines else "no output"
    return f"Open WebUI exited while starting (exit code {proc.returncode}): {last}; see {log}."


def stop(pid: int, create_time: float) -> bool:
    """Stop our `open-webui serve` and what it started; True when it was running."""
    from localv4.process_tree import family, stop_family

    proc = _ours(pid, create_time)
    if proc is None:
        return False
    stop_family(family(proc), STOP_TIMEOUT_S)
    return True
