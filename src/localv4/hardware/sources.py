"""The raw facts the probes read, behind one small interface.

Probes never touch the machine directly: they ask a `Sources`. `LiveSources` reads this machine;
`RecordedSources` replays a JSON file recorded on another one, so a Mac Studio or a 2x H100 box
can be probed in tests on any Linux laptop, from the real output its tools print.
"""

from __future__ import annotations

import fnmatch
import glob as globbing
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from localv4.hardware.ram_probe import RamBandwidth, kept_ram_bandwidth
from localv4.paths import hf_cache_dir

COMMAND_TIMEOUT_S = 15
# Where a Linux NVIDIA driver shows itself: the kernel module's folder, or WSL2's GPU device (its
# NVML comes from Windows). Without either, NVML cannot answer: not imported (it costs every `plan`).
NVIDIA_DRIVER_MARKS = ("/proc/driver/nvidia", "/dev/dxg")  # system_profiler can take a few seconds on a cold start


@dataclass(frozen=True)
class PlatformFacts:
    system: str  # sys.platform: "linux" | "darwin" | "win32"
    machine: str  # platform.machine(): "x86_64" | "arm64" | "aarch64" | "AMD64"
    os_version: str
    python_version: str
    processor: str  # platform.processor(): the CPU model where no better source exists
    physical_cores: int
    logical_cores: int  # usable by this process (CPU affinity), like `nproc`


@dataclass(frozen=True)
class NvmlDevice:
    name: str
    memory_total: int | None  # bytes; None where NVML answers NOT_SUPPORTED (unified memory: DGX Spark)
    memory_free: int | None  # bytes
    cuda_compute_capability: tuple[int, int] | None
    memory_bus_width: int | None = None  # bits
    max_memory_clock_mhz: int | None = None


@dataclass(frozen=True)
class NvmlReading:
    driver_version: str
    cuda_driver_version: int | None  # 12080 for CUDA 12.8
    devices: tuple[NvmlDevice, ...]


class NvmlUnavailable(Exception):
    """NVML could not be read (no library, no driver, driver mismatch); the message says why."""


class Sources(ABC):
    @abstractmethod
    def run(self, argv: Sequence[str]) -> str | None:
        """A command's stdout; None when the tool is missing or fails."""

    @abstractmethod
    def has_tool(self, name: str) -> bool:
        """Whether a command is installed, to tell "missing" from "installed but failing"."""

    @abstractmethod
    def read_text(self, path: str) -> str | None:
        """A file's text (/proc/cpuinfo, say); None when it cannot be read."""

    @abstractmethod
    def glob(self, pattern: str) -> list[str]:
        """The files matching a shell pattern (`*` within one path part), sorted: the DRM cards."""

    @abstractmethod
    def metal_working_set(self) -> int | None:
        """Metal's recommended max working set in bytes, where mlx with Metal can be imported."""

    @abstractmethod
    def nvml(self) -> NvmlReading:
        """NVIDIA GPUs as NVML sees them; raises NvmlUnavailable."""

    @abstractmethod
    def memory(self) -> tuple[int, int]:
        """RAM (total, available) in bytes."""

    @abstractmethod
    def disk(self) -> tuple[str, int]:
        """(path where models are stored, bytes free there)."""

    @abstractmethod
    def platform(self) -> PlatformFacts: ...

    @abstractmethod
    def ram_bandwidth(self, threads: int) -> RamBandwidth | None:
        """RAM bandwidth as the probe measures it on `threads` CPUs; None when it cannot be measured."""


