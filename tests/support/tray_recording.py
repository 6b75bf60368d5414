"""Stand-ins for the tray's backend and shell that record each call, and a running state to show."""

from __future__ import annotations

from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.tray.backend import ServerView
from localv4.tray.menu import PullProgress, ServerPhase, TrayState

ENDPOINT = "http://127.0.0.1:8484/v1"
RUNNING = TrayState(server=ServerPhase.RUNNING, endpoint=ENDPOINT, variant="deepseek-v4-flash:UD-Q2_K_XL",
                    context=131072, tokens_per_s=23.44, log_exists=True)


class RecordingBackend:
    """Records each call; `fail` makes the named call raise like the real CLI would."""

    def __init__(self, view: ServerView | None = None, log: Path | None = None) -> None:
        self.calls: list[str] = []
        self.view = view or ServerView(ServerPhase.STOPPED)
        self.log = log or Path("/nonexistent/server.log")
        self.fail: dict[str, str] = {}

    def _record(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise RuntimeFailure(self.fail[name])

    def status(self) -> ServerView:
        return self.view

    def start(self) -> None:
        self._record("start")
        self.view = ServerView(ServerPhase.RUNNING, ENDPOINT, "deepseek-v4-flash:UD-Q2_K_XL", 65536)

    def stop(self) -> None:
        self._record("stop")
        self.view = ServerView(ServerPhase.STOPPED)

    def open_chat(self) -> None:
        self._record("open_chat")

    def endpoint(self) -> str | None:
        return self.view.endpoint

    def pull_progress(self) -> PullProgress | None:
        return None

    def doctor_text(self) -> str:
        self._record("doctor_text")
        return "hardware  ok"

    def log_path(self) -> Path:
        return self.log


class RecordingShell:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def copy_text(self, text: str) -> None:
        self.calls.append(("copy_text", text))

    def show_text(self, title: str, text: str) -> None:
        self.calls.append(("show_text", title, text))

    def open_path(self, path: Path) -> None:
        self.calls.append(("open_path", path))

    def quit(self) -> None:
        self.calls.append(("quit",))


def synchronous(work) -> None:
    work()
