"""Folding the JSON lines of `localv4 pull --json` into one progress value for the menu."""

from __future__ import annotations

from typing import Any

from localv4 import events
from localv4.tray.menu import PullProgress


class PullTracker:
    """Bytes done = complete files + the latest count of each file still downloading."""

    def __init__(self) -> None:
        self.variant = ""
        self.total = 0
        self.completed = 0
        self.in_flight: dict[str, int] = {}
        self.error: str | None = None

    def feed_line(self, line: str) -> None:
        """One line of the subprocess's output; anything that is not an event is ignored."""
        event = events.decode(line)
        if event is not None:
            self.feed(event)

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":  # one per variant pulled: the weights, then a draft; one bar for all
            self.variant = self.variant or str(event.get("variant", ""))
            self.total += int(event.get("total_bytes") or 0)
        elif kind in ("file_start", "progress", "retry"):
            self.in_flight[event["path"]] = int(event.get("done", event.get("resume_from", 0)) or 0)
        elif kind == "corrupt":
            self.in_flight[event["path"]] = 0
        elif kind == "file_done":
            self.in_flight.pop(event["path"], None)
            self.completed += int(event.get("size") or 0)
        elif kind == events.ERROR:
            self.error = str(event.get("message") or "the download failed")

    def progress(self) -> PullProgress | None:
        """None until the pull knows its total size."""
        if not self.total:
            return None
        done = min(self.total, self.completed + sum(self.in_flight.values()))
        return PullProgress(self.variant, done, self.total)
