"""The memory arithmetic every planner shares: what each device may use, and what a variant, its
KV cache, the runtime and a draft take at one context.

One machine (`machine`) and a pool (`pool`) budget each device by the same rules: Apple = the GPU
wired limit less macOS headroom; a discrete GPU = its free VRAM less a margin; RAM = available RAM
less headroom; an NVIDIA unified-memory GPU (DGX Spark, Jetson Thor) = RAM less headroom and the
GPU margin; an AMD APU (Strix Halo) = what the kernel lets its GPU map, leaving the OS what macOS
keeps. The runtime's costs are the recipe's measured ones (`recipes.KvCacheCost`).

Memory-mapped tables (V4.1's Engram, `ModelSpec.mapped_params`) are bytes on disk that the page
cache serves a few rows at a time: they count on disk (the variant's size) and not in any
device's budget; the RAM left over once the plan is placed is what can keep them cached.
"""

from __future__ import annotations

from localv4.hardware.profile import GB, GIB, AmdGPU, Hardware, NvidiaGPU
from localv4.recipes import Draft, ModelSpec, Variant

MACOS_HEADROOM = 8 * GIB  # community guidance: leave 6-16 GB to macOS
RAM_HEADROOM = 4 * GIB  # kept free of *available* RAM on Linux/Windows
GPU_MARGIN = 1 * GIB  # per device, as llama-server --fit keeps (-fitt 1024 MiB)
EXTRA_DEVICE_OVERHEAD = GB // 2  # compute buffers on each additional GPU


# ---------------------------------------------------------------- what the model takes


def kv_bytes(model: ModelSpec, context: int, kv_type: str = "f16") -> int:
    return model.kv_cost(kv_type).per_token_bytes * context


def overhead_bytes(model: ModelSpec, context: int, kv_type: str = "f16") -> int:
    """The fixed part of the caches and state, plus the compute buffer at this context."""
    cost = model.kv_cost(kv_type)
    return cost.fixed_bytes + cost.compute_bytes(context)


def runtime_bytes(model: ModelSpec, context: int, kv_type: str = "f16") -> int:
    """What the engine allocates beyond the weights (KV, compressor state, compute buffers)."""
    return model.kv_cost(kv_type).runtime_bytes(context)


def least_runtime(model: ModelSpec, context: int) -> int:
    """The runtime memory at `context` with the cheapest KV cache type the model allows."""
    return min(runtime_bytes(model, context, t) for t in model.kv_types)


def device_overhead(model: ModelSpec, context: int, kv_type: str, first: bool) -> int:
    """The first device carries the runtime's fixed part and compute buffer (measured); every
    other device its own compute buffer, at least an extra device's allowance."""
    if first:
        return overhead_bytes(model, context, kv_type)
    return max(EXTRA_DEVICE_OVERHEAD, model.kv_cost(kv_type).compute_bytes(context))


def mapped_bytes(model: ModelSpec, variant: Variant) -> int:
    """The variant's memory-mapped tables: their share of its parameters, of its bytes. The
    quantizers shrink the tables with the rest (V4.1's 2-bit MLX is 239 GB for 763B parameters,
    where its FP8 tables alone would be 196 GB), so the share is an estimate, stated as one."""
    return variant.size_bytes * model.mapped_params // model.total_params


def resident_bytes(model: ModelSpec, variant: Variant) -> int:
    """The weights the engine holds in memory: all but the mapped tables."""
    return variant.size_bytes - mapped_bytes(model, variant)


def least_need(model: ModelSpec, variant: Variant, context: int, devices: int) -> int:
    """The least any placement of `variant` over `devices` devices needs at `context`: the
    resident weights, the cheapest runtime, and each extra device's compute buffers."""
    return resident_bytes(model, variant) + least_runtime(model, context) + EXTRA_DEVICE_OVERHEAD * max(0, devices - 1)


def dense_bytes(model: ModelSpec, variant: Variant) -> int:
    """Attention, shared expert, embeddings: kept near 8-bit by the quantizers."""
    return min(variant.size_bytes, int(model.dense_params * model.dense_bits_per_weight / 8))


