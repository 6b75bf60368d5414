"""Deciding honestly what fits on one machine: a variant, a context, a placement, and the memory
to prove it.

The rules, in order:
1. A budget per kind of machine (`memory`): nothing whose estimate exceeds it is ever planned.
2. All-on-GPU beats hybrid (it is several times faster); within a placement, the highest-quality
   variant that fits at 32K context wins, then its context doubles while it still fits (`choose`).
3. Only variants known to load in a released engine are chosen automatically; the others
   (today: the MLX quants) are listed, and can be asked for with `--variant`.
4. The KV cache is f16 unless a quantized one is worth its cost (`kv`).
5. A plan at least 1.3x faster by the estimate is shown beside it, or taken with `--prefer speed`
   (`alternatives`).
"""

from __future__ import annotations

from dataclasses import replace

from localv4.fixes import pip_install
from localv4.hardware.amd import kernel_parameters, planned_vulkan_gpu
from localv4.hardware.engines import InstalledEngines
from localv4.hardware.profile import GB, GIB, Hardware
from localv4.planning import slots
from localv4.planning.alternatives import with_trade
from localv4.planning.choose import Choice, any_placement, choose, largest_context, ranked
from localv4.planning.drafts import make_room_for_draft
from localv4.planning.fits import fit
from localv4.planning.kv import choose_kv
from localv4.planning.memory import MACOS_HEADROOM, gpu_budgets, least_need, raised_gtt, total_budget
from localv4.planning.speed import estimate_speed
from localv4.planning.values import FitRow, NothingFits, Plan
from localv4.recipes import ModelSpec, Recipe, Variant

NOT_HYBRID = (lambda p: p != "hybrid", any_placement)  # all-on-GPU first, then hybrid


def _candidates(hw: Hardware, recipe: Recipe) -> list[Variant]:
    """Confirmed variants this machine's engines can run, best quality first."""
    return ranked(v for v in recipe.variants
                  if v.status == "confirmed" and (v.format == "gguf" or hw.kind == "apple"))


def _choose(hw: Hardware, model: ModelSpec, variants: list[Variant], ctx: int | None,
            wired_limit: int | None = None, kv_type: str = "f16") -> Choice | None:
    return choose(model, variants, ctx, lambda v, c: fit(hw, model, v, c, wired_limit, kv_type), NOT_HYBRID)


# ---------------------------------------------------------------- the table


def _row(hw: Hardware, model: ModelSpec, variant: Variant) -> FitRow:
    if variant.needs:
        return FitRow(variant, False, None, None, None, f"needs {variant.needs}")
    if variant.format == "mlx" and hw.kind != "apple":
        return FitRow(variant, False, None, None, None, "MLX is for Apple Silicon")
    found = largest_context(model, variant, model.min_context, lambda v, c: fit(hw, model, v, c))
    if found is None:
        short = max(0, least_need(model, variant, model.min_context, len(hw.discrete_gpus)) - total_budget(hw))
        return FitRow(variant, False, None, None, None, f"short by {short / GB:.1f} GB", shortfall=short)
    ctx, placed = found
    reason = "" if variant.status == "confirmed" else "unconfirmed: pick it with --variant"
    if ctx < model.preferred_min_context:
        reason = f"only {ctx // 1024}K context fits"
    return FitRow(variant, True, placed.placement, ctx, estimate_speed(hw, model, variant, placed), reason)


def fit_table(hw: Hardware, recipe: Recipe) -> list[FitRow]:
    """Every variant of the recipe on this machine: GGUF first, best quality first."""
    ordered = sorted(ranked(recipe.variants), key=lambda v: v.format != "gguf")
    return [_row(hw, recipe.model, v) for v in ordered]


# ---------------------------------------------------------------- the plan


# The pinned llama.cpp's AMX kernels run tile instructions on worker threads without the
# per-thread tile permission and config: SIGILL at the first matmul on newer Xeons
# (llama.cpp PR #26954, issue #28756; measured here: Gemma 3 and the tiny V4 on a Xeon reporting
# AMX-INT8 die in tinygemm_kernel_amx, and load and answer with --no-repack).
AMX_CRASHES = ("this CPU reports AMX, whose kernels in the pinned llama.cpp crash on newer Xeons "
               "(llama.cpp PR #26954): llama.cpp runs without its AMX and repack buffers")


