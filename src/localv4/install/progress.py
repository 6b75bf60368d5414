"""How long work reports itself, and running a tool with its output kept in a log.

The install API only calls a `Reporter`; the CLI decides whether that is a Rich progress view or
plain lines, and the tests can pass the silent default.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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


def progress_lines(reporter: Reporter) -> Callable[[str], None]:
    """An `on_line` for `run_logged` that tells REPORTER the build's figure as it rises.

    Never backwards: make counts each `--target` from its own start (a real log of
    `--target llama-server ggml-rpc-server` goes 0..100%, then 28..100% for the second)."""
    highest = [-1.0]

    def on_line(line: str) -> None:
        value = build_percent(line.strip())
        if value is not None and value > highest[0]:
            highest[0] = value
            reporter.percent(value)

    return on_line


@dataclass
class Eta:
    """Time left in a step, from how far its tool says it is and how long it has taken so far."""

    started: float = field(default_factory=time.monotonic)

    def remaining(self, percent: float, now: float | None = None) -> float | None:
        """Seconds left at PERCENT done; None until there is something to go on."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        if not 0 < percent < 100 or elapsed <= 0:
            return None
        return elapsed * (100 - percent) / percent


def format_duration(seconds: float) -> str:
    """`45 s`, `3 min`, `1 h 05 min`: what a person reads off a progress line."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


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
