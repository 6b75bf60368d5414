"""Apple Silicon: the chip, its unified memory and, above all, how much of it the GPU may use.

The GPU limit (Metal's recommended working set) decides what fits; it is not a fixed fraction of
RAM, so it is read from Metal where mlx can ask, then from `iogpu.wired_limit_mb`, and only
estimated when neither is possible, with a finding that says so.
"""

from __future__ import annotations

import json
import re

from localv4.fixes import pip_install
from localv4.hardware.bandwidth import apple_bandwidth
from localv4.hardware.profile import GIB, AppleSilicon, Finding
from localv4.hardware.sources import PlatformFacts, Sources

MIB = 1024**2
MACOS_RESERVE = 6 * GIB  # community guidance: leave macOS at least 6-16 GB
_CHIP = re.compile(r"Apple (M\d+)(?: (Pro|Max|Ultra))?")


def probe_apple(sources: Sources, facts: PlatformFacts) -> tuple[AppleSilicon | None, list[Finding]]:
    """Apple Silicon details, or None on anything that is not an Apple Silicon Mac."""
    if facts.system != "darwin":
        return None, []
    chip = apple_chip_name(sources)
    if chip is None:
        return None, []
    findings: list[Finding] = []
    if _sysctl(sources, "sysctl.proc_translated") == 1:
        findings.append(
            Finding(
                "python-arch",
                "warn",
                "Python runs as x86_64 under Rosetta: Metal and MLX engines need a native arm64 Python.",
                "Install an arm64 Python (python.org or `brew install python`) and reinstall localv4 with it.",
            )
        )
    match = _CHIP.search(chip)
    generation = match.group(1) if match else None
    tier = (match.group(2) if match else None) or "base"
    gpu_cores = _gpu_cores(sources)
    unified = _sysctl(sources, "hw.memsize") or sources.memory()[0]
    setting = _sysctl(sources, "iogpu.wired_limit_mb") or 0
    limit, source = _working_set(sources, unified, setting)
    if source == "estimate":
        findings.append(
            Finding(
                "gpu-memory-limit",
                "warn",
                f"The GPU memory limit ({limit / GIB:.1f} GiB) is an estimate: Metal could not be asked.",
                f"`{pip_install('mlx')}` so Metal reports the real value.",
            )
        )
    left_for_macos = max(0, unified - setting * MIB)
    if setting and left_for_macos < MACOS_RESERVE:
        findings.append(
            Finding(
                "gpu-memory-limit",
                "warn",
                f"iogpu.wired_limit_mb={setting} leaves macOS {left_for_macos / GIB:.1f} GiB: "
                "the Mac may freeze under load.",
                f"sudo sysctl iogpu.wired_limit_mb={(unified - MACOS_RESERVE) // MIB}",
            )
        )
    apple = AppleSilicon(
        chip=chip,
        generation=generation,
        tier=tier,
        gpu_cores=gpu_cores,
        unified_memory=unified,
        wired_limit=limit,
        wired_limit_source=source,
        wired_limit_mb_setting=setting,
        bandwidth_gbps=apple_bandwidth(generation, tier, gpu_cores, facts.physical_cores),
    )
    return apple, findings


def apple_chip_name(sources: Sources) -> str | None:
    """ "Apple M4 Max"; the brand string first, system_profiler where Rosetta hides it."""
    brand = (sources.run(["sysctl", "-n", "machdep.cpu.brand_string"]) or "").strip()
    if brand.startswith("Apple"):
        return brand
    gpu = _displays(sources)
    model = str(gpu.get("sppci_model", "")) if gpu else ""
    return model if model.startswith("Apple") else None


def estimated_working_set(unified: int) -> int:
    """macOS's default GPU limit as measured: 2/3 of RAM up to 32 GiB, about 3/4 above."""
    return unified * 2 // 3 if unified <= 32 * GIB else unified * 3 // 4


def _working_set(sources: Sources, unified: int, setting_mb: int) -> tuple[int, str]:
    metal = sources.metal_working_set()
    if metal:
        return metal, "metal"
    if setting_mb > 0:
        return setting_mb * MIB, "sysctl"
    return estimated_working_set(unified), "estimate"


def _sysctl(sources: Sources, name: str) -> int | None:
    value = (sources.run(["sysctl", "-n", name]) or "").strip()
    return int(value) if value.isdigit() else None


def _displays(sources: Sources) -> dict | None:
    """The GPU entry of `system_profiler SPDisplaysDataType -json`."""
    raw = sources.run(["system_profiler", "SPDisplaysDataType", "-json"])
    try:
        entries = json.loads(raw)["SPDisplaysDataType"] if raw else []
    except (ValueError, KeyError, TypeError):
        return None
    return next((e for e in entries if isinstance(e, dict) and "sppci_cores" in e), None)


def _gpu_cores(sources: Sources) -> int | None:
    gpu = _displays(sources)
    if gpu and str(gpu["sppci_cores"]).isdigit():
        return int(gpu["sppci_cores"])
    ioreg = sources.run(["ioreg", "-rc", "AGXAccelerator"]) or ""
    found = re.search(r'"gpu-core-count"\s*=\s*(\d+)', ioreg)
    return int(found.group(1)) if found else None
