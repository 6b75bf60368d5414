"""What the tray needs from the rest of localv4, as one small protocol.

The tray's menu and controller talk only to a `Backend`; `LocalBackend` is the one real
implementation (the serve API and `localv4 ... --json` subprocesses). Every method may block:
the controller calls them off the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from localv4.tray.menu import PullProgress, ServerPhase


@dataclass(frozen=True)
class ServerView:
    """The engine as the tray shows it."""

    phase: ServerPhase
    endpoint: str | None = None
    variant: str | None = None
    context: int | None = None
    tokens_per_s: float | None = None
    workers: tuple[str, ...] = ()  # a pooled engine's RPC workers
    problem: str | None = None  # e.g. which pooled worker is gone
    draft: str | None = None  # "dspark: <file>" while the engine decodes speculatively


class Backend(Protocol):
    def status(self) -> ServerView:
        """The engine now; fast (reads the state file and the process table)."""

    def start(self) -> None:
        """Pull the plan's weights if missing, then serve them; returns once the endpoint answers."""

    def stop(self) -> None:
        """Stop the engine and everything it started."""

    def open_chat(self) -> None:
        """Start Open WebUI on the endpoint if it is not running, and open it in the browser."""

    def endpoint(self) -> str | None:
        """The OpenAI-compatible base URL while the engine is up."""

    def pull_progress(self) -> PullProgress | None:
        """The download `start` is doing now, if any."""

    def doctor_text(self) -> str:
        """`localv4 doctor` as a person reads it."""

    def log_path(self) -> Path:
        """The engine's log file."""
