"""Where one variant goes on one machine at one context, with the memory that proves it.

All in unified memory on a Mac, an NVIDIA unified-memory GPU or an AMD APU; all in RAM on a CPU
(and MLX off Apple Silicon); on discrete GPUs all on the GPU(s) when it fits, else hybrid: the dense weights,
the KV cache and as many expert layers as fit on the GPU(s), the other experts in RAM.
Memory-mapped tables go nowhere: each placement holds the resident weights, and the breakdown
says how much RAM is left for the page cache to keep the tables in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from localv4.hardware.profile import Hardware
from localv4.planning.memory import (
    EXTRA_DEVICE_OVERHEAD,
    dense_bytes,
    gpu_budgets,
    kv_bytes,
    mapped_bytes,
    overhead_bytes,
    page_cache_room,
    ram_budget,
    resident_bytes,
    unified_budget,
)
from localv4.planning.values import MemoryBreakdown
from localv4.recipes import ModelSpec, Variant


@dataclass(frozen=True)
class Fit:
    placement: str  # a key of values.PLACEMENTS
    memory: MemoryBreakdown
    n_cpu_moe: int  # hybrid: the layers whose experts stay in RAM


def fit(hw: Hardware, model: ModelSpec, variant: Variant, context: int,
        wired_limit: int | None = None, kv_type: str = "f16") -> Fit | None:
    """The best placement of `variant` at `context` on `hw`, or None when it does not fit."""
    placed = _place(hw, model, variant, context, wired_limit, kv_type)
    return _with_mapped(hw, model, variant, placed) if placed and model.mapped_params else placed


def _with_mapped(hw: Hardware, model: ModelSpec, variant: Variant, placed: Fit) -> Fit:
    """The fit with its mapped tables and the page cache left for them."""
    mem = placed.memory
    unified = mem.total if placed.placement == "unified" else 0
    ram = mem.total if placed.placement == "cpu" else mem.ram_part
    room = page_cache_room(hw, unified, ram)
    return replace(placed, memory=replace(mem, mapped=mapped_bytes(model, variant), page_cache=room))


def _place(hw: Hardware, model: ModelSpec, variant: Variant, context: int,
           wired_limit: int | None, kv_type: str) -> Fit | None:
    weights, kv = resident_bytes(model, variant), kv_bytes(model, context, kv_type)
    overhead = overhead_bytes(model, context, kv_type)
    if hw.kind == "apple" or (hw.gpu_shares_ram and variant.format == "gguf"):
        mem = MemoryBreakdown(weights, kv, overhead, unified_budget(hw, wired_limit))
        return Fit("unified", mem, 0) if mem.spare >= 0 else None
    if hw.kind == "cpu" or variant.format == "mlx":  # MLX off Apple Silicon runs on the CPU
        mem = MemoryBreakdown(weights, kv, overhead, ram_budget(hw))
        return Fit("cpu", mem, 0) if mem.spare >= 0 else None
    gpu_budget, overhead = sum(gpu_budgets(hw)), gpus_overhead(hw, model, context, kv_type)
    full = MemoryBreakdown(weights, kv, overhead, gpu_budget, gpu_part=weights + kv + overhead,
                           gpu_budget=gpu_budget)
    if weights + kv <= split_room(hw, overhead):
        return Fit("gpu", full, 0)
    return hybrid_fit(hw, model, variant, kv, overhead)


def gpus_overhead(hw: Hardware, model: ModelSpec, context: int, kv_type: str) -> int:
    """The runtime's overhead spread over the discrete GPUs: each extra one has its own buffers."""
    return overhead_bytes(model, context, kv_type) + EXTRA_DEVICE_OVERHEAD * (len(hw.discrete_gpus) - 1)


def split_room(hw: Hardware, overhead: int) -> int:
    """The most bytes of layers the GPUs hold when each takes its share by budget (llama.cpp's
    --tensor-split) beside its own buffers (the first: the runtime's, `overhead` less the others'),
    so that every device keeps its margin, not only their sum."""
    budgets = gpu_budgets(hw)
    total = sum(budgets)
    own = [overhead - EXTRA_DEVICE_OVERHEAD * (len(budgets) - 1)] + [EXTRA_DEVICE_OVERHEAD] * (len(budgets) - 1)
    return max(0, min(int((b - o) * total / b) if b else 0 for b, o in zip(budgets, own)))


def hybrid_fit(hw: Hardware, model: ModelSpec, variant: Variant, kv: int, overhead: int,
               draft_gpu: int = 0, draft_ram: int = 0) -> Fit | None:
    """Dense weights, KV and as many expert layers as fit on the GPU(s); the other experts in RAM.
    `draft_gpu`/`draft_ram`: a draft's parts on each side, placed first."""
    gpu_budget, ram, room = sum(gpu_budgets(hw)), ram_budget(hw), split_room(hw, overhead)
    dense = dense_bytes(model, variant)
    weights = resident_bytes(model, variant)
    per_layer = (weights - dense) / model.layers
    gpu_fixed = dense + kv + overhead + draft_gpu
    if gpu_fixed - overhead > room:
        return None
    gpu_layers = min(model.layers, int((room - (gpu_fixed - overhead)) // per_layer))
    gpu_experts = int(gpu_layers * per_layer)
    ram_part = weights - dense - gpu_experts + draft_ram
    mem = MemoryBreakdown(
        weights, kv, overhead, gpu_budget + ram,
        gpu_part=gpu_fixed + gpu_experts, gpu_budget=gpu_budget,
        ram_part=ram_part, ram_budget=ram, draft=draft_gpu + draft_ram,
    )
    return Fit("hybrid", mem, model.layers - gpu_layers) if ram_part <= ram else None
