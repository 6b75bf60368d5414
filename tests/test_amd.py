"""AMD GPUs: detected from the amdgpu driver's sysfs files, planned like NVIDIA cards (discrete) or
like a Mac (an APU such as Strix Halo, capped by the kernel's GTT limit)."""

from __future__ import annotations

import copy
import json

import pytest
from support.machines import machine, sources

from localv4.doctor import check_hardware
from localv4.hardware import GIB, RecordedSources, detect
from localv4.hardware.bandwidth import amd_bandwidth
from localv4.install.target import BuildTarget
from localv4.planning import machine as planner
from localv4.planning.memory import MACOS_HEADROOM
from localv4.planning.values import NothingFits
from localv4.recipes import load_catalog

RECIPE = load_catalog().recipe("deepseek-v4-flash")
MIB = 1024**2
AMD = {
    # name: kind, (name, APU, VRAM GiB, GB/s) of each GPU
    "strix-halo-128gb": ("amd-apu", [("AMD Radeon 8060S Graphics", True, 0.5, 256.0)]),
    "strix-halo-128gb-gtt-raised": ("amd-apu", [("AMD Radeon 8060S Graphics", True, 0.5, 256.0)]),
    "rx7900xtx-24gb-128gb": ("amd", [("AMD Radeon RX 7900 XTX", False, 23.98, 960.0),
                                     ("AMD GPU 0x164e", True, 0.5, None)]),
    "mi300x-192gb": ("amd", [("AMD Instinct MI300X", False, 192.0, 5300.0)]),
}


def edited(name: str, edit) -> RecordedSources:
    data = copy.deepcopy(sources(name).data)
    edit(data)
    return RecordedSources(data)


def plan_for(hw, **kw):
    return planner.plan(hw, RECIPE, **kw)


# --- detection -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(AMD))
def test_recorded_amd_machines_detect_each_gpu(name: str) -> None:
    kind, expected = AMD[name]
    hw = machine(name)
    assert hw.kind == kind and hw.gpus == () and hw.apple is None and hw.findings == ()
    assert [(g.name, g.apu, round(g.memory_total / GIB, 2), g.bandwidth_gbps) for g in hw.amd_gpus] == expected
    assert all(0 < g.memory_free < g.memory_total and g.gtt_total > 0 for g in hw.amd_gpus)


def test_strix_halo_gtt_is_the_kernels_cap_default_or_raised() -> None:
    default, raised = machine("strix-halo-128gb").apu, machine("strix-halo-128gb-gtt-raised").apu
    assert default.gtt_total == pytest.approx(machine("strix-halo-128gb").ram_total / 2, abs=4096)
    assert raised.gtt_total == 32505856 * 4096  # ttm.pages_limit=32505856: 124 GiB
    assert machine("strix-halo-128gb").summary() == "AMD Radeon 8060S Graphics, 124 GiB unified memory"


def test_a_card_beside_the_cpus_igpu_is_planned_alone() -> None:
    hw = machine("rx7900xtx-24gb-128gb")
    assert [g.name for g in hw.discrete_gpus] == ["AMD Radeon RX 7900 XTX"] and hw.apu is None
    assert hw.summary().startswith("1x AMD Radeon RX 7900 XTX (24 GiB VRAM)")


def test_other_vendors_on_the_drm_bus_are_skipped() -> None:
    """The MI300X server's card0 is its BMC's display (ASPEED, 0x1a03)."""
    assert [g.index for g in machine("mi300x-192gb").amd_gpus] == [1]


def test_names_come_from_amd_smi_or_rocm_smi_without_amdgpu_ids() -> None:
    rocm = json.dumps({"card0": {"Card Series": "AMD Radeon RX 7900 XTX", "Card Model": "0x744c"}})

    def to_rocm_smi(d: dict) -> None:
        del d["files"]["/usr/share/libdrm/amdgpu.ids"]
        d["commands"]["rocm-smi --showproductname --json"] = rocm

    xtx, igpu = detect(edited("rx7900xtx-24gb-128gb", to_rocm_smi)).amd_gpus
    assert (xtx.name, xtx.bandwidth_gbps) == ("AMD Radeon RX 7900 XTX", 960.0)
    assert igpu.name == "AMD GPU 0x164e" and igpu.apu  # a revision amdgpu.ids does not list: its PCI id
    assert machine("mi300x-192gb").amd_gpus[0].name == "AMD Instinct MI300X"  # amd-smi's market_name


