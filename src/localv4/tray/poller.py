"""Reads the tray's state on its own thread and hands each change to the UI.

Reading the state touches the disk and the process table; doing that on the UI thread would
freeze the menu, so the shells only ever receive finished TrayState values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from localv4.tray.menu import TrayState

POLL_INTERVAL_S = 2.0


class StatusPoller:
    def __init__(self, read: Callable[[], TrayState], publish: Callable[[TrayState], None],
                 interval: float = POLL_INTERVAL_S) -> None:
        self._read, self._publish, self._interval = read, publish, interval
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="localv4-tray-poller", daemon=True)
        self._last: TrayState | None = None

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Read again now (after a click), not at the next tick."""
        self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                state = self._read()
            except Exception as err:  # keep polling: the next read may work, and the menu says why
                state = TrayState(error=f"cannot read the status: {type(err).__name__}: {err}")
            if state != self._last:
                self._last = state
                self._publish(state)
            self._wake.wait(self._interval)
            self._wake.clear()
