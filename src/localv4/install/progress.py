"""How long work reports itself, and running a tool with its output kept in a log.

The install API only calls a `Reporter`; the CLI decides whether that is a Rich progress view or
plain lines, and the tests can pass the silent default.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

# `[ 45%] Building CXX object ...` (Makefiles) and `[123/456] Building ...` (Ninja).
_MAKE_PERCENT = re.compile(r"^\[\s*(\d{1,3})%\]")
_NINJA_STEPS = re.compile(r"^\[(\d+)/(\d+)\]")


class Reporter(Protocol):
    def stage(self, name: str) -> None:
        """A new step begins: "download", "configure", "compile", "verify", "install"."""

    def percent(self, value: float) -> None:
        """How far the current step is, 0-100, when the tool says."""

    def note(self, message: str) -> None:
        """Something the user should read (a choice made, a file kept)."""


class SilentReporter:
    def stage(self, name: str) -> None:
        pass

    def percent(self, value: float) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def build_percent(line: str) -> float | None:
    """The build's own progress figure on this output line, if it has one."""
    make = _MAKE_PERCENT.match(line)
    if make:
        return float(make.group(1))
    ninja = _NINJA_STEPS.match(line)
    if ninja and int(ninja.group(2)):
        return 100.0 * int(ninja.group(1)) / int(ninja.group(2))
    return None


def run_logged(command: list[str], log: Path, on_line: Callable[[str], None] = lambda _: None,
               cwd: Path | None = None, env: dict[str, str] | None = None) -> int:
    """Run COMMAND, appending everything it prints to LOG; each line also goes to ON_LINE."""
    with open(log, "a", encoding="utf-8", buffering=1) as out:  # line by line: `tail -f` works
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        try:
            process = subprocess.Popen(
                command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
            )
        except OSError as err:
            out.write(f"could not start: {err}\n")
            return 127
        assert process.stdout is not None
        with process:
            for line in process.stdout:
                out.write(line)
                on_line(line)
        out.write(f"[exit {process.returncode}]\n")
        return process.returncode
