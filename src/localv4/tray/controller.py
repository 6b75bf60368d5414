"""Menu action -> Backend call, off the UI thread; and the TrayState the poller shows.

The shells (rumps, pystray) only draw and forward clicks here. Anything that may take more
than a moment runs on a worker thread, and while it runs the menu says so (`busy`); a failure
becomes the status line and the error icon, never a frozen or crashed tray.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from localv4.errors import LocalV4Error
from localv4.tray.backend import Backend
from localv4.tray.login import LoginItem
from localv4.tray.menu import Action, ServerPhase, TrayState


class Shell(Protocol):
    """What only the GUI toolkit can do. Every method may be called from any thread."""

    def copy_text(self, text: str) -> None: ...

    def show_text(self, title: str, text: str) -> None: ...

    def open_path(self, path: Path) -> None: ...

    def quit(self) -> None: ...


def in_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="localv4-tray-action", daemon=True).start()


class Controller:
    def __init__(self, backend: Backend, shell: Shell, login: LoginItem | None,
                 run: Callable[[Callable[[], None]], None] = in_thread,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.backend, self.shell, self.login = backend, shell, login
        self._run, self._on_change = run, on_change
        self._lock = threading.Lock()
        self._busy: str | None = None
        self._error: str | None = None

    # ---------------------------------------------------------------- state

    def snapshot(self) -> TrayState:
        """Everything the menu shows, read now; a backend failure is shown, not raised."""
        with self._lock:
            busy, error = self._busy, self._error
        login_on = self.login is not None and self.login.enabled()
        try:
            view = self.backend.status()
            log_exists = self.backend.log_path().exists()
        except LocalV4Error as err:
            return TrayState(error=str(err), busy=busy, login_item=login_on,
                             login_supported=self.login is not None)
        return TrayState(
            server=view.phase, endpoint=view.endpoint, variant=view.variant, context=view.context,
            tokens_per_s=view.tokens_per_s, workers=view.workers, problem=view.problem, draft=view.draft,
            pull=self.backend.pull_progress(), busy=busy, error=error,
            log_exists=log_exists, login_item=login_on, login_supported=self.login is not None,
        )

    # ---------------------------------------------------------------- actions

    def perform(self, action: Action) -> None:
        """Called by the shell on a click; returns at once."""
        handlers: dict[Action, Callable[[], None]] = {
            Action.START: lambda: self._background("starting", self.backend.start),
            Action.STOP: lambda: self._background("stopping", self.backend.stop),
            Action.OPEN_CHAT: lambda: self._background("opening chat", self.backend.open_chat),
            Action.RUN_DOCTOR: lambda: self._background("running doctor", self._doctor),
            Action.COPY_ENDPOINT: self._copy_endpoint,
            Action.SHOW_LOGS: lambda: self.shell.open_path(self.backend.log_path()),
            Action.TOGGLE_LOGIN: self._toggle_login,
            Action.QUIT: self.shell.quit,
            Action.QUIT_AND_STOP: lambda: self._background("stopping", self._stop_and_quit),
        }
        try:
            handlers[action]()
        except (LocalV4Error, OSError) as err:
            with self._lock:
                self._error = str(err)
        self._on_change()

    def _background(self, doing: str, work: Callable[[], None]) -> None:
        with self._lock:
            if self._busy is not None:
                return  # one action at a time: a second click while starting does nothing
            self._busy, self._error = doing, None

        def run() -> None:
            error = None
            try:
                work()
            except LocalV4Error as err:
                error = str(err)
            except Exception as err:  # a bug must show up in the menu, not kill the worker silently
                error = f"{type(err).__name__}: {err}"
            with self._lock:
                self._busy, self._error = None, error
            self._on_change()

        self._run(run)

    def _doctor(self) -> None:
        self.shell.show_text("localv4 doctor", self.backend.doctor_text())

    def _copy_endpoint(self) -> None:
        endpoint = self.backend.endpoint()
        if endpoint:
            self.shell.copy_text(endpoint)

    def _toggle_login(self) -> None:
        if self.login is not None:
            self.login.set(not self.login.enabled())

    def _stop_and_quit(self) -> None:
        if self.backend.status().phase in (ServerPhase.RUNNING, ServerPhase.LOADING):
            self.backend.stop()
        self.shell.quit()
