"""The real Backend: the serve API for quick questions, `localv4` subprocesses for long work.

Long work (pull, up, ui start, doctor) runs as the very commands a person would type, so the
tray shows exactly what the CLI does; their `--json` event lines drive the progress in the menu.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.tray.backend import ServerView
from localv4.tray.menu import PullProgress, ServerPhase
from localv4.tray.pull_events import PullTracker

TEXT_COLUMNS = "110"  # wide enough for doctor's table in a window


def _ignore(_: str) -> None:
    pass


def _cli_env() -> dict[str, str]:
    """Plain text from Rich: no colour codes, a fixed width."""
    return {**os.environ, "NO_COLOR": "1", "COLUMNS": TEXT_COLUMNS}


def run_cli(args: list[str], on_line: Callable[[str], None] = _ignore,
            python: str = sys.executable) -> list[str]:
    """Run `localv4 ARGS --json`, feeding each stdout line to `on_line`; its lines, or the failure as
    one line (the protocol's error event: localv4.events)."""
    proc = subprocess.Popen(
        [python, "-m", "localv4", *args, "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace", env=_cli_env(),
    )
    lines: list[str] = []
    assert proc.stdout is not None
    with proc.stdout:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            on_line(line)
    code = proc.wait()
    if code != 0:
        raise RuntimeFailure(failure_line(lines, args, code))
    return lines


def failure_line(lines: list[str], args: list[str], code: int) -> str:
    """The CLI's own one-line error (its error event), else which command failed."""
    from localv4 import events

    for line in reversed(lines):
        event = events.decode(line)
        if event is not None and event[events.KIND] == events.ERROR:
            return str(event.get("message"))
    return f"`localv4 {' '.join(args)}` failed (exit code {code})"


class LocalBackend:
    """localv4 on this machine; `model` and `port` as for `localv4 up` (None: its defaults)."""

    def __init__(self, model: str | None = None, port: str | None = None,
                 python: str = sys.executable) -> None:
        self._model_args = ["--model", model] if model else []
        self._port_args = ["--port", port] if port else []
        self._python = python
        self._lock = threading.Lock()
        self._pull: PullTracker | None = None

    def status(self) -> ServerView:
        from localv4.serve import api

        current = api.status()
        server = current.server
        if server is None:
            return ServerView(ServerPhase(current.state))
        return ServerView(ServerPhase(current.state), server.endpoint, server.variant, server.context,
                          current.bench_tok_s, server.workers, current.problem, server.draft)

    def endpoint(self) -> str | None:
        from localv4.serve import api

        try:
            return api.serving(accept_loading=True).endpoint.v1_url
        except RuntimeFailure:
            return None

    def start(self) -> None:
        tracker = PullTracker()
        with self._lock:
            self._pull = tracker
        try:
            run_cli(["pull", *self._model_args], tracker.feed_line, self._python)
        finally:
            with self._lock:
                self._pull = None
        run_cli(["up", *self._model_args, *self._port_args], python=self._python)

    def stop(self) -> None:
        from localv4.serve import api

        api.down()

    def open_chat(self) -> None:
        run_cli(["ui", "start"], python=self._python)

    def pull_progress(self) -> PullProgress | None:
        with self._lock:
            return self._pull.progress() if self._pull else None

    def doctor_text(self) -> str:
        """The report even when doctor finds problems (exit code 1): that is what it is for."""
        done = subprocess.run([self._python, "-m", "localv4", "doctor"], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, encoding="utf-8", errors="replace",
                              env=_cli_env())
        return (done.stdout + done.stderr).strip()

    def log_path(self) -> Path:
        from localv4.serve import api

        return api.log_path()
