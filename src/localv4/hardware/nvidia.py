"""NVIDIA GPUs: from NVML, else from nvidia-smi; a missing or broken driver is a finding, never a crash."""

from __future__ import annotations

import re
from dataclasses import replace

from localv4.hardware.bandwidth import nvidia_bandwidth
from localv4.hardware.profile import GIB, Finding, NvidiaGPU
from localv4.hardware.sources import NvmlReading, NvmlUnavailable, PlatformFacts, Sources

MIB = 1024**2
SMI_QUERY = (
    "nvidia-smi",
    "--query-gpu=index,name,memory.total,memory.free,compute_cap,driver_version",
    "--format=csv,noheader,nounits",
)
NVIDIA_PCI_VENDOR = "10de"


# GPUs without memory of their own: NVML answers NOT_SUPPORTED for their memory and nvidia-smi
# prints [N/A] (NVIDIA's DGX Spark known issues). Matched in the upper-cased name.
UNIFIED_MEMORY_PARTS = re.compile(r"\bGB10\b|\bTHOR\b")


def probe_nvidia(sources: Sources, facts: PlatformFacts) -> tuple[tuple[NvidiaGPU, ...], list[Finding]]:
    if facts.system == "darwin":
        return (), []
    try:
        found = gpus_from_nvml(sources.nvml())
        nvml_error = None
    except NvmlUnavailable as exc:
        nvml_error = str(exc)
        found = _gpus_from_smi(sources)
    gpus, findings = _size_unified(found, sources)
    if gpus:
        return gpus, findings
    return (), findings or [_no_gpu_finding(sources, nvml_error)]


def _size_unified(gpus: tuple[NvidiaGPU, ...], sources: Sources) -> tuple[tuple[NvidiaGPU, ...], list[Finding]]:
    """A GPU with no memory figure: a unified-memory part gets the system RAM; any other is left out."""
    sized, findings = [], []
    for g in gpus:
        if g.memory_total > 0:
            sized.append(g)
        elif UNIFIED_MEMORY_PARTS.search(g.name.upper()):
            total, available = sources.memory()
            sized.append(replace(g, memory_total=total, memory_free=available, unified_memory=True))
            findings.append(Finding(
                "nvidia", "ok",
                f"{g.name} shares the system memory (no memory figure from the driver, as NVIDIA documents "
                f"for it): planned as {total / GIB:.0f} GiB of unified memory."))
        else:
            findings.append(Finding(
                "nvidia", "warn",
                f"GPU {g.index} ({g.name}) reports no memory size, so localv4 cannot plan for it.",
                "Check `nvidia-smi`; report the GPU at the localv4 issue tracker."))
    return tuple(sized), findings


def gpus_from_nvml(reading: NvmlReading) -> tuple[NvidiaGPU, ...]:
    """NVML's devices; a memory figure NVML could not give is 0 until `_size_unified` decides."""
    cuda = reading.cuda_driver_version
    cuda_version = f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None
    return tuple(
        NvidiaGPU(
            index=i,
            name=d.name,
            memory_total=d.memory_total or 0,
            memory_free=d.memory_free,
            compute_capability=".".join(map(str, d.cuda_compute_capability))
            if d.cuda_compute_capability
            else None,
            bandwidth_gbps=nvidia_bandwidth(d.name, d.memory_bus_width, d.max_memory_clock_mhz),
            driver_version=reading.driver_version,
            cuda_version=cuda_version,
        )
        for i, d in enumerate(reading.devices)
    )


def _gpus_from_smi(sources: Sources) -> tuple[NvidiaGPU, ...]:
    """Parse the CSV query (MiB values); the CUDA version comes from plain nvidia-smi's header."""
    csv = sources.run(SMI_QUERY)
    if not csv:
        return ()
    header = sources.run(["nvidia-smi"]) or ""
    cuda = re.search(r"CUDA Version:\s*(\d+\.\d+)", header)
    gpus = []
    for line in csv.strip().splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 6 or not fields[0].isdigit() or not (fields[2].isdigit() or fields[2] == "[N/A]"):
            continue
        index, name, total, free, capability, driver = fields
        gpus.append(
            NvidiaGPU(
                index=int(index),
                name=name,
                memory_total=int(total) * MIB if total.isdigit() else 0,  # [N/A]: see _size_unified
                memory_free=int(free) * MIB if free.isdigit() else None,
                compute_capability=capability if re.fullmatch(r"\d+\.\d+", capability) else None,
                bandwidth_gbps=nvidia_bandwidth(name),
                driver_version=driver,
                cuda_version=cuda.group(1) if cuda else None,
            )
        )
    return tuple(gpus)


def _no_gpu_finding(sources: Sources, nvml_error: str | None) -> Finding:
    if nvml_error is None:
        return Finding(
            "nvidia",
            "warn",
            "The NVIDIA driver is loaded but reports no GPU (in a container? pass --gpus all).",
            "Check that `nvidia-smi` lists your GPU.",
        )
    if sources.has_tool("nvidia-smi"):
        return Finding(
            "nvidia",
            "warn",
            f"nvidia-smi is installed but cannot reach the driver (NVML: {nvml_error}); "
            "models would run on the CPU only.",
            "Reboot after a driver update, or reinstall the NVIDIA driver; `nvidia-smi` must list your GPU.",
        )
    if _nvidia_on_pci_bus(sources):
        return Finding(
            "nvidia",
            "warn",
            "An NVIDIA GPU is present but no NVIDIA driver is installed; models would run on the CPU only.",
            "Install the NVIDIA driver (Ubuntu: `sudo ubuntu-drivers install`), reboot, "
            "then run `localv4 doctor` again.",
        )
    return Finding("nvidia", "ok", "No NVIDIA GPU found: models run on the CPU.")


def _nvidia_on_pci_bus(sources: Sources) -> bool:
    """Linux lists PCI devices as `bus<TAB>vendordevice<TAB>...`; NVIDIA's vendor id is 10de."""
    devices = sources.read_text("/proc/bus/pci/devices") or ""
    return any(
        len(cols) > 1 and cols[1].lower().startswith(NVIDIA_PCI_VENDOR)
        for cols in (line.split("\t") for line in devices.splitlines())
    )
