"""A bare virtual desktop with a system tray (Xvfb, a session bus, trayer) for the tray tests and screenshots."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from importlib.util import find_spec
from pathlib import Path

SESSION_TOOLS = ("Xvfb", "trayer", "xdotool", "dbus-daemon")
SCREENSHOT_TOOL = "import"  # ImageMagick
SCREEN = (640, 400)
PANEL_HEIGHT = 28
DOCKED_MIN_WIDTH = 16  # trayer's panel grows from ~2 px to hold each docked icon
WAIT_S = 30.0


def missing_tools(screenshot: bool = False) -> list[str]:
    """What this machine lacks to run the tray on a virtual display (and to take a screenshot)."""
    tools = SESSION_TOOLS + ((SCREENSHOT_TOOL,) if screenshot else ())
    missing = [tool for tool in tools if shutil.which(tool) is None]
    missing += [f"python module {name}" for name in ("pystray", "PIL", "Xlib") if find_spec(name) is None]
    try:
        import gi

        gi.require_version("Gtk", "3.0")
    except (ImportError, ValueError) as err:
        missing.append(f"GTK for Python ({err})")
    return missing


def _wait(what: str, check, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


class XSession:
    """Xvfb + its own session bus + trayer: a bare desktop with a system tray, torn down on exit."""

    def __init__(self, width: int = SCREEN[0], height: int = SCREEN[1]) -> None:
        self.size = (width, height)
        self.procs: list[subprocess.Popen] = []
        self.env: dict[str, str] = {}

    def __enter__(self) -> XSession:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, argv: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kwargs)
        self.procs.append(proc)
        return proc

    def _start(self) -> None:
        read_fd, write_fd = os.pipe()
        self._spawn(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{self.size[0]}x{self.size[1]}x24",
                     "-nolisten", "tcp"], pass_fds=(write_fd,), stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
        os.close(write_fd)
        with os.fdopen(read_fd) as numbers:
            display = f":{numbers.readline().strip()}"
        bus = self._spawn(["dbus-daemon", "--session", "--nofork", "--print-address"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert bus.stdout is not None
        self.env = {**os.environ, "DISPLAY": display, "DBUS_SESSION_BUS_ADDRESS": bus.stdout.readline().strip()}
        self.env.pop("WAYLAND_DISPLAY", None)
        self._spawn(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                     "--height", str(PANEL_HEIGHT), "--transparent", "false", "--tint", "0x303030"],
                    env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait("the tray host", self.panel)

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()

    # ---------------------------------------------------------------- looking

    def _x(self, *args: str) -> str:
        return subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True).stdout

    def panel(self) -> tuple[int, int, int, int] | None:
        """The tray host's window as (x, y, width, height)."""
        shell = self._x("search", "--name", "^panel$", "getwindowgeometry", "--shell")
        values = dict(line.split("=", 1) for line in shell.splitlines() if "=" in line)
        if not {"X", "Y", "WIDTH", "HEIGHT"} <= values.keys():
            return None
        return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])

    def wait_for(self, check, what: str):
        """Poll `check` until it returns something true; TimeoutError after WAIT_S seconds."""
        return _wait(what, check)

    def wait_docked(self) -> None:
        self.wait_for(lambda: (p := self.panel()) and p[2] >= DOCKED_MIN_WIDTH, "the tray icon to dock")

    def popup_menu(self) -> tuple[int, int, int, int] | None:
        """The open menu's window (x, y, width, height), found by its window type."""
        from Xlib import X, display

        screen = display.Display(self.env["DISPLAY"])
        try:
            wanted = screen.intern_atom("_NET_WM_WINDOW_TYPE_POPUP_MENU")
            kind = screen.intern_atom("_NET_WM_WINDOW_TYPE")
            for window in screen.screen().root.query_tree().children:
                if window.get_attributes().map_state != X.IsViewable:
                    continue
                types = window.get_full_property(kind, X.AnyPropertyType)
                if types is not None and wanted in types.value:
                    g = window.get_geometry()
                    return g.x, g.y, g.width, g.height
            return None
        finally:
            screen.close()

    # ---------------------------------------------------------------- doing

    def open_menu(self) -> tuple[int, int, int, int]:
        """Right-click the (only) tray icon; the menu's geometry once it shows."""
        x, y, width, height = self.panel()
        self._x("mousemove", str(x + width // 2), str(y + height // 2), "click", "3")
        return self.wait_for(self.popup_menu, "the tray menu")

    def wait_menu_closed(self) -> None:
        self.wait_for(lambda: self.popup_menu() is None, "the tray menu to close")

    def keys(self, *names: str) -> None:
        self._x("key", "--delay", "100", *names)

    def screenshot(self, path: Path, box: tuple[int, int, int, int] | None = None) -> None:
        """The whole screen, or `box` (left, top, right, bottom) of it, as a PNG."""
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-window", "root", str(path)], env=self.env, check=True)
        if box is not None:
            from PIL import Image

            with Image.open(path) as image:
                image.crop(box).save(path)
