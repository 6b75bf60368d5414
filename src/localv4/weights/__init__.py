"""The weights stage: a variant's files from the hub into the Hugging Face cache, verified.

    locate(variant, local_dir=None) -> LocalWeights | None   offline: complete on disk? where?
    pull(variant, local_dir=None, on_event=...) -> LocalWeights   download what is missing
    inventory(local_dir=None) -> list[VariantOnDisk]          what is on disk, per variant
    missing_bytes(variant, local_dir=None) -> int             what a pull would still download
    remove(variant, local_dir=None) -> int                     delete it; the bytes freed
"""

from localv4.weights.events import (
    EventSink,
    FileCorrupt,
    FileDone,
    FileProgress,
    FileRetry,
    FileStarted,
    PullEvent,
    PullFinished,
    PullNote,
    PullStarted,
)
from localv4.weights.local import inventory, locate, missing_bytes, remove
from localv4.weights.files import LocalWeights, VariantOnDisk
from localv4.weights.pull import pull

__all__ = [
    "EventSink", "FileCorrupt", "FileDone", "FileProgress", "FileRetry", "FileStarted", "LocalWeights",
    "PullEvent", "PullFinished", "PullNote", "PullStarted", "VariantOnDisk", "inventory", "locate",
    "missing_bytes", "pull", "remove",
]
