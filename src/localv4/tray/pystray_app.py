"""The tray on Linux and Windows: pystray draws the icon and menu that `model` describes.

Install with `pipx install '.[tray]'` from the checkout (or `pipx inject localv4 pystray pillow`).
On Linux the menu needs GTK (PyGObject): pystray's plain-X11 fallback can only show an icon, so
it is refused with the fix rather than used.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from localv4.errors import RuntimeFailure
from localv4.paths import state_dir
from localv4.tray import desktop, icons
from localv4.tray.backend import Backend
from localv4.tray.controller import Controller
from localv4.tray.login import LoginItem
from localv4.tray.menu import Action, MenuItem, TrayState, icon_state, menu
from localv4.tray.poller import POLL_INTERVAL_S, StatusPoller

def gtk_hint() -> str:
    """The fix for a desktop without GTK for Python, in localv4's own environment (fixes.py)."""
    from localv4.fixes import pip_install

    return (f"the tray menu needs GTK for Python: `{pip_install('PyGObject')}` "
            "(it builds against your system's libgirepository1.0-dev and libcairo2-dev)")


def _gi_has(namespace: str, version: str) -> bool:
    try:
        import gi

        gi.require_version(namespace, version)
    except (ImportError, ValueError):
        return False
    return True


def linux_backend() -> str:
    """pystray's own choice fails outright when PyGObject lacks AppIndicator: choose here."""
    if _gi_has("AyatanaAppIndicator3", "0.1") or _gi_has("AppIndicator3", "0.1"):
        return "appindicator"
    if _gi_has("Gtk", "3.0"):
        return "gtk"
    raise RuntimeFailure(gtk_hint())


def import_pystray() -> ModuleType:
    """pystray with a backend that can show a menu on this desktop."""
    if sys.platform.startswith("linux"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise RuntimeFailure("no graphical session here (DISPLAY is not set): "
                                 "run `localv4 tray` from your desktop.")
        os.environ.setdefault("PYSTRAY_BACKEND", linux_backend())
    try:
        import pystray
    except ImportError as err:
        from localv4.fixes import pip_install

        raise RuntimeFailure(f"the tray needs pystray and Pillow ({err}): "
                             f"`{pip_install('pystray>=0.19', 'pillow>=10')}`") from None
    if not pystray.Icon.HAS_MENU:
        raise RuntimeFailure(f"pystray's {os.environ.get('PYSTRAY_BACKEND', '')} backend shows no menu: "
                             + gtk_hint())
    return pystray


def to_pystray_menu(pystray: ModuleType, items: list[MenuItem],
                    perform: Callable[[Action], None]) -> object:
    """The model's items as a pystray.Menu whose clicks call `perform`."""

    def entry(item: MenuItem) -> object:
        if item.is_separator:
            return pystray.Menu.SEPARATOR
        if item.children:
            return pystray.MenuItem(item.title, pystray.Menu(*map(entry, item.children)), enabled=item.enabled)
        action = item.action
        checked = None if item.checked is None else (lambda _, on=item.checked: on)
        return pystray.MenuItem(item.title, (lambda: perform(action)) if action else None,
                                enabled=item.enabled and action is not None, checked=checked)

    return pystray.Menu(*map(entry, items))


class PystrayShell:
    """What the controller needs from the desktop, safe to call from any thread."""

    def __init__(self) -> None:
        self.icon = None
        self.quitting = False

    def copy_text(self, text: str) -> None:
        if not desktop.copy_text(text):
            self.show_text("localv4 API endpoint", text)

    def show_text(self, title: str, text: str) -> None:
        desktop.show_text_window(title, text, state_dir() / "tray-window.txt")

    def open_path(self, path: Path) -> None:
        desktop.open_path(path)

    def quit(self) -> None:
        self.quitting = True
        if self.icon is not None:
            self.icon.stop()


class PystrayTray:
    def __init__(self, backend: Backend, login: LoginItem | None,
                 poll_interval: float = POLL_INTERVAL_S) -> None:
        self.pystray = import_pystray()
        self.shell = PystrayShell()
        self.controller = Controller(backend, self.shell, login, on_change=self._wake)
        self.poller = StatusPoller(self.controller.snapshot, self.show, poll_interval)
        self.state = TrayState()
        look = icon_state(self.state)
        self.icon = self.pystray.Icon("localv4", icons.draw(look), look.label, menu=self._menu(self.state))
        self.shell.icon = self.icon

    def _wake(self) -> None:
        self.poller.wake()

    def _menu(self, state: TrayState) -> object:
        return to_pystray_menu(self.pystray, menu(state), self.controller.perform)

    def show(self, state: TrayState) -> None:
        """Called on the poller's thread; pystray hands the changes to its own UI thread.

        `state` is set last, so it always names what the icon and menu already show."""
        look = icon_state(state)
        self.icon.icon = icons.draw(look)
        self.icon.title = look.label
        self.icon.menu = self._menu(state)
        self.state = state

    def run(self, on_ready: Callable[[PystrayTray], None] | None = None) -> None:
        """Blocks on the UI loop until Quit; `on_ready` runs on a thread once the icon shows."""

        def setup(icon: object) -> None:
            self.icon.visible = True
            self.poller.start()
            if on_ready is not None:
                on_ready(self)

        try:
            self.icon.run(setup)
        except Exception as err:
            # pystray's GTK backend fails while tearing down when the desktop runs no notification
            # service; by then the user has quit and nothing is lost. Anything else is a failure.
            if not self.shell.quitting:
                raise RuntimeFailure(f"the system tray stopped: {err}") from err
        finally:
            self.poller.stop()
