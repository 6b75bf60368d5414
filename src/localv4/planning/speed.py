"""Decode speed on one machine: memory bandwidth over the bytes read per token, scaled by the
share of that bound reported runs reach (the recipe's calibration). An estimate, never a promise."""

from __future__ import annotations

from localv4.hardware.bandwidth import ram_bandwidth
from localv4.hardware.profile import GB, Hardware
from localv4.planning.fits import Fit
from localv4.planning.memory import bytes_per_token
from localv4.planning.values import SpeedEstimate
from localv4.recipes import ModelSpec, Variant


def _slowest_gpu(hw: Hardware) -> float | None:
    return min((g.bandwidth_gbps for g in hw.gpus if g.bandwidth_gbps), default=None)


def estimate_speed(hw: Hardware, model: ModelSpec, variant: Variant, fit: Fit) -> SpeedEstimate:
    dense, routed = bytes_per_token(model, variant)
    low_eff, high_eff = model.decode_efficiency[fit.placement]
    if fit.placement == "unified":
        bw = hw.apple.bandwidth_gbps if hw.apple else _slowest_gpu(hw)
        seconds = (dense + routed) / (bw * GB) if bw else None
        basis = f"{bw:g} GB/s unified memory" if bw else ""
    elif fit.placement == "gpu":
        bw = _slowest_gpu(hw)
        seconds = (dense + routed) / (bw * GB) if bw else None
        basis = f"{bw:g} GB/s VRAM" if bw else ""
    elif fit.placement == "hybrid":
        bw = _slowest_gpu(hw)
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
        "as reported runs reach",
    )
