"""The macOS shell's mapping of the menu model onto rumps, on Linux.

rumps needs AppKit, which cannot exist here, so a stand-in module with the same small surface
(App, MenuItem, separator, Timer, Window, quit_application) records what the shell builds.
"""

from __future__ import annotations

import sys
import threading
import types

import pytest

from localv4.tray.menu import IconKind, IconState, ServerPhase, TrayState, menu
from support.tray_recording import RUNNING, RecordingBackend


class StubMenu(list):
    def clear(self) -> None:
        del self[:]


class StubApp:
    def __init__(self, name: str, title: str | None = None, quit_button: str | None = "Quit") -> None:
        self.name, self.title, self.quit_button = name, title, quit_button
        self._menu = StubMenu()

    @property
    def menu(self) -> StubMenu:
        return self._menu

    @menu.setter
    def menu(self, items: list) -> None:  # rumps adds to the menu, as Menu.update does
        self._menu.extend(items)


class StubMenuItem:
    def __init__(self, title: str, callback=None) -> None:
        self.title, self.callback, self.state = title, callback, 0


class StubTimer:
    def __init__(self, callback, interval: float) -> None:
        self.callback, self.interval = callback, interval

    def fire(self) -> None:
        self.callback(self)


@pytest.fixture()
def rumps_app(monkeypatch: pytest.MonkeyPatch):
    stub = types.ModuleType("rumps")
    stub.App, stub.MenuItem, stub.Timer = StubApp, StubMenuItem, StubTimer
    stub.separator = object()
    stub.quit_application = lambda: None
    monkeypatch.setitem(sys.modules, "rumps", stub)
    monkeypatch.delitem(sys.modules, "localv4.tray.rumps_app", raising=False)
    import localv4.tray.rumps_app as module

    yield module
    sys.modules.pop("localv4.tray.rumps_app", None)


def shown(app: StubApp, separator: object) -> list:
    def one(entry):
        if entry is separator:
            return "-"
        if isinstance(entry, list):
            parent, children = entry
            return (parent.title, [one(c) for c in children])
        return (entry.title, entry.callback is not None, entry.state)

    return [one(e) for e in app.menu]


def test_menu_bar_title_shows_state_and_pull_percent(rumps_app):
    assert rumps_app.menu_bar_title(IconState(IconKind.RUNNING)) == "V4 ●"
    assert rumps_app.menu_bar_title(IconState(IconKind.PULLING, 42)) == "V4 ↓42%"
    assert rumps_app.menu_bar_title(IconState(IconKind.ERROR)) == "V4 ⚠"


def test_published_state_reaches_the_menu_only_on_the_main_thread_tick(rumps_app):
    tray = rumps_app.RumpsTray(RecordingBackend(), None)
    assert tray.app.quit_button is None and tray.app.title == "V4 ○"
    tray._publish(RUNNING)  # from the poller's thread: queued, not drawn
    assert tray.app.title == "V4 ○"
    tray.main.timer.fire()  # the main thread's timer draws it
    assert tray.app.title == "V4 ●"
    separator = sys.modules["rumps"].separator
    expected = menu(RUNNING)
    got = shown(tray.app, separator)
    for model_item, entry in zip(expected, got, strict=True):
        if model_item.is_separator:
            assert entry == "-"
        elif model_item.children:
            assert entry == (model_item.title, [(c.title, True, 0) for c in model_item.children])
        else:
            assert entry == (model_item.title, model_item.enabled and model_item.action is not None,
                             int(bool(model_item.checked)))


def test_a_click_calls_the_backend_off_the_main_thread(rumps_app):
    backend = RecordingBackend()
    started = threading.Event()
    real_start = backend.start

    def start() -> None:
        real_start()
        started.set()

    backend.start = start
    tray = rumps_app.RumpsTray(backend, None)
    tray._publish(TrayState(server=ServerPhase.STOPPED))
    tray.main.timer.fire()
    start_item = next(e for e in tray.app.menu if getattr(e, "title", "") == "Start server")
    start_item.callback(start_item)
    assert started.wait(10) and backend.calls == ["start"]
