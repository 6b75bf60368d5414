"""Start the tray at login: a LaunchAgent on macOS, an XDG autostart entry on Linux.

A login session does not read the shell's profile, so the few variables that say where
localv4 keeps its state and where the weights are (and PATH, to find the engines) are written
into the entry as they are now. Secrets such as HF_TOKEN never are.
"""

from __future__ import annotations

import os
import plistlib
import sys
from dataclasses import dataclass
from pathlib import Path

from localv4 import env
from localv4.errors import UsageError
from localv4.storage import write_atomic

LABEL = "io.localv4.tray"
DESKTOP_FILE = "localv4-tray.desktop"
CARRIED_ENV = ("PATH", env.HOME, "HF_HOME", "HF_HUB_CACHE")


@dataclass(frozen=True)
class LoginItem:
    """One file whose presence means 'start the tray at login'."""

    path: Path
    content: bytes

    def enabled(self) -> bool:
        return self.path.exists()

    def set(self, on: bool) -> None:
        if on:
            write_atomic(self.path, self.content)  # launchd reads it whole or not at all
        else:
            self.path.unlink(missing_ok=True)


def tray_command() -> list[str]:
    """This Python, so the login item runs the same localv4 that turned it on."""
    return [sys.executable, "-m", "localv4", "tray"]


def carried_env() -> dict[str, str]:
    return {name: os.environ[name] for name in CARRIED_ENV if os.environ.get(name)}


def launch_agent(home: Path, command: list[str], env: dict[str, str]) -> LoginItem:
    plist = {
        "Label": LABEL,
        "ProgramArguments": command,
        "RunAtLoad": True,
        "ProcessType": "Interactive",
    }
    if env:
        plist["EnvironmentVariables"] = env
    return LoginItem(home / "Library" / "LaunchAgents" / f"{LABEL}.plist", plistlib.dumps(plist))


def _desktop_quote(arg: str) -> str:
    """One argument of an Exec= line: reserved characters in double quotes, `"`$\\` escaped, % doubled."""
    if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`'):
        return arg.replace("%", "%%")
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'.replace("%", "%%")


def _exec_value(argv: list[str]) -> str:
    """The quoted arguments, then the string-value escaping that is applied before quoting (\\ -> \\\\)."""
    return " ".join(_desktop_quote(a) for a in argv).replace("\\", "\\\\")


def xdg_autostart(config_home: Path, command: list[str], env: dict[str, str]) -> LoginItem:
    argv = (["env", *(f"{k}={v}" for k, v in env.items())] if env else []) + command
    text = "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=localv4",
        "Comment=DeepSeek V4-Flash on this machine: status, start and stop",
        "Exec=" + _exec_value(argv),
        "Terminal=false",
        "X-GNOME-Autostart-enabled=true",
        "",
    ])
    return LoginItem(config_home / "autostart" / DESKTOP_FILE, text.encode("utf-8"))


def supported() -> bool:
    return sys.platform == "darwin" or sys.platform.startswith(("linux", "freebsd", "openbsd"))


def for_this_platform() -> LoginItem:
    """The login item of this OS, for the tray as this Python runs it."""
    if sys.platform == "darwin":
        return launch_agent(Path.home(), tray_command(), carried_env())
    if supported():
        config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        return xdg_autostart(config_home, tray_command(), carried_env())
    raise UsageError(f"start at login is not supported on {sys.platform} yet: "
                     "add `localv4 tray` to your startup programs by hand.")


def parse_switch(value: str) -> bool:
    """`--login on|off`."""
    text = value.strip().lower()
    if text in ("on", "off"):
        return text == "on"
    raise UsageError(f"--login takes 'on' or 'off' (got '{value}').")
