"""The memory arithmetic every planner shares: what each device may use, and what a variant, its
KV cache, the runtime and a draft take at one context.

One machine (`machine`) and a pool (`pool`) budget each device by the same rules: Apple = the GPU
wired limit less macOS headroom; a discrete GPU = its free VRAM less a margin; RAM = available RAM
less headroom; an NVIDIA unified-memory GPU (DGX Spark, Jetson Thor) = RAM less headroom and the
GPU margin. The runtime's costs are the recipe's measured ones (`recipes.KvCacheCost`).
"""

from __future__ import annotations

from localv4.hardware.profile import GB, GIB, Hardware, NvidiaGPU
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


def least_need(model: ModelSpec, variant: Variant, context: int, devices: int) -> int:
    """The least any placement of `variant` over `devices` devices needs at `context`: the
    weights, the cheapest runtime, and each extra device's compute buffers."""
    return variant.size_bytes + least_runtime(model, context) + EXTRA_DEVICE_OVERHEAD * max(0, devices - 1)


def dense_bytes(model: ModelSpec, variant: Variant) -> int:
    """Attention, shared expert, embeddings: kept near 8-bit by the quantizers."""
    return min(variant.size_bytes, int(model.dense_params * model.dense_bits_per_weight / 8))


def bytes_per_token(model: ModelSpec, variant: Variant) -> tuple[float, float]:
    """(dense, routed-expert) bytes read to decode one token."""
    dense_active = (model.active_params - model.active_routed_params) * model.dense_bits_per_weight / 8
    expert_bytes = variant.size_bytes - dense_bytes(model, variant)
    expert_bpw = expert_bytes * 8 / max(1, model.total_params - model.dense_params)
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


def gpu_budget(gpu: NvidiaGPU) -> int:
    """One discrete GPU: its free VRAM (its total where free is unknown) less the margin."""
    return max(0, (gpu.memory_free if gpu.memory_free is not None else gpu.memory_total) - GPU_MARGIN)


def within_reported(budget: int, reported_free: int) -> int:
    """A worker's device budget, capped by what its engine reports free over RPC (less the margin)."""
    return max(0, min(budget, reported_free - GPU_MARGIN))


def gpu_budgets(hw: Hardware) -> list[int]:
    return [gpu_budget(g) for g in hw.gpus]


def ram_budget(hw: Hardware) -> int:
    return max(0, hw.ram_available - RAM_HEADROOM)


def unified_budget(hw: Hardware, wired_limit: int | None = None) -> int:
    """The one pool a unified-memory GPU may use: Metal's limit on a Mac, free RAM on NVIDIA's."""
    return apple_budget(hw, wired_limit) if hw.apple else max(0, ram_budget(hw) - GPU_MARGIN)


def total_budget(hw: Hardware) -> int:
    """All one machine may give a model, whatever the placement."""
    if hw.kind == "apple" or hw.nvidia_unified:
        return unified_budget(hw)
    if hw.kind == "nvidia":
        return sum(gpu_budgets(hw)) + ram_budget(hw)
    return ram_budget(hw)
