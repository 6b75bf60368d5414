"""What a native llama.cpp build costs, measured: the disk it needs while it runs, and its CPU time.

Measured by `python scripts/bench_install.py --build` (docs/benchmarks.md): one
`localv4 install llama.cpp --cpu --yes` of the pinned sdist, timed as a whole process on a 2-core
x86-64 Debian machine (gcc 12, Unix Makefiles), with the CPU time of all its children and the
build cache's size sampled every second. A build spreads its compiler time over `--jobs` cores,
so the wall time on an idle machine is about that time over the cores; flavours not measured get
no number.
"""

from __future__ import annotations

import os

from localv4.install.progress import format_duration

# Measured for the CPU build: at most 0.31 GB in the build cache while it ran (unpacked sdist,
# cmake tree, objects) plus the 0.08 GB sdist beside it, so 0.39 GB. A CUDA or Metal build's
# objects were not measured: the check asks for 1 GB, which leaves them 0.6 GB of room.
BUILD_DISK_BYTES = 1_000_000_000

# Children's CPU time (user + system) of the whole CPU install, measured: 852 s (1482 s wall
# with 2 jobs on a machine shared with other builds, load average 5 to 7).
BUILD_CPU_SECONDS = {"cpu": 852.0}


def build_cores(jobs: int | None = None) -> int:
    """The cores a build with JOBS parallel jobs can keep busy here."""
    cores = os.cpu_count() or 1
    return max(1, min(jobs or cores, cores))


def build_seconds(flavour: str, jobs: int | None = None) -> float | None:
    """Expected wall time of a build with JOBS parallel jobs on an idle machine, or None where the
    flavour was not measured."""
    cpu_seconds = BUILD_CPU_SECONDS.get(flavour)
    return None if cpu_seconds is None else cpu_seconds / build_cores(jobs)


def describe_build_time(flavour: str, jobs: int | None = None) -> str:
    cores = f"on {build_cores(jobs)} core{'s' if build_cores(jobs) > 1 else ''}"
    seconds = build_seconds(flavour, jobs)
    if seconds is not None:
        return f"about {format_duration(seconds)} {cores}"
    cpu = build_seconds("cpu", jobs) or 0
    return f"not measured for a {flavour} build; the CPU build takes about {format_duration(cpu)} {cores}"
