"""What a native llama.cpp build costs, measured: the disk it needs while it runs, and its CPU time.

Measured on a 2-core x86-64 Debian machine (gcc 12, Unix Makefiles) by sampling one
`localv4 install llama.cpp --cpu --yes` of the pinned sdist every 5 s: its children's CPU time
(/proc/PID/stat) and the size of the build's temp folder. `scripts/bench_install.py --build` times
the same as a whole process (docs/benchmarks.md). A build spreads its compiler time over `--jobs`
cores, so the wall time is about that time over the cores; flavours not measured get no number.
"""

from __future__ import annotations

import os

from localv4.install.progress import format_duration

# Measured for the CPU build: at most 0.31 GB in the temp folder (unpacked sdist, cmake tree,
# objects) plus the 0.08 GB sdist, so 0.39 GB. A CUDA or Metal build's objects were not measured:
# the check asks for 1 GB, which leaves them 0.6 GB of room.
BUILD_DISK_BYTES = 1_000_000_000

# Children's CPU time (user + system) of the whole CPU install, measured: 763 s (download and
# configure included; 624 s wall with 2 jobs on a machine shared with other work).
BUILD_CPU_SECONDS = {"cpu": 763.0}


def build_seconds(flavour: str, jobs: int | None = None) -> float | None:
    """Expected wall time of a build with JOBS parallel jobs, or None where it was not measured."""
    cpu_seconds = BUILD_CPU_SECONDS.get(flavour)
    if cpu_seconds is None:
        return None
    return cpu_seconds / max(1, min(jobs or os.cpu_count() or 1, os.cpu_count() or 1))


def describe_build_time(flavour: str, jobs: int | None = None) -> str:
    seconds = build_seconds(flavour, jobs)
    if seconds is not None:
        return f"about {format_duration(seconds)} here"
    cpu = build_seconds("cpu", jobs)
    return f"not measured for a {flavour} build; the CPU build takes about {format_duration(cpu or 0)} here"
