"""Record what the probes read on this machine, in the format `RecordedSources` replays.

Run `python -m localv4.hardware.record NAME.json` on a real Mac or GPU box to add it to
tests/machines/: the file holds exactly the tool output detection saw, nothing made up.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from localv4.hardware.ram_probe import RamBandwidth
from localv4.hardware.sources import (
    LiveSources,
    NvmlReading,
    NvmlUnavailable,
    PlatformFacts,
)
from localv4.storage import write_atomic


class RecordingSources(LiveSources):
    """LiveSources that keeps every answer in `data`."""

    def __init__(self) -> None:
        super().__init__(remeasure=True)  # a recording holds what was measured on the spot
        self.data: dict[str, Any] = {"commands": {}, "files": {}}

    def run(self, argv: Sequence[str]) -> str | None:
        out = super().run(argv)
        if self.has_tool(argv[0]):  # absent from the record means "not installed"
            self.data["commands"][shlex.join(argv)] = out
        return out

    def read_text(self, path: str) -> str | None:
        text = super().read_text(path)
        if text is not None:
            self.data["files"][path] = text
        return text

    def metal_working_set(self) -> int | None:
        self.data["metal_working_set"] = super().metal_working_set()
        return self.data["metal_working_set"]

    def nvml(self) -> NvmlReading:
        try:
            reading = super().nvml()
        except NvmlUnavailable as exc:
            self.data["nvml"] = {"error": str(exc)}
            raise
        self.data["nvml"] = asdict(reading)
        return reading

    def memory(self) -> tuple[int, int]:
        total, available = super().memory()
        self.data["memory"] = {"total": total, "available": available}
        return total, available

    def disk(self) -> tuple[str, int]:
        path, free = super().disk()
        self.data["disk"] = {"path": path, "free": free}
        return path, free

    def platform(self) -> PlatformFacts:
        facts = super().platform()
        self.data["platform"] = asdict(facts)
        return facts

    def ram_bandwidth(self, threads: int) -> RamBandwidth | None:
        measured = super().ram_bandwidth(threads)
        self.data["ram_bandwidth"] = asdict(measured) if measured else None
        return measured


def record(path: str | Path, description: str = "") -> None:
    """Detect this machine while recording, then write the record atomically."""
    from localv4.hardware.detect import detect

    recorder = RecordingSources()
    detect(recorder)
    write_atomic(Path(path), json.dumps({"description": description, **recorder.data}, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m localv4.hardware.record FILE.json [DESCRIPTION]")
    record(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else "")