def test_an_unknown_gpu_with_a_small_carve_out_is_an_apu() -> None:
    def rename(d: dict) -> None:
        d["files"]["/sys/class/drm/card1/device/device"] = "0x1999\n"

    [gpu] = detect(edited("strix-halo-128gb", rename)).amd_gpus
    assert gpu.apu and gpu.name == "AMD GPU 0x1999" and gpu.bandwidth_gbps is None


def test_amd_bandwidth_table_tells_variants_apart() -> None:
    assert [amd_bandwidth(n) for n in ("AMD Radeon RX 7900 XTX", "AMD Radeon RX 7900 XT", "AMD Radeon RX 7900 GRE",
                                       "AMD Instinct MI60 / MI50", "Radeon 8050S Graphics", "AMD Radeon 780M Graphics")
            ] == [960.0, 800.0, 576.0, 1024.0, 256.0, None]


def test_doctor_shows_each_amd_gpu_its_memory_and_bandwidth() -> None:
    details = [c.detail for c in check_hardware(machine("rx7900xtx-24gb-128gb")) if c.name.startswith("AMD GPU")]
    assert details[0] == "AMD Radeon RX 7900 XTX (0x744c), 24.0 GiB VRAM; memory bandwidth 960 GB/s (spec)"
    assert "shares the RAM: VRAM 0.5 GiB + GTT 62.6 GiB" in details[1]


def test_no_cuda_build_is_planned_for_an_amd_gpu() -> None:
    for name in AMD:
        assert BuildTarget.for_machine(machine(name), has_nvcc=True).flavour == "cpu"


# --- plans ---------------------------------------------------------------------------------------


def test_strix_halo_with_the_default_gtt_says_which_kernel_parameter_fits_what() -> None:
    hw = machine("strix-halo-128gb")
    with pytest.raises(NothingFits) as err:
        plan_for(hw)
    raised = (hw.ram_total - MACOS_HEADROOM) // GIB * GIB
    way = err.value.ways_out[0]
    assert f"`ttm.pages_limit={raised // 4096} amdgpu.gttsize={raised // MIB}`" in way
    assert "UD-IQ3_S" in way and "leaves 8 GiB to the OS" in way


def test_strix_halo_with_gtt_raised_plans_unified_memory_and_says_the_build_it_needs() -> None:
    p = plan_for(machine("strix-halo-128gb-gtt-raised"))
    assert (p.variant.id, p.placement, p.engine) == ("UD-IQ3_S", "unified", "llama.cpp")
    assert p.speed.basis.startswith("256 GB/s unified memory")
    assert not any("ttm.pages_limit" in a for a in p.advice)
    assert "`localv4 install llama.cpp --vulkan`" in " ".join(p.advice)


def test_a_fitting_plan_still_says_what_raising_the_gtt_would_gain() -> None:
    """A BIOS carve-out of 64 GiB and the default GTT (half the rest): a smaller variant fits."""
    def carve_out(d: dict) -> None:
        d["memory"] = {"total": 60 * GIB, "available": 55 * GIB}
        card = "/sys/class/drm/card1/device/"
        d["files"][card + "mem_info_vram_total"] = f"{64 * GIB}\n"
        d["files"][card + "mem_info_gtt_total"] = f"{30 * GIB}\n"

    p = plan_for(detect(edited("strix-halo-128gb", carve_out)))
    tip = next(a for a in p.advice if "ttm.pages_limit" in a)
    assert f"ttm.pages_limit={52 * GIB // 4096} amdgpu.gttsize={52 * 1024}" in tip
    assert f"(now {p.variant.id} at" in tip and "UD-IQ3_S" in tip


def test_rx_7900_xtx_plans_hybrid_with_the_experts_in_ram() -> None:
    p = plan_for(machine("rx7900xtx-24gb-128gb"))
    assert p.placement == "hybrid" and p.n_cpu_moe > 0 and p.gpu_split == ()
    assert p.memory.gpu_budget < 24 * GIB and p.speed.basis.startswith("960 GB/s VRAM + 83.2 GB/s RAM")


def test_mi300x_holds_the_near_lossless_quant_on_the_gpu() -> None:
    p = plan_for(machine("mi300x-192gb"))
    assert (p.variant.id, p.placement) == ("UD-Q8_K_XL", "gpu")
    assert "CUDA" not in json.dumps(p.to_dict())
