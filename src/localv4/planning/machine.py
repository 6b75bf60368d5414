"""Deciding honestly what fits: a variant, a context, a placement, and the memory to prove it.

The rules, in order:
1. A budget per kind of machine: Apple = the GPU wired limit (capped to leave the OS its
   headroom); NVIDIA = each GPU's VRAM less a margin, plus RAM for a hybrid placement; NVIDIA with
   unified memory (DGX Spark, Jetson Thor) = available RAM less headroom and the GPU margin, one
   pool; CPU only = available RAM less headroom. Nothing whose estimate exceeds the budget is ever planned.
2. All-on-GPU beats hybrid (it is several times faster); within a placement, the highest-quality
   variant that fits at 32K context wins, then its context doubles while it still fits.
3. Only variants known to load in a released engine are chosen automatically; the others
   (today: the MLX quants) are listed, and can be asked for with `--variant`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from localv4.errors import UsageError
from localv4.hardware.bandwidth import ram_bandwidth
from localv4.hardware.profile import GB, GIB, Hardware
from localv4.internals import MLX_DSPARK_DRAFTER, installed_version, ships, supported
from localv4.plan import FitRow, MemoryBreakdown, NothingFits, Plan, SpeedEstimate
from localv4.recipes import Draft, ModelSpec, Recipe, Variant

MACOS_HEADROOM = 8 * GIB  # community guidance: leave 6-16 GB to macOS
RAM_HEADROOM = 4 * GIB  # kept free of *available* RAM on Linux/Windows
GPU_MARGIN = 1 * GIB  # per device, as llama-server --fit keeps (-fitt 1024 MiB)
EXTRA_DEVICE_OVERHEAD = GB // 2  # compute buffers on each additional GPU


@dataclass(frozen=True)
class _Fit:
    placement: str
    memory: MemoryBreakdown
    n_cpu_moe: int


def kv_bytes(model: ModelSpec, context: int, kv_type: str = "f16") -> int:
    return model.kv_cost(kv_type).per_token_bytes * context


def overhead_bytes(model: ModelSpec, context: int, kv_type: str = "f16") -> int:
    """The fixed part of the caches and state, plus the compute buffer at this context."""
    cost = model.kv_cost(kv_type)
    return cost.fixed_bytes + cost.compute_bytes(context)


def runtime_bytes(model: ModelSpec, context: int, kv_type: str = "f16") -> int:
    """What the engine allocates beyond the weights (KV, compressor state, compute buffers)."""
    return model.kv_cost(kv_type).runtime_bytes(context)


def _dense_bytes(model: ModelSpec, variant: Variant) -> int:
    """Attention, shared expert, embeddings: kept near 8-bit by the quantizers."""
    return min(variant.size_bytes, int(model.dense_params * model.dense_bits_per_weight / 8))


def bytes_per_token(model: ModelSpec, variant: Variant) -> tuple[float, float]:
    """(dense, routed-expert) bytes read to decode one token."""
    dense_active = (model.active_params - model.active_routed_params) * model.dense_bits_per_weight / 8
    expert_bytes = variant.size_bytes - _dense_bytes(model, variant)
    expert_bpw = expert_bytes * 8 / max(1, model.total_params - model.dense_params)
    return dense_active, model.active_routed_params * expert_bpw / 8


# ---------------------------------------------------------------- budgets and fits


def apple_budget(hw: Hardware, wired_limit: int | None = None) -> int:
    assert hw.apple is not None
    wired = hw.apple.wired_limit if wired_limit is None else wired_limit
    return min(wired, hw.apple.unified_memory - MACOS_HEADROOM) - GPU_MARGIN


def _gpu_budgets(hw: Hardware) -> list[int]:
    return [
        max(0, (g.memory_free if g.memory_free is not None else g.memory_total) - GPU_MARGIN)
        for g in hw.gpus
    ]


def ram_budget(hw: Hardware) -> int:
    return max(0, hw.ram_available - RAM_HEADROOM)


def unified_budget(hw: Hardware, wired_limit: int | None = None) -> int:
    """The one pool a unified-memory GPU may use: Metal's limit on a Mac, free RAM on NVIDIA's."""
    return apple_budget(hw, wired_limit) if hw.apple else max(0, ram_budget(hw) - GPU_MARGIN)


def _fit(hw: Hardware, model: ModelSpec, variant: Variant, context: int,
         wired_limit: int | None = None, kv_type: str = "f16") -> _Fit | None:
    """The best placement of `variant` at `context` on `hw`, or None when it does not fit."""
    weights, kv = variant.size_bytes, kv_bytes(model, context, kv_type)
    overhead = overhead_bytes(model, context, kv_type)
    if hw.kind == "apple" or (hw.nvidia_unified and variant.format == "gguf"):
        mem = MemoryBreakdown(weights, kv, overhead, unified_budget(hw, wired_limit))
        return _Fit("unified", mem, 0) if mem.spare >= 0 else None
    if hw.kind == "cpu" or variant.format == "mlx":  # MLX off Apple Silicon runs on the CPU
        mem = MemoryBreakdown(weights, kv, overhead, ram_budget(hw))
        return _Fit("cpu", mem, 0) if mem.spare >= 0 else None
    gpu_budget, overhead = _gpus_budget_and_overhead(hw, model, context, kv_type)
    full = MemoryBreakdown(weights, kv, overhead, gpu_budget, gpu_part=weights + kv + overhead,
                           gpu_budget=gpu_budget)
    if full.spare >= 0:
        return _Fit("gpu", full, 0)
    return _hybrid_fit(hw, model, variant, kv, overhead, gpu_budget)


def _gpus_budget_and_overhead(hw: Hardware, model: ModelSpec, context: int, kv_type: str) -> tuple[int, int]:
    """What the discrete GPUs give together, and the runtime's overhead spread over them."""
    overhead = overhead_bytes(model, context, kv_type) + EXTRA_DEVICE_OVERHEAD * (len(hw.gpus) - 1)
    return sum(_gpu_budgets(hw)), overhead