def cpu_extra_buffers(hw: Hardware) -> bool:
    """Whether llama.cpp may use its extra CPU buffer types (AMX, online repack) here."""
    return "AMX" not in hw.cpu_features


def plan(hw: Hardware, recipe: Recipe, variant: Variant | None = None, ctx: int | None = None,
         speculative: bool = True, engines: InstalledEngines = InstalledEngines(),
         demo: Recipe | None = None, prefer: str = "quality", parallel: int | None = None) -> Plan:
    """The plan for this machine, or NothingFits with the shortfall and the ways out.

    `variant` and `ctx` are checked values (the recipe's variant, a context in its range).
    `speculative`: decode with the variant's draft where it fits beside the plan (never at the
    cost of the variant or the context it chose). `engines`: what is installed here (which MLX
    drafter mlx-vlm ships). `demo`: the catalog's small model, offered where nothing fits here
    and it does. `prefer` (a checked value of PREFERENCES): where the planner picks the variant,
    which side of the speed/quality trade it takes; the other side comes with the plan.
    `parallel`: the slots to plan (a checked value); None: the machine's default (`slots`)."""
    if parallel is not None:
        return _slots_plan(hw, recipe, variant, ctx, speculative, engines, demo, prefer, parallel)
    single = _single_plan(hw, recipe, variant, ctx, speculative, engines, demo, prefer)
    if not slots.team_machine(hw):
        return single
    try:
        team = _slots_plan(hw, recipe, single.variant, ctx, speculative, engines, None, prefer, slots.TEAM_SLOTS)
    except NothingFits:
        team = None
    why_not = slots.why_one_slot(single, team)
    if why_not:
        return replace(single, advice=(*single.advice, why_not))
    assert team is not None
    return replace(team, prefer=single.prefer, trade=single.trade,
                   advice=(*team.advice, slots.team_note(team)))


def _slots_plan(hw: Hardware, recipe: Recipe, variant: Variant | None, ctx: int | None, speculative: bool,
                engines: InstalledEngines, demo: Recipe | None, prefer: str, parallel: int) -> Plan:
    """The plan with `parallel` slots: the KV of that many sequences budgeted, the speed each user
    and all of them get stated (`slots`)."""
    if parallel == 1:
        return _single_plan(hw, recipe, variant, ctx, speculative, engines, demo, prefer)
    model = recipe.model
    planned = _single_plan(hw, replace(recipe, model=slots.for_slots(model, parallel)), variant, ctx,
                           speculative, engines, demo, prefer)
    each = slots.per_user(planned.speed, model, planned.variant, parallel)
    return replace(planned, model=model, parallel=parallel, speed=each, total_speed=slots.total(each, parallel))


def _single_plan(hw: Hardware, recipe: Recipe, variant: Variant | None, ctx: int | None, speculative: bool,
                 engines: InstalledEngines, demo: Recipe | None, prefer: str) -> Plan:
    """The plan for one sequence of `recipe.model` (a model scaled by `slots.for_slots`: N)."""
    candidates = [variant] if variant is not None else _candidates(hw, recipe)
    if waiting := _needs_engine(recipe, candidates):
        raise waiting
    chosen = _plan_of(hw, recipe, candidates, ctx, speculative, engines, advise=variant is None)
    if chosen is None:
        raise _nothing_fits(hw, recipe, candidates, ctx, asked=variant is not None, demo=demo)
    if variant is not None:
        return chosen
    below = candidates[candidates.index(chosen.variant) + 1:]
    options = (_plan_of(hw, recipe, [v], ctx, speculative, engines, advise=False) for v in below)
    return with_trade(chosen, options, prefer, ctx)


