"""What a native llama.cpp build costs, measured: the disk it needs while it runs, and its time.

Measured by `python scripts/bench_install.py --build` (docs/benchmarks.md): one
`localv4 install llama.cpp --cpu --yes` of the pinned sdist, timed as a whole process on a 2-core
x86-64 Debian machine (gcc 12, Unix Makefiles), with the CPU time of all its children and the
build cache's size sampled every second. Flavours not measured get no number.

The wall time is a model of that measurement, stated so a person can check it:
- a build spreads its compiler CPU time over its jobs, one core each on an idle machine;
- on a busy one the kernel shares the cores fairly among everything that wants to run: the
  build's jobs and the load average's other work. Once `jobs + load` exceeds the cores, each
  job gets `cores / (jobs + load)` of a core, so the build takes `(jobs + load) / cores` times
  as long as on idle cores.
The measurement agrees: 852 CPU-seconds with 2 jobs on 2 cores at load average 5 to 7 (the 2
jobs included, so 3 to 5 others) gives 1065 to 1491 s by the model; it took 1482 s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from localv4.install.progress import format_duration

# Measured for the CPU build: at most 0.31 GB in the build cache while it ran (unpacked sdist,
# cmake tree, objects) plus the 0.08 GB sdist beside it, so 0.39 GB. A CUDA or Metal build's
# objects were not measured: the check asks for 1 GB, which leaves them 0.6 GB of room.
BUILD_DISK_BYTES = 1_000_000_000

# Said beside the idle figure only from this slowdown on: below it the two round alike.
BUSY_FACTOR = 1.25


@dataclass(frozen=True)
class BuildRun:
    """One measured build: its children's CPU time (user + system), its wall time, and the
    machine it shared (the load average while it ran, its own jobs included)."""

    cpu_s: float
    wall_s: float
    jobs: int
    cores: int
    load: tuple[float, float]  # lowest and highest load average seen while it ran


CPU_RUN = BuildRun(cpu_s=852.0, wall_s=1482.0, jobs=2, cores=2, load=(5.0, 7.0))
# The Vulkan build (`install llama.cpp --vulkan`, server, RPC worker and llama-fit-params, a few
# hundred shaders through Debian 12's glslc), run by localv4's own install code under `nice`
# beside other work (one-minute load average 1.6 to 4.4, sampled every 5 s); at most 0.40 GB
# more in the build cache while it ran (docs/benchmarks.md).
VULKAN_RUN = BuildRun(cpu_s=862.0, wall_s=804.0, jobs=2, cores=2, load=(1.6, 4.4))
BUILD_RUNS = {"cpu": CPU_RUN, "vulkan": VULKAN_RUN}


def build_cores(jobs: int | None = None) -> int:
    """The cores a build with JOBS parallel jobs can keep busy here."""
    cores = os.cpu_count() or 1
    return max(1, min(jobs or cores, cores))


def machine_load() -> float | None:
    """Other work's demand for the cores: the five-minute load average (steadier than the last
    minute's, and a build outlasts both); None where the system has none (Windows)."""
    try:
        return os.getloadavg()[1]
    except (AttributeError, OSError):
        return None


def slowdown(jobs: int, cores: int, load: float) -> float:
    """How many times longer JOBS jobs take beside LOAD other runnable work on CORES cores, the
    cores shared fairly (the module's model)."""
    return max(1.0, (jobs + max(0.0, load)) / cores)


def build_seconds(flavour: str, jobs: int | None = None, load: float = 0.0) -> float | None:
    """Expected wall time of a build with JOBS parallel jobs beside LOAD other work (0: idle),
    or None where the flavour was not measured."""
    run = BUILD_RUNS.get(flavour)
    return None if run is None else _seconds(run, build_cores(jobs), load)


def _seconds(run: BuildRun, jobs: int, load: float) -> float:
    return run.cpu_s / jobs * slowdown(jobs, os.cpu_count() or 1, load)


@dataclass(frozen=True)
class BuildTime:
    """A build's time here: on idle cores, and at the machine's load when it is busy enough to matter."""

    cores: int
    idle_s: float
    load: float | None
    loaded_s: float

    @property
    def busy(self) -> bool:
        return self.load is not None and self.loaded_s >= BUSY_FACTOR * self.idle_s

    def describe(self) -> str:
        """`about 7 min on 2 idle cores; this machine is busy (load 5.2): about 26 min`."""
        idle = f"about {format_duration(self.idle_s)} on {self.cores} idle core{'s' if self.cores > 1 else ''}"
        if not self.busy:
            return idle
        return f"{idle}; this machine is busy (load {self.load:.1f}): about {format_duration(self.loaded_s)}"


def build_time(flavour: str, jobs: int | None = None, load: float | None = None) -> BuildTime | None:
    """FLAVOUR's build time here at LOAD (None: this machine's load now); None where not measured."""
    run = BUILD_RUNS.get(flavour)
    return None if run is None else _time_of(run, jobs, machine_load() if load is None else load)


def _time_of(run: BuildRun, jobs: int | None, load: float | None) -> BuildTime:
    cores = build_cores(jobs)
    return BuildTime(cores, _seconds(run, cores, 0.0), load, _seconds(run, cores, load or 0.0))


def describe_build_time(flavour: str, jobs: int | None = None) -> str:
    """The build's time in words, for the offer, the dry run and the build's first line."""
    here = _time_of(BUILD_RUNS.get(flavour, CPU_RUN), jobs, machine_load()).describe()
    return here if flavour in BUILD_RUNS else f"not measured for a {flavour} build; the CPU build takes {here}"