def _hybrid_fit(hw: Hardware, model: ModelSpec, variant: Variant, kv: int, overhead: int,
                gpu_budget: int, draft_gpu: int = 0, draft_ram: int = 0) -> _Fit | None:
    """Dense weights, KV and as many expert layers as fit on the GPU(s); the other experts in RAM.
    `draft_gpu`/`draft_ram`: a draft's parts on each side, placed first."""
    dense = _dense_bytes(model, variant)
    per_layer = (variant.size_bytes - dense) / model.layers
    gpu_fixed = dense + kv + overhead + draft_gpu
    if gpu_fixed > gpu_budget:
        return None
    gpu_layers = min(model.layers, int((gpu_budget - gpu_fixed) // per_layer))
    n_cpu_moe = model.layers - gpu_layers
    gpu_experts = int(gpu_layers * per_layer)
    ram_part = variant.size_bytes - dense - gpu_experts + draft_ram
    mem = MemoryBreakdown(
        variant.size_bytes, kv, overhead, gpu_budget + ram_budget(hw),
        gpu_part=gpu_fixed + gpu_experts, gpu_budget=gpu_budget,
        ram_part=ram_part, ram_budget=ram_budget(hw), draft=draft_gpu + draft_ram,
    )
    return _Fit("hybrid", mem, n_cpu_moe) if ram_part <= mem.ram_budget else None


def doubling_contexts(model: ModelSpec, start: int) -> list[int]:
    """Powers of two from `start` up to the model's maximum (which is itself a power of two)."""
    out, c = [], start
    while c <= model.max_context:
        out.append(c)
        c *= 2
    if out and out[-1] != model.max_context:
        out.append(model.max_context)
    return out


def _largest_context(hw: Hardware, model: ModelSpec, variant: Variant, start: int,
                     wired_limit: int | None = None, kv_type: str = "f16") -> tuple[int, _Fit] | None:
    best = None
    for ctx in doubling_contexts(model, start):
        fit = _fit(hw, model, variant, ctx, wired_limit, kv_type)
        if fit is None or (best and fit.placement != best[1].placement):
            break
        best = (ctx, fit)
    return best


# ---------------------------------------------------------------- speed


def estimate_speed(hw: Hardware, model: ModelSpec, variant: Variant, fit: _Fit) -> SpeedEstimate:
    dense, routed = bytes_per_token(model, variant)
    low_eff, high_eff = model.decode_efficiency[fit.placement]
    if fit.placement == "unified":
        bw = hw.apple.bandwidth_gbps if hw.apple else min(
            (g.bandwidth_gbps for g in hw.gpus if g.bandwidth_gbps), default=None)
        seconds = (dense + routed) / (bw * GB) if bw else None
        basis = f"{bw:g} GB/s unified memory" if bw else ""
    elif fit.placement == "gpu":
        bw = min((g.bandwidth_gbps for g in hw.gpus if g.bandwidth_gbps), default=None)
        seconds = (dense + routed) / (bw * GB) if bw else None
        basis = f"{bw:g} GB/s VRAM" if bw else ""
    elif fit.placement == "hybrid":
        bw = min((g.bandwidth_gbps for g in hw.gpus if g.bandwidth_gbps), default=None)
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


# ---------------------------------------------------------------- the table and the plan


def _candidates(hw: Hardware, recipe: Recipe) -> list[Variant]:
    """Variants this machine's engines can run, best quality first."""
    usable = [v for v in recipe.variants if v.format == "gguf" or hw.kind == "apple"]
    return sorted(usable, key=lambda v: (-v.quality, v.size_bytes))


def _row(hw: Hardware, model: ModelSpec, variant: Variant) -> FitRow:
    if variant.format == "mlx" and hw.kind != "apple":
        return FitRow(variant, False, None, None, None, "MLX is for Apple Silicon")
    found = _largest_context(hw, model, variant, model.min_context)
    if found is None:
        short = max(0, _need(hw, model, variant) - _total_budget(hw))
        return FitRow(variant, False, None, None, None, f"short by {short / GB:.1f} GB", shortfall=short)
    ctx, fit = found
    reason = "" if variant.status == "confirmed" else "unconfirmed: pick it with --variant"
    if ctx < model.preferred_min_context:
        reason = f"only {ctx // 1024}K context fits"
    return FitRow(variant, True, fit.placement, ctx, estimate_speed(hw, model, variant, fit), reason)


def fit_table(hw: Hardware, recipe: Recipe) -> list[FitRow]:
    """Every variant of the recipe on this machine, best quality first."""
    ordered = sorted(recipe.variants, key=lambda v: (v.format != "gguf", -v.quality, v.size_bytes))
    return [_row(hw, recipe.model, v) for v in ordered]


def _total_budget(hw: Hardware) -> int:
    if hw.kind == "apple" or hw.nvidia_unified:
        return unified_budget(hw)
    if hw.kind == "nvidia":
        return sum(_gpu_budgets(hw)) + ram_budget(hw)
    return ram_budget(hw)


def _need(hw: Hardware, model: ModelSpec, variant: Variant) -> int:
    extra = EXTRA_DEVICE_OVERHEAD * max(0, len(hw.gpus) - 1)
    return variant.size_bytes + least_runtime(model, model.min_context) + extra


def least_runtime(model: ModelSpec, context: int) -> int:
    """The runtime memory at `context` with the cheapest KV cache type the model allows."""
    return min(runtime_bytes(model, context, t) for t in model.kv_types)


def check_context(model: ModelSpec, ctx: int | None) -> None:
    """--ctx within the recipe's range: checked before the hardware is probed, and by plan()."""
    if ctx is not None and not model.min_context <= ctx <= model.max_context:
        raise UsageError(
            f"--ctx {ctx} is out of range: use {model.min_context} to {model.max_context} tokens."
        )


def _choose(hw: Hardware, model: ModelSpec, variants: list[Variant], ctx: int | None,
            wired_limit: int | None = None, kv_type: str = "f16") -> tuple[Variant, int, _Fit] | None:
    """Full-GPU before hybrid; quality first; 32K preferred, the minimum accepted."""
    floors = [ctx] if ctx else [model.preferred_min_context, model.min_context]
    for floor in floors:
        for placement_ok in (lambda p: p != "hybrid", lambda p: True):
            for v in variants:
                if ctx:
                    fit = _fit(hw, model, v, ctx, wired_limit, kv_type)
                    found = (ctx, fit) if fit else None
                else:
                    found = _largest_context(hw, model, v, floor, wired_limit, kv_type)
                if found and placement_ok(found[1].placement):
                    return v, found[0], found[1]
    return None


# The pinned llama.cpp's AMX kernels run tile instructions on worker threads without the
# per-thread tile permission and config: SIGILL at the first matmul on newer Xeons
# (llama.cpp PR #26954, issue #28756; measured here: Gemma 3 and the tiny V4 on a Xeon reporting
# AMX-INT8 die in tinygemm_kernel_amx, and load and answer with --no-repack).
AMX_CRASHES = ("this CPU reports AMX, whose kernels in the pinned llama.cpp crash on newer Xeons "
               "(llama.cpp PR #26954): llama.cpp runs without its AMX and repack buffers")


def cpu_extra_buffers(hw: Hardware) -> bool:
    """Whether llama.cpp may use its extra CPU buffer types (AMX, online repack) here."""
    return "AMX" not in hw.cpu_features


def plan(hw: Hardware, recipe: Recipe, variant: str | None = None, ctx: int | None = None,
         speculative: bool = True) -> Plan:
    """The plan for this machine, or NothingFits with the shortfall and the ways out.

    `speculative`: decode with the variant's draft where it fits beside the plan (never at the
    cost of the variant or the context it chose)."""
    model = recipe.model
    check_context(model, ctx)
    if variant is not None:
        candidates = [recipe.variant(variant)]
    else:
        candidates = [v for v in _candidates(hw, recipe) if v.status == "confirmed"]
    choice, kv_type, kv_reason = _choose_kv(hw, model, candidates, ctx)
    if choice is None:
        raise _nothing_fits(hw, recipe, candidates, ctx, asked=variant is not None)
    v, context, fit = choice
    advice = [kv_reason] if kv_reason else []
    advice += _advice(hw, recipe, v, context, candidates if variant is None else None)
    context, fit, draft, why_not = _make_room_for_draft(hw, model, v, context, fit, kv_type,
                                                        speculative, may_shrink=ctx is None)
    if why_not:
        advice.append(why_not)
    extra_buffers = cpu_extra_buffers(hw) or v.engine_family != "llama.cpp"
    if not extra_buffers:
        advice.append(AMX_CRASHES)
    return Plan(
        model=model, variant=v, engine=v.engine_family, context=context,
        placement=fit.placement, n_cpu_moe=fit.n_cpu_moe, memory=fit.memory,
        speed=estimate_speed(hw, model, v, fit), advice=tuple(advice), kv_type=kv_type, draft=draft,
        draft_n_cpu_moe=draft.layers if draft is not None and fit.placement == "hybrid" else 0,
        gpu_split=tuple(b // 2**20 for b in _gpu_budgets(hw)) if len(hw.gpus) > 1 and fit.placement in (
            "gpu", "hybrid") else (),
        cpu_extra_buffers=extra_buffers,
    )


def _make_room_for_draft(hw: Hardware, model: ModelSpec, variant: Variant, context: int, fit: _Fit,
                         kv_type: str, speculative: bool, may_shrink: bool
                         ) -> tuple[int, _Fit, Draft | None, str]:
    """The draft costs context, never the variant: where the context was not asked for, halve it
    (not below the preferred minimum) until the draft fits beside it; else decode without it and
    say why. The fit returned holds the draft's memory."""
    if not speculative:
        return context, fit, None, ""
    ctx, current = context, fit
    while True:
        with_draft, draft, why_not = _with_draft(hw, model, variant, ctx, current, kv_type)
        if draft is not None:
            return ctx, with_draft, draft, ""
        if not may_shrink or variant.draft is None or ctx // 2 < model.preferred_min_context:
            return context, fit, None, why_not
        smaller = _fit(hw, model, variant, ctx // 2, kv_type=kv_type)
        if smaller is None or smaller.placement != fit.placement:
            return context, fit, None, why_not
        ctx, current = ctx // 2, smaller


MLX_DRAFTERS = {"dspark": MLX_DSPARK_DRAFTER}  # recipe kind -> what mlx-vlm drafts it with


def mlx_drafter_missing(draft: Draft) -> str:
    """Why mlx-vlm here cannot decode with `draft` ("" when it can), found without importing it."""
    target = MLX_DRAFTERS.get(draft.kind)
    if target is None:
        return (f"No {draft.kind} draft on MLX: localv4 gives mlx-vlm only DSpark drafts; "
                "the GGUF variants on llama.cpp decode with theirs.")
    if not ships(target):
        found = installed_version(target.package)
        return (f"No {draft.kind} draft: {'mlx-vlm ' + found if found else 'no mlx-vlm'} here has no "
                f"DeepSeek V4 DSpark drafter ({target.module}); `pip install -U "
                f"'mlx-vlm{supported(target.package)}'` to decode with it.")
    return ""


def draft_bytes(model: ModelSpec, draft: Draft, context: int, kv_type: str) -> int:
    """The draft's weights plus its KV cache: its share of the model's blocks, at the same context."""
    return draft.size_bytes + kv_bytes(model, context, kv_type) * draft.layers // model.layers


def draft_expert_bytes(model: ModelSpec, variant: Variant, draft: Draft) -> int:
    """The draft's routed experts: its blocks are the model's, so the variant's expert share of
    its weights (an estimate: the draft's own split is not published)."""
    return int(draft.size_bytes * (variant.size_bytes - _dense_bytes(model, variant)) / variant.size_bytes)


def _with_draft(hw: Hardware, model: ModelSpec, variant: Variant, context: int, fit: _Fit,
                kv_type: str) -> tuple[_Fit, Draft | None, str]:
    """(the fit with the draft's memory in it, the draft in use or None, why there is none when the
    variant has one). A hybrid fit keeps the draft's experts in RAM and the rest of it on the
    GPU(s), moving as many of the model's expert layers to RAM as that takes."""
    draft = variant.draft
    if draft is None:
        return fit, None, ""
    if variant.engine_family == "mlx" and (missing := mlx_drafter_missing(draft)):
        return fit, None, missing
    extra = draft_bytes(model, draft, context, kv_type)
    if fit.placement == "hybrid":
        in_ram = draft_expert_bytes(model, variant, draft)
        gpu_budget, overhead = _gpus_budget_and_overhead(hw, model, context, kv_type)
        placed = _hybrid_fit(hw, model, variant, kv_bytes(model, context, kv_type), overhead, gpu_budget,
                             draft_gpu=extra - in_ram, draft_ram=in_ram)
        if placed is not None:
            return placed, draft, ""
        short = replace(fit.memory, draft=extra).spare
        return fit, None, (f"No {draft.kind} draft: its {extra / GB:.1f} GB do not fit beside this plan"
                           + (f" (short by {-short / GB:.1f} GB)." if short < 0 else
                              " (its part on the GPU leaves no room for the model's shared weights)."))
    memory = replace(fit.memory, draft=extra)
    if memory.spare < 0:
        return fit, None, (f"No {draft.kind} draft: its {extra / GB:.1f} GB do not fit beside this plan "
                           f"(short by {-memory.spare / GB:.1f} GB).")
    memory = replace(memory, gpu_part=memory.gpu_part + extra if memory.gpu_part else 0)
    return replace(fit, memory=memory), draft, ""


MUCH_LONGER = 2  # a quantized KV cache is chosen for twice the context f16 allows (or more), or a better variant


def _choose_kv(hw: Hardware, model: ModelSpec, candidates: list[Variant], ctx: int | None):
    """f16 KV unless a quantized one (llama.cpp only) buys a better variant, a much longer
    context, or a fit at all; returns (choice, kv_type, the reason said in the plan)."""
    base = _choose(hw, model, candidates, ctx)
    gguf = [v for v in candidates if v.format == "gguf"]
    for kv_type in model.kv_types[1:]:
        alt = _choose(hw, model, gguf, ctx, kv_type=kv_type)
        if alt is None:
            continue
        if base is None:
            return alt, kv_type, f"KV cache {kv_type}: with f16 KV nothing fits at this context."
        if alt[0].quality > base[0].quality:
            return alt, kv_type, (f"KV cache {kv_type}: it fits {alt[0].id} at {alt[1] // 1024}K "
                                  f"(with f16 KV: {base[0].id}).")
        if alt[0] is base[0] and alt[1] >= MUCH_LONGER * base[1]:
            return alt, kv_type, (f"KV cache {kv_type}: {alt[1] // 1024}K context "
                                  f"(with f16 KV: {base[1] // 1024}K).")
    return base, "f16", None


def raised_wired_limit_mb(hw: Hardware) -> int:
    """The highest `iogpu.wired_limit_mb` that still leaves macOS its headroom."""
    assert hw.apple is not None
    return (hw.apple.unified_memory - MACOS_HEADROOM) // (1024 * 1024)


def _advice(hw: Hardware, recipe: Recipe, variant: Variant, context: int,
            candidates: list[Variant] | None):
    model = recipe.model
    if variant.format == "mlx" and not hw.apple:
        yield "MLX off Apple Silicon runs on the CPU only: expect it to be slow."
    if hw.apple and hw.apple.wired_limit_source == "estimate":
        yield ("The GPU memory limit is an estimate (Metal could not be queried): "
               "`pip install mlx` lets localv4 read the real value.")
    if hw.apple and candidates:
        raised = raised_wired_limit_mb(hw) * 1024 * 1024
        if raised > hw.apple.wired_limit:
            better = _choose(hw, model, candidates, None, wired_limit=raised)
            if better and (better[0].quality > variant.quality or better[1] > context):
                yield (f"Raise the GPU memory limit to fit {better[0].id} at {better[1] // 1024}K context "
                       f"(now {variant.id} at {context // 1024}K): "
                       f"`sudo sysctl iogpu.wired_limit_mb={raised_wired_limit_mb(hw)}` "
                       "(until reboot; leaves 8 GiB to macOS).")
    if model.think_max_min_context and context < model.think_max_min_context:
        yield (f"Think Max needs >= {model.think_max_min_context // 1024}K context; "
               f"this plan allows {context // 1024}K, so use reasoning 'high' or 'off'.")


def _ram_size_for(needed: int) -> int:
    """The smallest common RAM configuration (in GB) at or above `needed` bytes."""
    sizes = (32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
    return next((s for s in sizes if s * GIB >= needed), sizes[-1])


def _nothing_fits(hw: Hardware, recipe: Recipe, candidates: list[Variant], ctx: int | None,
                  asked: bool) -> NothingFits:
    model = recipe.model
    context = ctx or model.min_context
    smallest = min(candidates, key=lambda v: v.size_bytes)
    extra = EXTRA_DEVICE_OVERHEAD * max(0, len(hw.gpus) - 1)
    need = smallest.size_bytes + least_runtime(model, context) + extra
    budget = _total_budget(hw)
    short = max(0, need - budget)
    ways: list[str] = []
    if asked:
        others = [v for v in _candidates(hw, recipe) if v.status == "confirmed" and v is not smallest]
        near = _choose(hw, model, others, ctx)
        if near:
            ways.append(f"a smaller variant fits: {near[0].id} ({near[0].size_bytes / GB:.1f} GB) "
                        f"at {near[1] // 1024}K context")
    if hw.apple:
        raised = raised_wired_limit_mb(hw)
        if _choose(hw, model, candidates, ctx, wired_limit=raised * 1024 * 1024):
            ways.append(f"raise the GPU memory limit: `sudo sysctl iogpu.wired_limit_mb={raised}`")
    else:
        where = "the MoE experts live in RAM beside the GPU (hybrid)" if hw.gpus else "it runs from RAM"
        ways.append(f"a machine with {_ram_size_for(hw.ram_total + short)} GB of RAM or more: {where}")
    ways.append(f"pool machines whose memory adds up to {need / GB:.0f} GB or more over llama.cpp RPC: run "
                "`localv4 worker --host ADDR` on each other machine, then "
                "`localv4 up --pool ADDR:50052,...` here (`localv4 plan --pool ...` shows the split first)")
    ways.append("use DeepSeek's hosted API for V4-Flash instead")
    what = f"{smallest.id}" if asked else f"the smallest variant, {smallest.id},"
    message = (f"nothing fits: {what} needs {need / GB:.1f} GB at {context // 1024}K context and "
               f"this machine can give it {budget / GB:.1f} GB (short by {short / GB:.1f} GB)")
    return NothingFits(message, short, tuple(ways))