def _plan_of(hw: Hardware, recipe: Recipe, candidates: list[Variant], ctx: int | None, speculative: bool,
             engines: InstalledEngines, advise: bool) -> Plan | None:
    """The plan for the first candidate that fits, or None. `advise`: say what unlocks a better
    candidate (the planner picked; an asked variant has no other)."""
    model = recipe.model
    kv = choose_kv(model, candidates, lambda vs, kv_type: _choose(hw, model, vs, ctx, kv_type=kv_type))
    if kv.choice is None:
        return None
    (v, context, placed), kv_type = kv.choice, kv.kv_type
    advice = [kv.reason] if kv.reason else []
    advice += _advice(hw, recipe, v, context, candidates if advise else None)
    draft, why_not = None, ""
    if speculative:
        context, placed, draft, why_not = make_room_for_draft(hw, model, v, context, placed, kv_type, engines,
                                                              may_shrink=ctx is None)
    if why_not:
        advice.append(why_not)
    extra_buffers = cpu_extra_buffers(hw) or v.engine_family != "llama.cpp"
    if not extra_buffers:
        advice.append(AMX_CRASHES)
    return Plan(
        model=model, variant=v, engine=v.engine_family, context=context,
        placement=placed.placement, n_cpu_moe=placed.n_cpu_moe, memory=placed.memory,
        speed=estimate_speed(hw, model, v, placed), advice=tuple(advice), kv_type=kv_type, draft=draft,
        draft_n_cpu_moe=draft.layers if draft is not None and placed.placement == "hybrid" else 0,
        gpu_split=tuple(b // 2**20 for b in gpu_budgets(hw)) if len(hw.discrete_gpus) > 1 and placed.placement in (
            "gpu", "hybrid") else (),
        cpu_extra_buffers=extra_buffers,
        gpu_vendor="" if placed.placement == "cpu" else hw.gpu_vendor,
    )


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
               f"`{pip_install('mlx')}` lets localv4 read the real value.")
    if hw.apple and candidates:
        raised = raised_wired_limit_mb(hw) * 1024 * 1024
        if raised > hw.apple.wired_limit:
            better = _choose(hw, model, candidates, None, wired_limit=raised)
            if better and (better.variant.quality > variant.quality or better.context > context):
                yield (f"Raise the GPU memory limit to fit {better.variant.id} at {better.context // 1024}K "
                       f"context (now {variant.id} at {context // 1024}K): "
                       f"`sudo sysctl iogpu.wired_limit_mb={raised_wired_limit_mb(hw)}` "
                       "(until reboot; leaves 8 GiB to macOS).")
    if hw.apu and candidates and (raise_gtt := _raised_gtt_fit(hw, model, candidates, None)):
        better, how = raise_gtt
        if better.variant.quality > variant.quality or better.context > context:
            yield (f"Raise the GPU's memory cap (GTT) to fit {better.variant.id} at {better.context // 1024}K "
                   f"context (now {variant.id} at {context // 1024}K): {how}.")
    if hw.gpu_vendor == "amd" and variant.engine_family == "llama.cpp":
        yield AMD_VULKAN if planned_vulkan_gpu(hw) else AMD_HIP
    if model.think_max_min_context and context < model.think_max_min_context:
        yield (f"Think Max needs >= {model.think_max_min_context // 1024}K context; "
               f"this plan allows {context // 1024}K, so use reasoning 'high' or 'off'.")


AMD_VULKAN = ("llama.cpp uses this AMD GPU through its Vulkan backend: `localv4 install llama.cpp --vulkan` "
              "builds it (once; a CPU build leaves the GPU idle), and `up` runs it.")
AMD_HIP = ("llama.cpp reaches this AMD Instinct GPU only through a HIP (ROCm) build, which localv4 does not "
           "build (no Vulkan driver runs CDNA): put your own llama-server, built with -DGGML_HIP=ON, on PATH; "
           "localv4 runs it where none of its own is installed.")


def _raised_gtt_fit(hw: Hardware, model: ModelSpec, candidates: list[Variant], ctx: int | None
                    ) -> tuple[Choice, str] | None:
    """What raising an AMD APU's GTT cap would fit, and the kernel parameters that raise it."""
    assert hw.apu is not None
    raised = raised_gtt(hw)
    better = _choose(hw, model, candidates, ctx, wired_limit=raised) if raised > hw.apu.gtt_total else None
    return (better, f"boot with `{kernel_parameters(raised)}` (leaves 8 GiB to the OS)") if better else None


def _needs_engine(recipe: Recipe, candidates: list[Variant]) -> NothingFits | None:
    """One line where only variants for an engine that does not exist yet are left: the engine
    they need and where it stands upstream, and where the model runs instead."""
    if candidates and not candidates[0].needs:
        return None
    waiting = candidates or [v for v in recipe.variants if v.needs]
    if not waiting:
        return None
    what = waiting[0].id if candidates else f"{recipe.model.name} on this machine"
    mlx = [v.id for v in recipe.variants if v.format == "mlx" and v.status == "confirmed"]
    instead = f"; on a Mac that holds it, mlx-vlm serves {', '.join(mlx)}" if mlx else ""
    return NothingFits(f"{what} needs {waiting[0].needs}, which no engine localv4 runs has yet{instead}",
                       0, ())


