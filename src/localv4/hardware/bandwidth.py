"""Memory bandwidth (GB/s) of known chips: decode speed is bounded by it, and no tool reports it.

Sources: Apple and NVIDIA specifications, as collected in /work/shared/research (Apple table); CPU
platforms in `memory_channels`. None means unknown: the planner then gives no speed estimate for
that GPU rather than a made-up one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from localv4.hardware.memory_channels import platform_of

if TYPE_CHECKING:
    from localv4.hardware.profile import Hardware


def ram_bandwidth(hw: Hardware) -> tuple[float, str]:
    """(GB/s, how it is known) for the system RAM: the probe's (or a hand-written profile's) figure,
    else the specification: the unified memory's where the GPU shares it, else the CPU platform's."""
    if hw.ram_bandwidth_gbps:
        kind, colon, _ = hw.ram_bandwidth_source.partition(":")
        return hw.ram_bandwidth_gbps, kind if colon else "recorded"  # "measured" | "spec" | ...
    chips = [(hw.apple.chip, hw.apple.bandwidth_gbps)] if hw.apple else []
    chips += [(g.name, g.bandwidth_gbps) for g in hw.unified_gpus]
    for chip, gbps in chips:
        if gbps:
            return gbps, f"spec, not measured: unified memory of the {chip}"
    platform = platform_of(hw.cpu_model)
    return platform.gbps, platform.label


# generation -> tier -> GB/s; Max parts whose bandwidth depends on the binning are resolved below.
_APPLE = {
    "M1": {"base": 68.25, "Pro": 200.0, "Max": 400.0, "Ultra": 800.0},
    "M2": {"base": 100.0, "Pro": 200.0, "Max": 400.0, "Ultra": 800.0},
    "M3": {"base": 100.0, "Pro": 150.0, "Ultra": 819.0},
    "M4": {"base": 120.0, "Pro": 273.0},
    "M5": {"base": 153.0, "Pro": 307.0},
}

# Max chips sold in two memory-bus widths: (GPU cores, CPU cores) of the narrow bin -> GB/s each.
_APPLE_MAX_BINS = {
    "M3": {"narrow": 300.0, "wide": 400.0, "narrow_gpu": 30, "narrow_cpu": 14},
    "M4": {"narrow": 410.0, "wide": 546.0, "narrow_gpu": 32, "narrow_cpu": 14},
    "M5": {"narrow": 460.0, "wide": 614.0, "narrow_gpu": 32, "narrow_cpu": None},
}


def apple_bandwidth(
    generation: str | None, tier: str, gpu_cores: int | None, cpu_cores: int | None
) -> float | None:
    """GB/s for an Apple chip; for a binned Max, the GPU core count decides (else the CPU's)."""
    if generation is None:
        return None
    if tier == "Max" and generation in _APPLE_MAX_BINS:
        bins = _APPLE_MAX_BINS[generation]
        if gpu_cores is not None:
            narrow = gpu_cores <= bins["narrow_gpu"]
        elif cpu_cores is not None and bins["narrow_cpu"] is not None:
            narrow = cpu_cores <= bins["narrow_cpu"]
        else:
            narrow = True  # unknown bin: the lower figure never over-promises
        return bins["narrow"] if narrow else bins["wide"]
    return _APPLE.get(generation, {}).get(tier)


# First match wins, so variants come before the names they extend ("5070 Ti" before "5070").
# Matched against the upper-cased name with "NVIDIA " and "GEFORCE " removed.
# GB/s from NVIDIA's own specification pages (data-centre datasheets; GeForce "Full Specs"):
#   B200/GB200: nvidia.com/en-us/data-center/dgx-b200 (8 TB/s per GPU)
#   GB10: nvidia.com/en-us/products/workstations/dgx-spark (273 GB/s LPDDR5x, unified)
#   Jetson AGX Thor (T5000): nvidia.com/en-us/autonomous-machines/embedded-systems/jetson-thor
#     (273 GB/s LPDDR5x, unified)
#   H200: nvidia.com/en-us/data-center/h200 (4.8 TB/s); GH200: .../grace-hopper-superchip (4 TB/s HBM3)
#   H100 SXM / PCIe / NVL: nvidia.com/en-us/data-center/h100 (3.35 / 2.0 / 3.9 TB/s)
#   A100: nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet.pdf
#   L40/L40S: nvidia.com/en-us/data-center/l40s (864 GB/s)
#   RTX PRO 6000 Blackwell: nvidia.com/en-us/products/workstations/professional-desktop-gpus/rtx-pro-6000
#   RTX 6000 Ada / RTX A6000: the workstation datasheets (960 / 768 GB/s)
#   GeForce RTX 50/40/30: nvidia.com/en-us/geforce/graphics-cards/<series>/ "Full Specs"
#     (memory interface width x data rate; e.g. 5090: 512 bit x 28 Gbps = 1792 GB/s)
_NVIDIA: tuple[tuple[str, float], ...] = (
    (r"GB200|B200", 8000.0),
    (r"GB10", 273.0),  # DGX Spark, LPDDR5x unified memory
    (r"THOR", 273.0),  # Jetson AGX Thor, LPDDR5x unified memory
    (r"H200", 4800.0),
    (r"GH200", 4000.0),
    (r"H100 NVL", 3900.0),
    (r"H100 PCIE", 2000.0),
    (r"H100", 3350.0),
    (r"A100.*80GB.*PCIE", 1935.0),
    (r"A100.*80GB", 2039.0),
    (r"A100", 1555.0),
    (r"L40S?\b", 864.0),
    (r"RTX PRO 6000", 1792.0),
    (r"RTX 6000 ADA", 960.0),
    (r"RTX A6000", 768.0),
    (r"RTX 5090", 1792.0),
    (r"RTX 5080", 960.0),
    (r"RTX 5070 TI", 896.0),
    (r"RTX 5070", 672.0),
    (r"RTX 5060 TI", 448.0),
    (r"RTX 4090", 1008.0),
    (r"RTX 4080 SUPER", 736.0),
    (r"RTX 4080", 717.0),
    (r"RTX 4070 TI SUPER", 672.0),
    (r"RTX 4070", 504.0),
    (r"RTX 4060 TI", 288.0),
    (r"RTX 4060", 272.0),
    (r"RTX 3090 TI", 1008.0),
    (r"RTX 3090", 936.0),
    (r"RTX 3080 TI", 912.0),
    (r"RTX 3080", 760.0),
    (r"RTX 3070", 448.0),
    (r"RTX 3060", 360.0),
)


def nvidia_bandwidth(
    name: str, bus_width_bits: int | None = None, max_memory_clock_mhz: int | None = None
) -> float | None:
    """GB/s from the table by name; else from NVML's bus width and memory clock; else None.

    NVML's memory clock is half the transfer rate for GDDR6X, GDDR7 and HBM alike (a 4090
    reports 10501 MHz: 384 bit / 8 * 10501 MHz * 2 = 1008 GB/s), hence the factor 2.
    """
    found = _by_name(_NVIDIA, re.sub(r"\b(NVIDIA|GEFORCE)\s+", "", name.upper()).strip())
    if found:
        return found
    if bus_width_bits and max_memory_clock_mhz:
        return round(bus_width_bits / 8 * max_memory_clock_mhz * 2 / 1000, 1)
    return None


# Matched like _NVIDIA, against the upper-cased name with "AMD " and "RADEON " removed.
# GB/s from AMD's own specification pages (amd.com/en/products/...: "Memory Bandwidth", or the
# memory interface width x data rate):
#   Ryzen AI Max 385-395 (Radeon 8050S/8060S, "Strix Halo"): LPDDR5X-8000 on a 256-bit bus = 256 GB/s,
#     unified (amd.com/en/products/processors/laptop/ryzen/ai-300-series/amd-ryzen-ai-max-plus-395;
#     ROCm's "Strix Halo system optimization" page: "unified LPDDR5X-8000")
#   Instinct MI355X/MI350X 8 TB/s, MI325X 6 TB/s, MI300X/MI300A 5.3 TB/s, MI250X/MI250 3.2768 TB/s,
#     MI210 1.6384 TB/s, MI100 1.2288 TB/s, MI60/MI50 1024 GB/s (HBM2, 4096-bit): the Instinct datasheets
#   Radeon VII 1024; RX 9070 XT / 9070 and AI PRO R9700: 256-bit x 20 Gbps = 640;
#   RX 7900 XTX 960, 7900 XT 800, 7900 GRE 576, 7800 XT 624; Pro W7900 864, W7800 576;
#   RX 6900 XT / 6800 XT / 6800 512
_AMD: tuple[tuple[str, float], ...] = (
    (r"80[56]0S", 256.0),
    (r"MI35[05]X", 8000.0),
    (r"MI325X", 6000.0),
    (r"MI300[AX]", 5300.0),
    (r"MI250X?", 3276.8),
    (r"MI210", 1638.4),
    (r"MI100", 1228.8),
    (r"MI60|MI50", 1024.0),
    (r"VII", 1024.0),
    (r"RX 9070( XT)?|AI PRO R9700", 640.0),
    (r"RX 7900 XTX", 960.0),
    (r"RX 7900 XT", 800.0),
    (r"RX 7900 GRE", 576.0),
    (r"RX 7800 XT", 624.0),
    (r"PRO W7900", 864.0),
    (r"PRO W7800", 576.0),
    (r"RX 6[89]00( XT)?", 512.0),
)


def amd_bandwidth(name: str) -> float | None:
    """GB/s from the table by name; None for a GPU not in it (no speed estimate for it)."""
    return _by_name(_AMD, re.sub(r"\b(AMD|RADEON)\s+", "", name.upper()).strip())


def _by_name(table: tuple[tuple[str, float], ...], key: str) -> float | None:
    """The first pattern that matches the whole model name ("5070" is not "5070 TI"'s prefix)."""
    return next((gbps for pattern, gbps in table if re.search(rf"(?<![\w-])(?:{pattern})(?!\d)", key)), None)
