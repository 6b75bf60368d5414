"""AMD GPUs on Linux, from the amdgpu driver's own files: no vendor tool needed.

The driver gives each GPU /sys/class/drm/card<N>/device/ with its PCI ids and its two memory
pools: VRAM, and GTT (system RAM the GPU may map, capped by the kernel). The marketing name comes
from libdrm's amdgpu.ids where installed, else from amd-smi or rocm-smi. An APU (Strix Halo,
Phoenix) has only a small VRAM carve-out and works from the shared RAM through the GTT.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from localv4.hardware.bandwidth import amd_bandwidth
from localv4.hardware.profile import AmdGPU, Hardware
from localv4.hardware.sources import PlatformFacts, Sources

GIB = 1024**3
PAGE = 4096  # ttm.pages_limit counts pages of 4 KiB
MIB = 1024**2
AMD_PCI_VENDOR = "0x1002"
DRM_VENDORS = "/sys/class/drm/card*/device/vendor"
AMDGPU_IDS = ("/usr/share/libdrm/amdgpu.ids", "/opt/amdgpu/share/libdrm/amdgpu.ids")  # distro, ROCm
AMD_SMI = ("amd-smi", "static", "--asic", "--json")
ROCM_SMI = ("rocm-smi", "--showproductname", "--json")

# Device ids of AMD's integrated GPUs, as libdrm's amdgpu.ids names them: Strix Halo (8060S/8050S),
# Strix Point (890M/880M), Krackan (860M-820M), Hawk Point and Phoenix (780M-740M), Rembrandt
# (680M), Raphael (610M), Van Gogh, Cezanne, Barcelo, Renoir, Lucienne, Picasso, Raven; the MI300A.
APU_DEVICE_IDS = frozenset({
    "0x1586", "0x150e", "0x1114", "0x1902", "0x1900", "0x1901", "0x15bf", "0x15c8", "0x1681",
    "0x164e", "0x163f", "0x1638", "0x15e7", "0x1636", "0x164c", "0x15d8", "0x15dd", "0x74a0",
})
SMALL_CARVE_OUT = 2 * GIB  # no card with its own memory for compute has this little


def probe_amd(sources: Sources, facts: PlatformFacts) -> tuple[AmdGPU, ...]:
    """Every GPU the amdgpu driver has bound; none off Linux."""
    if not facts.system.startswith("linux"):
        return ()
    gpus = tuple(g for g in (_card(sources, path) for path in sources.glob(DRM_VENDORS)) if g)
    names = _tool_names(sources) if any(g.name.startswith("0x") for g in gpus) else {}
    return tuple(_named(g, names) for g in gpus)


def kernel_parameters(gtt: int) -> str:
    """The kernel command line that lets the GPU map `gtt` bytes: TTM's limit in pages of 4 KiB
    (what recent kernels follow) and amdgpu's own cap in MiB (what older ones follow)."""
    return f"ttm.pages_limit={gtt // PAGE} amdgpu.gttsize={gtt // MIB}"


# CDNA boards (Instinct MI100 and later: MI1xx, MI2xx, MI3xx) have no graphics engine, and no
# Vulkan driver runs them (Mesa's RADV does not: Tencent/ncnn#6131); llama.cpp reaches them only
# through HIP (ROCm). The MI50/MI60 and every Radeon are GCN or RDNA, which RADV runs.
_CDNA_NAME = re.compile(r"\bInstinct MI[1-9]\d\d")


def runs_vulkan(gpu: AmdGPU) -> bool:
    """Whether a Vulkan driver runs this GPU: llama.cpp's Vulkan build can use it."""
    return not _CDNA_NAME.search(gpu.name)


def planned_vulkan_gpu(hardware: Hardware) -> bool:
    """The GPU the planner uses here is AMD's and a Vulkan driver runs it (not a CDNA Instinct)."""
    if hardware.gpu_vendor != "amd":
        return False
    used = (hardware.apu,) if hardware.apu else hardware.discrete_gpus
    return any(isinstance(g, AmdGPU) and runs_vulkan(g) for g in used)


def _card(sources: Sources, vendor_path: str) -> AmdGPU | None:
    """One /sys/class/drm/card<N>: an AMD device with amdgpu's memory files, else None."""
    found = re.search(r"/card(\d+)/device/vendor$", vendor_path)
    if not found or (sources.read_text(vendor_path) or "").strip().lower() != AMD_PCI_VENDOR:
        return None
    base = vendor_path.removesuffix("vendor")

    def number(name: str) -> int | None:
        text = (sources.read_text(base + name) or "").strip()
        return int(text, 0) if re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)", text) else None

    vram, gtt = number("mem_info_vram_total"), number("mem_info_gtt_total")
    if vram is None or gtt is None:  # another driver (radeon, vfio-pci): nothing to plan with
        return None
    device = (sources.read_text(base + "device") or "").strip().lower()
    revision = number("revision") or 0
    used = number("mem_info_vram_used")
    apu = device in APU_DEVICE_IDS or vram <= min(SMALL_CARVE_OUT, gtt)
    name = _ids_name(sources, device, revision) or device
    return AmdGPU(index=int(found.group(1)), name=name, device_id=device, memory_total=vram,
                  memory_free=vram - used if used is not None else None, gtt_total=gtt, apu=apu,
                  bandwidth_gbps=amd_bandwidth(name))


def _ids_name(sources: Sources, device: str, revision: int) -> str | None:
    """The name in amdgpu.ids ("744C,\tC8,\tAMD Radeon RX 7900 XTX"), matched on the revision too
    (it tells an XTX from an XT), as libdrm matches it."""
    for path in AMDGPU_IDS:
        for line in (sources.read_text(path) or "").splitlines():
            fields = [f.strip() for f in line.split(",", 2)]
            if (len(fields) == 3 and f"0x{fields[0].lower()}" == device
                    and re.fullmatch(r"[0-9A-Fa-f]{2}", fields[1]) and int(fields[1], 16) == revision):
                return fields[2]
    return None


def _tool_names(sources: Sources) -> dict[str, str]:
    """Device id -> marketing name from amd-smi, else rocm-smi (keys differ across releases, so
    they are matched loosely)."""
    names: dict[str, str] = {}
    for argv in (AMD_SMI, ROCM_SMI):
        try:
            data = json.loads(sources.run(argv) or "null")
        except ValueError:
            continue
        for entry in _objects(data):
            fields = {k.lower(): str(v) for k, v in entry.items()}
            name = fields.get("market_name") or fields.get("card series")
            device = (fields.get("device_id") or fields.get("card model") or fields.get("device id") or "").lower()
            if name and re.fullmatch(r"0x[0-9a-f]+", device):
                names.setdefault(f"0x{int(device, 16):04x}", name)
    return names


def _objects(data: Any) -> list[dict]:
    """Every JSON object in `data`, nested ones too (amd-smi nests the ASIC under each GPU)."""
    if isinstance(data, list):
        return [o for item in data for o in _objects(item)]
    if isinstance(data, dict):
        return [data] + [o for v in data.values() for o in _objects(v)]
    return []


def _named(gpu: AmdGPU, names: dict[str, str]) -> AmdGPU:
    """A GPU amdgpu.ids does not list, named by the tools, or by its PCI id."""
    if not gpu.name.startswith("0x"):
        return gpu
    name = names.get(gpu.device_id, f"AMD GPU {gpu.device_id}")
    return replace(gpu, name=name, bandwidth_gbps=amd_bandwidth(name))
