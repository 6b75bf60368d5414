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
    chips += [(g.name, g.bandwidth_gbps) for g in hw.gpus if g.unified_memory]
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
    key = re.sub(r"\b(NVIDIA|GEFORCE)\s+", "", name.upper()).strip()
    for pattern, gbps in _NVIDIA:
        if re.search(rf"(?<![\w-])(?:{pattern})(?!\d)", key):
            return gbps
    if bus_width_bits and max_memory_clock_mhz:
        return round(bus_width_bits / 8 * max_memory_clock_mhz * 2 / 1000, 1)
    return None
