"""Decode speed on one machine: memory bandwidth over the bytes read per token, scaled by the
share of that bound reported runs reach (the recipe's calibration). An estimate, never a promise."""

from __future__ import annotations

from localv4.hardware.bandwidth import ram_bandwidth
from localv4.hardware.profile import GB, AmdGPU, Hardware, NvidiaGPU
from localv4.planning.fits import Fit
from localv4.planning.memory import bytes_per_token
from localv4.planning.values import MemoryBreakdown, SpeedEstimate
from localv4.recipes import ModelSpec, Variant


def _slowest(gpus: tuple[NvidiaGPU | AmdGPU, ...]) -> float | None:
    return min((g.bandwidth_gbps for g in gpus if g.bandwidth_gbps), default=None)


def estimate_speed(hw: Hardware, model: ModelSpec, variant: Variant, fit: Fit) -> SpeedEstimate:
    dense, routed = bytes_per_token(model, variant)
    low_eff, high_eff = model.decode_efficiency[fit.placement]
    if fit.placement == "unified":
        bw = hw.apple.bandwidth_gbps if hw.apple else _slowest(hw.unified_gpus)
        seconds = (dense + routed) / (bw * GB) if bw else None
        basis = f"{bw:g} GB/s unified memory" if bw else ""
    elif fit.placement == "gpu":
        bw = _slowest(hw.discrete_gpus)
        seconds = (dense + routed) / (bw * GB) if bw else None
        basis = f"{bw:g} GB/s VRAM" if bw else ""
    elif fit.placement == "hybrid":
        bw = _slowest(hw.discrete_gpus)
        ram_bw, known = ram_bandwidth(hw)
        ram_share = fit.n_cpu_moe / model.layers
        seconds = (
            (dense + routed * (1 - ram_share)) / (bw * GB) + routed * ram_share / (ram_bw * GB)
        ) if bw else None
        basis = f"{bw:g} GB/s VRAM + {ram_bw:g} GB/s RAM ({known})" if bw else ""
    else:
        ram_bw, known = ram_bandwidth(hw)
        seconds = (dense + routed) / (ram_bw * GB)
        basis = f"{ram_bw:g} GB/s RAM ({known})"
    if seconds is None:
        return SpeedEstimate(0.0, 0.0, "memory bandwidth unknown")
    bound = 1 / seconds
    per_token = (dense + routed) / GB
    return SpeedEstimate(
        bound * low_eff, bound * high_eff,
        f"{basis} / {per_token:.1f} GB read per token, at {low_eff:.0%}-{high_eff:.0%} of that bound "
        f"as reported runs reach{mapped_note(fit.memory)}",
    )


def mapped_note(memory: MemoryBreakdown) -> str:
    """What memory-mapped tables do to the estimate: nothing while the page cache holds them;
    otherwise each token's rows are random SSD reads, which the bound above does not count."""
    if not memory.mapped:
        return ""
    tables = f"{memory.mapped / GB:.0f} GB of memory-mapped tables"
    if memory.mapped_cached:
        return f"; {tables} stay in the page cache ({memory.page_cache / GB:.0f} GB free for it)"
    return (f"; {tables} do not stay in the page cache ({memory.page_cache / GB:.0f} GB free for it): "
            "SSD reads of their rows bound the speed, below this estimate")
