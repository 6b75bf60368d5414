"""The desktop's own tools: open a file in its viewer, put text on the clipboard, show text.

Each runs as a separate process, so both tray shells can call them from any thread.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from localv4.errors import RuntimeFailure

CLIPBOARD_TOOLS = (
    ["wl-copy"],
    ["xclip", "-selection", "clipboard"],
    ["xsel", "--clipboard", "--input"],
)
TOOL_TIMEOUT_S = 5


def clipboard_command() -> list[str] | None:
    if sys.platform == "darwin":
        return ["pbcopy"]
    if sys.platform == "win32":
        return ["clip"]
    for tool in CLIPBOARD_TOOLS:
        if shutil.which(tool[0]):
            return tool
    return None


def copy_text(text: str) -> bool:
    """Whether the text is now on the clipboard (False: no clipboard tool on this machine)."""
    command = clipboard_command()
    if command is None:
        return False
    try:
        subprocess.run(command, input=text, text=True, check=True, timeout=TOOL_TIMEOUT_S,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def open_path(path: Path) -> None:
    """Open a file with the application the desktop uses for it (a log viewer, an editor)."""
    if sys.platform == "win32":
        os.startfile(path)  # type: ignore[attr-defined]
        return
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    if not shutil.which(opener):
        raise RuntimeFailure(f"cannot open {path}: `{opener}` is not installed; open the file yourself.")
    subprocess.Popen([opener, str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)


def show_text_window(title: str, text: str, spill: Path) -> None:
    """A Tk window with the text; without Tk, the text in the file `spill`, opened in a viewer."""
    if importlib.util.find_spec("tkinter") is None:
        spill.parent.mkdir(parents=True, exist_ok=True)
        spill.write_text(text + "\n", encoding="utf-8")
        open_path(spill)
        return
    window = subprocess.Popen([sys.executable, "-m", "localv4.tray.textwindow", title],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                              encoding="utf-8", start_new_session=True)
    assert window.stdin is not None
    with window.stdin:
        window.stdin.write(text)
