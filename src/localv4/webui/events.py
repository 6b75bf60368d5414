"""Progress reports from the UI stages, as plain values the CLI (or the tray) renders.

Pull progress is folded from the Docker engine's per-layer stream into one byte count, so a
renderer shows one bar instead of a line per layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class UIEvent:
    """One step ("step"), pull progress ("pull") or a line of installer output ("install")."""

    kind: str
    message: str
    completed: int | None = None
    total: int | None = None


EventSink = Callable[[UIEvent], None]


def ignore(_event: UIEvent) -> None:
    """The sink for callers that do not show progress."""


_DONE_STATUSES = ("Download complete", "Pull complete", "Already exists")


@dataclass
class PullProgress:
    """Bytes downloaded across all layers of one `docker pull` stream."""

    image: str
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (current, total)
    done: set[str] = field(default_factory=set)

    def update(self, line: dict) -> UIEvent | None:
        """Fold one decoded stream line in; the event to show, or None for lines without news."""
        layer, status = line.get("id"), line.get("status", "")
        if not layer:
            return None
        detail = line.get("progressDetail") or {}
        if status == "Downloading" and detail.get("total"):
            self.layers[layer] = (int(detail.get("current", 0)), int(detail["total"]))
        elif status in _DONE_STATUSES:
            self.done.add(layer)
            size = self.layers.get(layer, (0, 0))[1]
            self.layers[layer] = (size, size)
        elif status in ("Pulling fs layer", "Waiting"):
            self.layers.setdefault(layer, (0, 0))
        else:
            return None
        completed = sum(current for current, _ in self.layers.values())
        total = sum(size for _, size in self.layers.values())
        message = f"pulling {self.image}: {len(self.done)}/{len(self.layers)} layers"
        return UIEvent("pull", message, completed, total or None)