class LiveSources(Sources):
    """This machine. `remeasure`: measure the RAM bandwidth again instead of the kept figure."""

    def __init__(self, remeasure: bool = False) -> None:
        self.remeasure = remeasure

    def run(self, argv: Sequence[str]) -> str | None:
        if not self.has_tool(argv[0]):  # not installed: no process to start (it costs every `plan`)
            return None
        try:
            done = subprocess.run(
                list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    def has_tool(self, name: str) -> bool:
        return shutil.which(name) is not None

    def read_text(self, path: str) -> str | None:
        try:
            return Path(path).read_text(errors="replace")
        except OSError:
            return None

    def glob(self, pattern: str) -> list[str]:
        return sorted(globbing.glob(pattern))

    def metal_working_set(self) -> int | None:
        if sys.platform != "darwin":
            return None
        try:
            import mlx.core as mx

            if not mx.metal.is_available():
                return None
            return int(mx.metal.device_info()["max_recommended_working_set_size"])
        except Exception:  # noqa: BLE001 - any mlx failure just means "cannot be queried"
            return None

    def nvml(self) -> NvmlReading:
        if sys.platform.startswith("linux") and not any(os.path.exists(p) for p in NVIDIA_DRIVER_MARKS):
            raise NvmlUnavailable("no NVIDIA kernel driver is loaded (no /proc/driver/nvidia)")
        try:
            import pynvml
        except ImportError as exc:
            raise NvmlUnavailable(f"nvidia-ml-py is not installed ({exc})") from exc
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise NvmlUnavailable(str(exc)) from exc
        try:
            return NvmlReading(
                driver_version=_text(pynvml.nvmlSystemGetDriverVersion()),
                cuda_driver_version=_optional(pynvml.nvmlSystemGetCudaDriverVersion),
                devices=tuple(
                    _nvml_device(pynvml, pynvml.nvmlDeviceGetHandleByIndex(i))
                    for i in range(pynvml.nvmlDeviceGetCount())
                ),
            )
        except pynvml.NVMLError as exc:
            raise NvmlUnavailable(str(exc)) from exc
        finally:
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError:
                pass

    def memory(self) -> tuple[int, int]:
        linux = _linux_meminfo()
        if linux:
            return linux
        import psutil

        vm = psutil.virtual_memory()
        return int(vm.total), int(vm.available)

    def disk(self) -> tuple[str, int]:
        target = hf_cache_dir()
        existing = target
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        return str(target), shutil.disk_usage(existing).free

    def platform(self) -> PlatformFacts:
        logical = _usable_cpus()
        physical = _linux_physical_cores()
        if physical is None:
            import psutil

            physical = psutil.cpu_count(logical=False)
        return PlatformFacts(
            system=sys.platform,
            machine=platform.machine(),
            os_version=_os_version(),
            python_version=platform.python_version(),
            processor=_processor(),
            physical_cores=min(physical or logical, logical),
            logical_cores=logical,
        )

    def ram_bandwidth(self, threads: int) -> RamBandwidth | None:
        machine = f"{platform.machine()} {_processor()} {threads} threads {self.memory()[0]} B"
        return kept_ram_bandwidth(threads, machine, self.remeasure)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _optional(read: Any, *args: Any) -> Any:
    """An NVML reading some GPUs or drivers do not support: None instead of an error."""
    import pynvml

    try:
        return read(*args)
    except pynvml.NVMLError:
        return None


def _nvml_device(pynvml: Any, handle: Any) -> NvmlDevice:
    memory = _optional(pynvml.nvmlDeviceGetMemoryInfo, handle)  # NOT_SUPPORTED on unified memory
    capability = _optional(pynvml.nvmlDeviceGetCudaComputeCapability, handle)
    return NvmlDevice(
        name=_text(pynvml.nvmlDeviceGetName(handle)),
        memory_total=int(memory.total) if memory else None,
        memory_free=int(memory.free) if memory else None,
        cuda_compute_capability=tuple(capability) if capability else None,
        memory_bus_width=_optional(pynvml.nvmlDeviceGetMemoryBusWidth, handle),
        max_memory_clock_mhz=_optional(pynvml.nvmlDeviceGetMaxClockInfo, handle, pynvml.NVML_CLOCK_MEM),
    )


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# On Linux the kernel's own files answer what psutil and `uname -p` would: reading them costs well
# under a millisecond, where importing psutil and running uname cost ~25 ms of every `plan`.
def _linux_meminfo() -> tuple[int, int] | None:
    """(MemTotal, MemAvailable) in bytes from /proc/meminfo, or None off Linux (or a kernel < 3.14)."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    kib = {key: value.split()[0] for key, _, value in (line.partition(":") for line in lines) if value.strip()}
    if "MemTotal" not in kib or "MemAvailable" not in kib:
        return None
    return int(kib["MemTotal"]) * 1024, int(kib["MemAvailable"]) * 1024


def _linux_physical_cores() -> int | None:
    """Cores (not hardware threads): the distinct sibling sets of sysfs's CPU topology, as psutil counts them."""
    siblings = {Path(path).read_text().strip()
                for path in globbing.glob("/sys/devices/system/cpu/cpu[0-9]*/topology/core_cpus_list")}
    return len(siblings) or None


def _processor() -> str:
    """platform.processor(), which on Linux runs `uname -p` (usually "unknown"): the kernel's
    machine name there instead; the CPU's model is read from /proc/cpuinfo where it is shown."""
    return platform.machine() if sys.platform.startswith("linux") else platform.processor()


def _os_version() -> str:
    """ "15.5" on macOS; the distribution and kernel on Linux; the build on Windows."""
    if sys.platform == "darwin":
        return platform.mac_ver()[0]
    if sys.platform.startswith("linux"):
        try:
            distro = platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")
        except OSError:
            distro = "Linux"
        return f"{distro} (kernel {platform.release()})"
    return platform.version()


class RecordedSources(Sources):
    """Facts recorded on another machine (tests/machines/*.json), replayed exactly.

    Commands are keyed by their exact command line (`shlex.join(argv)`): a command that is
    absent was not installed there; one recorded as null was installed but failed.
    """

    def __init__(self, data: dict[str, Any]):
        self.data = data

    @classmethod
    def from_file(cls, path: str | Path) -> RecordedSources:
        return cls(json.loads(Path(path).read_text()))

    def run(self, argv: Sequence[str]) -> str | None:
        return self.data.get("commands", {}).get(shlex.join(argv))

    def has_tool(self, name: str) -> bool:
        return any(shlex.split(line)[0] == name for line in self.data.get("commands", {}))

    def read_text(self, path: str) -> str | None:
        return self.data.get("files", {}).get(path)

    def glob(self, pattern: str) -> list[str]:
        """The recorded files that match: a recording keeps every file the probes read."""
        parts = pattern.split("/")
        return sorted(path for path in self.data.get("files", {})
                      if len(path.split("/")) == len(parts)
                      and all(fnmatch.fnmatchcase(p, q) for p, q in zip(path.split("/"), parts)))

    def metal_working_set(self) -> int | None:
        return self.data.get("metal_working_set")

    def nvml(self) -> NvmlReading:
        recorded = self.data.get("nvml") or {"error": "NVML Shared Library Not Found"}
        if "error" in recorded:
            raise NvmlUnavailable(recorded["error"])
        return NvmlReading(
            driver_version=recorded["driver_version"],
            cuda_driver_version=recorded.get("cuda_driver_version"),
            devices=tuple(
                NvmlDevice(**{**d, "cuda_compute_capability": _pair(d.get("cuda_compute_capability"))})
                for d in recorded["devices"]
            ),
        )

    def memory(self) -> tuple[int, int]:
        return self.data["memory"]["total"], self.data["memory"]["available"]

    def disk(self) -> tuple[str, int]:
        return self.data["disk"]["path"], self.data["disk"]["free"]

    def platform(self) -> PlatformFacts:
        return PlatformFacts(**self.data["platform"])

    def ram_bandwidth(self, threads: int) -> RamBandwidth | None:
        """As recorded (absent in records made before the probe existed)."""
        recorded = self.data.get("ram_bandwidth")
        return RamBandwidth(float(recorded["gbps"]), recorded["source"]) if recorded else None


def _pair(value: Sequence[int] | None) -> tuple[int, int] | None:
    return (int(value[0]), int(value[1])) if value else None
