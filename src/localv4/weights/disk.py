"""The free-space check a pull makes before its first byte: a 150 GB download must not die at 140 GB."""

from __future__ import annotations

from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.storage import free_bytes
from localv4.units import format_gb

MIN_MARGIN = 1_000_000_000  # room left for the OS, logs and the engine beside the weights


def margin_for(missing: int) -> int:
    return max(MIN_MARGIN, missing // 50)


def check_free_space(target: Path, missing: int) -> None:
    if missing <= 0:
        return
    needed, free = missing + margin_for(missing), free_bytes(target)
    if free < needed:
        raise RuntimeFailure(
            f"not enough disk space in {target}: the download needs {format_gb(missing)} more "
            f"(+{format_gb(needed - missing)} margin), only {format_gb(free)} is free. "
            "Free some space, or pull to another disk with --dir (or HF_HOME)."
        )
