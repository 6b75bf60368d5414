"""Assemble the whole `Hardware` profile from the probes, and load a saved one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from localv4.errors import UsageError
from localv4.hardware.amd import probe_amd
from localv4.hardware.apple import apple_chip_name, probe_apple
from localv4.hardware.cpu_features import cpu_features
from localv4.hardware.profile import Hardware
from localv4.hardware.nvidia import probe_nvidia
from localv4.hardware.sources import LiveSources, PlatformFacts, Sources

_OS_NAMES = {"win32": "windows", "cygwin": "windows"}
_ARCH_NAMES = {"aarch64": "arm64", "amd64": "x86_64", "x64": "x86_64"}


def detect(sources: Sources | None = None) -> Hardware:
    """Probe this machine (or a recorded one); never raises for a missing driver or tool."""
    sources = sources or LiveSources()
    facts = sources.platform()
    apple, apple_findings = probe_apple(sources, facts)
    gpus, gpu_findings = probe_nvidia(sources, facts)
    amd_gpus = probe_amd(sources, facts)
    if amd_gpus:  # "no NVIDIA GPU, models run on the CPU" is no news beside an AMD one
        gpu_findings = [f for f in gpu_findings if f.status != "ok"]
    ram_total, ram_available = sources.memory()
    disk_path, disk_free = sources.disk()
    ram_bandwidth = sources.ram_bandwidth(facts.logical_cores)
    return Hardware(
        os=_OS_NAMES.get(facts.system, "linux" if facts.system.startswith("linux") else facts.system),
        os_version=facts.os_version,
        arch=_ARCH_NAMES.get(facts.machine.lower(), facts.machine.lower()),
        cpu_model=cpu_model(sources, facts),
        cpu_cores=facts.physical_cores,
        cpu_threads=facts.logical_cores,
        cpu_features=cpu_features(sources, facts),
        ram_bandwidth_gbps=ram_bandwidth.gbps if ram_bandwidth else None,
        ram_bandwidth_source=ram_bandwidth.source if ram_bandwidth else "",
        ram_total=ram_total,
        ram_available=ram_available,
        disk_free=disk_free,
        disk_path=disk_path,
        python_version=facts.python_version,
        apple=apple,
        gpus=gpus,
        amd_gpus=amd_gpus,
        findings=(*apple_findings, *gpu_findings),
    )


def cpu_model(sources: Sources, facts: PlatformFacts) -> str:
    """ "AMD EPYC 9654 96-Core Processor"; the brand string on a Mac, /proc/cpuinfo on Linux."""
    if facts.system == "darwin":
        brand = (sources.run(["sysctl", "-n", "machdep.cpu.brand_string"]) or "").strip()
        return brand or apple_chip_name(sources) or facts.processor or "unknown"
    for line in (sources.read_text("/proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model") and value.strip():
            return value.strip()
    return facts.processor or facts.machine or "unknown"


def load_profile(path: str | Path) -> Hardware:
    """A profile saved by `localv4 doctor --json` (the whole report or its "hardware" part)."""
    try:
        data: Any = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"Cannot read hardware profile {path}: {exc.strerror or exc}.") from exc
    except ValueError as exc:
        raise UsageError(f"Hardware profile {path} is not valid JSON ({exc}).") from exc
    if isinstance(data, dict) and isinstance(data.get("hardware"), dict):
        data = data["hardware"]
    if not isinstance(data, dict):
        raise UsageError(f"Hardware profile {path} must be a JSON object; save one with `localv4 doctor --json`.")
    try:
        return Hardware.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"Hardware profile {path} is invalid ({exc}); save a new one with `localv4 doctor --json`."
        ) from exc