def _ram_size_for(needed: int) -> int:
    """The smallest common RAM configuration (in GB) at or above `needed` bytes."""
    sizes = (32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
    return next((s for s in sizes if s * GIB >= needed), sizes[-1])


def _mlx_off_apple(hw: Hardware, recipe: Recipe, variant: Variant, ctx: int | None) -> NothingFits:
    """An MLX variant asked for off a Mac: RAM or pooling advice would miss the point, so the one
    line says where MLX runs and which GGUF variant runs here instead."""
    need = least_need(recipe.model, variant, ctx or recipe.model.min_context, len(hw.discrete_gpus))
    gguf = _choose(hw, recipe.model, _candidates(hw, recipe), ctx)
    instead = (f"the GGUF variant {gguf.variant.id} fits this machine: `localv4 up --variant "
               f"{gguf.variant.qualified_id}`" if gguf else
               "no GGUF variant fits this machine either: `localv4 plan` shows by how much")
    return NothingFits(f"{variant.id} is an MLX variant, and MLX runs on Apple Silicon; {instead}",
                       max(0, need - total_budget(hw)), ())


def _nothing_fits(hw: Hardware, recipe: Recipe, candidates: list[Variant], ctx: int | None,
                  asked: bool, demo: Recipe | None = None) -> NothingFits:
    if asked and candidates[0].format == "mlx" and hw.kind != "apple":
        return _mlx_off_apple(hw, recipe, candidates[0], ctx)
    model = recipe.model
    context = ctx or model.min_context
    smallest = min(candidates, key=lambda v: v.size_bytes)
    need = least_need(model, smallest, context, len(hw.discrete_gpus))
    budget = total_budget(hw)
    short = max(0, need - budget)
    ways: list[str] = []
    if asked:
        others = [v for v in _candidates(hw, recipe) if v is not smallest]
        near = _choose(hw, model, others, ctx)
        if near:
            ways.append(f"a smaller variant fits: {near.variant.id} ({near.variant.size_bytes / GB:.1f} GB) "
                        f"at {near.context // 1024}K context")
    if hw.apple:
        raised = raised_wired_limit_mb(hw)
        if _choose(hw, model, candidates, ctx, wired_limit=raised * 1024 * 1024):
            ways.append(f"raise the GPU memory limit: `sudo sysctl iogpu.wired_limit_mb={raised}`")
    elif hw.apu:
        if raise_gtt := _raised_gtt_fit(hw, model, candidates, ctx):
            ways.append(f"raise the GPU's memory cap (GTT) to fit {raise_gtt[0].variant.id} at "
                        f"{raise_gtt[0].context // 1024}K context: {raise_gtt[1]}")
    else:
        where = ("the MoE experts live in RAM beside the GPU (hybrid)" if hw.gpus or hw.discrete_gpus
                 else "it runs from RAM")
        ways.append(f"a machine with {_ram_size_for(hw.ram_total + short)} GB of RAM or more: {where}")
    ways.append(f"pool machines whose memory adds up to {need / GB:.0f} GB or more over llama.cpp RPC: run "
                "`localv4 worker --host ADDR` on each other machine, then "
                "`localv4 up --pool ADDR:50052,...` here (`localv4 plan --pool ...` shows the split first)")
    ways.append("use DeepSeek's hosted API for V4-Flash instead")
    if demo is not None and demo.id != recipe.id and _choose(hw, demo.model, _candidates(hw, demo), None):
        ways.append(f"try the whole chain (engine, endpoint, chat) first with {demo.model.name}: "
                    f"`localv4 up {demo.id}`")
    what = f"{smallest.id}" if asked else f"the smallest variant, {smallest.id},"
    message = (f"nothing fits: {what} needs {need / GB:.1f} GB at {context // 1024}K context and "
               f"this machine can give it {budget / GB:.1f} GB (short by {short / GB:.1f} GB)")
    return NothingFits(message, short, tuple(ways))