def bytes_per_token(model: ModelSpec, variant: Variant) -> tuple[float, float]:
    """(dense, routed-expert) bytes read to decode one token. Mapped tables are left out: a
    token reads a few of their rows (kilobytes)."""
    dense_active = (model.active_params - model.active_routed_params) * model.dense_bits_per_weight / 8
    expert_bytes = resident_bytes(model, variant) - dense_bytes(model, variant)
    expert_bpw = expert_bytes * 8 / max(1, model.total_params - model.mapped_params - model.dense_params)
    return dense_active, model.active_routed_params * expert_bpw / 8


def draft_bytes(model: ModelSpec, draft: Draft, context: int, kv_type: str) -> int:
    """The draft's weights plus its KV cache: its share of the model's blocks, at the same context."""
    return draft.size_bytes + kv_bytes(model, context, kv_type) * draft.layers // model.layers


def draft_expert_bytes(model: ModelSpec, variant: Variant, draft: Draft) -> int:
    """The draft's routed experts: its blocks are the model's, so the variant's expert share of
    its weights (an estimate: the draft's own split is not published)."""
    return int(draft.size_bytes * (variant.size_bytes - dense_bytes(model, variant)) / variant.size_bytes)


# ---------------------------------------------------------------- what each device may use


def apple_budget(hw: Hardware, wired_limit: int | None = None) -> int:
    assert hw.apple is not None
    wired = hw.apple.wired_limit if wired_limit is None else wired_limit
    return min(wired, hw.apple.unified_memory - MACOS_HEADROOM) - GPU_MARGIN


def apu_budget(hw: Hardware, gtt: int | None = None) -> int:
    """An AMD APU: its VRAM carve-out plus the GTT (`gtt`: a raised cap instead of the current one),
    within the physical memory less what macOS keeps: the OS needs as much."""
    assert hw.apu is not None
    vram = hw.apu.memory_total
    mapped = hw.apu.gtt_total if gtt is None else gtt
    return max(0, min(vram + mapped, vram + hw.ram_total - MACOS_HEADROOM) - GPU_MARGIN)


def raised_gtt(hw: Hardware) -> int:
    """The highest GTT cap, in whole GiB, that still leaves the OS its headroom."""
    return (hw.ram_total - MACOS_HEADROOM) // GIB * GIB


def gpu_budget(gpu: NvidiaGPU | AmdGPU) -> int:
    """One discrete GPU: its free VRAM (its total where free is unknown) less the margin."""
    return max(0, (gpu.memory_free if gpu.memory_free is not None else gpu.memory_total) - GPU_MARGIN)


def within_reported(budget: int, reported_free: int) -> int:
    """A worker's device budget, capped by what its engine reports free over RPC (less the margin)."""
    return max(0, min(budget, reported_free - GPU_MARGIN))


def gpu_budgets(hw: Hardware) -> list[int]:
    return [gpu_budget(g) for g in hw.discrete_gpus]


def ram_budget(hw: Hardware) -> int:
    return max(0, hw.ram_available - RAM_HEADROOM)


def unified_budget(hw: Hardware, wired_limit: int | None = None) -> int:
    """The one pool a unified-memory GPU may use: Metal's limit on a Mac, the GTT cap on an AMD APU
    (`wired_limit`: a raised limit or cap), free RAM on NVIDIA's."""
    if hw.apple:
        return apple_budget(hw, wired_limit)
    return apu_budget(hw, wired_limit) if hw.apu else max(0, ram_budget(hw) - GPU_MARGIN)


def page_cache_room(hw: Hardware, unified_part: int, ram_part: int) -> int:
    """The RAM the page cache keeps once a plan holds `unified_part` bytes in unified memory (Mac,
    NVIDIA unified) and `ram_part` in system RAM: what memory-mapped tables can stay cached in."""
    if hw.apple:
        return max(0, hw.apple.unified_memory - MACOS_HEADROOM - unified_part)
    return max(0, ram_budget(hw) - unified_part - ram_part)


def total_budget(hw: Hardware) -> int:
    """All one machine may give a model, whatever the placement."""
    if hw.kind == "apple" or hw.gpu_shares_ram:
        return unified_budget(hw)
    if hw.discrete_gpus:
        return sum(gpu_budgets(hw)) + ram_budget(hw)
    return ram_budget(hw)
