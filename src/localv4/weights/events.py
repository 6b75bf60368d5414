"""What a pull reports while it runs: small values the CLI renders and the tray reads as JSON lines."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, ClassVar


@dataclass(frozen=True)
class PullEvent:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass(frozen=True)
class PullStarted(PullEvent):
    """The hub listing is known and the disk has room: downloading begins."""

    kind: ClassVar[str] = "start"
    variant: str
    repo: str
    commit: str
    target: str
    files: int
    total_bytes: int
    present_bytes: int  # already on disk (complete files and partial ones)


@dataclass(frozen=True)
class FileStarted(PullEvent):
    kind: ClassVar[str] = "file_start"
    path: str
    size: int
    resume_from: int  # bytes of an earlier interrupted download kept
    transport: str = "http"  # "xet" when the hub's Xet storage carries the file


@dataclass(frozen=True)
class FileProgress(PullEvent):
    kind: ClassVar[str] = "progress"
    path: str
    done: int
    size: int


@dataclass(frozen=True)
class FileRetry(PullEvent):
    """A transient failure; the file continues from `done` after `wait_s`."""

    kind: ClassVar[str] = "retry"
    path: str
    reason: str
    attempt: int
    max_attempts: int
    wait_s: float
    done: int


@dataclass(frozen=True)
class FileCorrupt(PullEvent):
    """The hash did not match: the file is deleted and fetched again from its first byte."""

    kind: ClassVar[str] = "corrupt"
    path: str
    expected: str
    actual: str
    attempt: int
    max_attempts: int


@dataclass(frozen=True)
class FileDone(PullEvent):
    """A file is complete and its hash checked. `fetched` is what this run downloaded of it."""

    kind: ClassVar[str] = "file_done"
    path: str
    size: int
    fetched: int
    already_present: bool


@dataclass(frozen=True)
class PullFinished(PullEvent):
    kind: ClassVar[str] = "done"
    variant: str
    path: str
    total_bytes: int
    fetched_bytes: int
    seconds: float


@dataclass(frozen=True)
class PullNote(PullEvent):
    """Something the user should know that changes nothing, e.g. the hub was unreachable but all is here."""

    kind: ClassVar[str] = "note"
    message: str


EventSink = Callable[[PullEvent], None]


def ignore(event: PullEvent) -> None:
    """The default sink: a caller that wants no progress."""


__all__ = [
    "EventSink", "FileCorrupt", "FileDone", "FileProgress", "FileRetry", "FileStarted", "PullEvent",
    "PullFinished", "PullNote", "PullStarted", "ignore",
]
