"""Recorded machines (tests/machines/*.json) as `Hardware`, for any test that needs a real-looking box.

Each file holds what the tools printed on such a machine (sysctl, system_profiler, nvidia-smi,
NVML, /proc) plus RAM, disk and CPU facts; detection runs on it exactly as on a live machine.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from localv4.hardware import Hardware, RecordedSources, detect

MACHINES_DIR = Path(__file__).resolve().parents[1] / "machines"
MACHINES: tuple[str, ...] = tuple(sorted(p.stem for p in MACHINES_DIR.glob("*.json")))


def sources(name: str) -> RecordedSources:
    """The recorded outputs of one machine, to probe it (or a variant of it) directly."""
    path = MACHINES_DIR / f"{name}.json"
    if not path.exists():
        raise KeyError(f"no recorded machine {name!r}; known: {', '.join(MACHINES)}")
    return RecordedSources.from_file(path)


@lru_cache(maxsize=None)
def machine(name: str) -> Hardware:
    """The `Hardware` that `detect()` reports on the recorded machine NAME (immutable, so cached)."""
    return detect(sources(name))
