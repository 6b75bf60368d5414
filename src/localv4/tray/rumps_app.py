"""The macOS menu-bar app: rumps draws the menu that `model` describes.

Imported only on macOS (rumps needs AppKit). AppKit may only be touched on the main thread,
so the poller and the action threads hand their work to a main-thread timer through a queue.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from pathlib import Path

import rumps

from localv4.tray import desktop
from localv4.tray.backend import Backend
from localv4.tray.controller import Controller
from localv4.tray.login import LoginItem
from localv4.tray.menu import Action, IconKind, IconState, MenuItem, TrayState, icon_state, menu
from localv4.tray.poller import POLL_INTERVAL_S, StatusPoller

MAIN_THREAD_TICK_S = 0.25
TEXT_WINDOW_SIZE = (720, 420)
GLYPHS = {IconKind.STOPPED: "○", IconKind.LOADING: "◐", IconKind.RUNNING: "●", IconKind.ERROR: "⚠"}


def menu_bar_title(look: IconState) -> str:
    """Text in the menu bar: 'V4 ●', or 'V4 ↓42%' while pulling."""
    if look.kind is IconKind.PULLING:
        return f"V4 ↓{look.percent or 0}%"
    return f"V4 {GLYPHS[look.kind]}"


class MainThread:
    """Work queued from any thread, run by a rumps timer on the main thread."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.timer = rumps.Timer(self._drain, MAIN_THREAD_TICK_S)

    def call(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def _drain(self, _timer: object) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            job()


class RumpsShell:
    def __init__(self, main: MainThread) -> None:
        self.main = main

    def copy_text(self, text: str) -> None:
        if not desktop.copy_text(text):
            self.show_text("localv4 API endpoint", text)

    def show_text(self, title: str, text: str) -> None:
        self.main.call(lambda: rumps.Window(message="", title=title, default_text=text,
                                            dimensions=TEXT_WINDOW_SIZE).run())

    def open_path(self, path: Path) -> None:
        desktop.open_path(path)

    def quit(self) -> None:
        self.main.call(rumps.quit_application)


def to_rumps_items(items: list[MenuItem], perform: Callable[[Action], None]) -> list[object]:
    """The model's items as rumps menu entries; an item without a callback is greyed out by rumps."""

    def entry(item: MenuItem) -> object:
        if item.is_separator:
            return rumps.separator
        if item.children:
            return [rumps.MenuItem(item.title), [entry(child) for child in item.children]]
        action = item.action
        callback = (lambda _sender: perform(action)) if action and item.enabled else None
        built = rumps.MenuItem(item.title, callback=callback)
        if item.checked is not None:
            built.state = int(item.checked)
        return built

    return [entry(item) for item in items]


class RumpsTray:
    def __init__(self, backend: Backend, login: LoginItem | None,
                 poll_interval: float = POLL_INTERVAL_S) -> None:
        self.main = MainThread()
        self.controller = Controller(backend, RumpsShell(self.main), login, on_change=self._wake)
        self.poller = StatusPoller(self.controller.snapshot, self._publish, poll_interval)
        self.app = rumps.App("localv4", title=menu_bar_title(icon_state(TrayState())), quit_button=None)
        self._show(TrayState())

    def _wake(self) -> None:
        self.poller.wake()

    def _publish(self, state: TrayState) -> None:
        self.main.call(lambda: self._show(state))

    def _show(self, state: TrayState) -> None:
        self.app.title = menu_bar_title(icon_state(state))
        self.app.menu.clear()
        self.app.menu = to_rumps_items(menu(state), self.controller.perform)

    def run(self) -> None:
        self.main.timer.start()
        self.poller.start()
        try:
            self.app.run()
        finally:
            self.poller.stop()
