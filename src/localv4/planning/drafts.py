"""Room for a speculative-decoding draft beside a plan: it costs context, never the variant.

On GPU or unified memory the draft's weights and KV cache join the plan's; in a hybrid plan the
draft's experts go to RAM with the rest of it on the GPU(s), moving as many of the model's
expert layers to RAM as that takes. Where it does not fit, or no engine here drafts with it, the
plan decodes without it and says why.
"""

from __future__ import annotations

from dataclasses import replace

from localv4.fixes import pip_install
from localv4.hardware.engines import InstalledEngines
from localv4.hardware.profile import GB, Hardware
from localv4.internals import MLX_DSPARK_DRAFTER, supported
from localv4.planning.fits import Fit, fit, gpus_overhead, hybrid_fit
from localv4.planning.memory import draft_bytes, draft_expert_bytes, kv_bytes
from localv4.recipes import Draft, ModelSpec, Variant


def mlx_drafter_missing(draft: Draft, engines: InstalledEngines) -> str:
    """Why mlx-vlm here cannot decode with `draft` ("" when it can)."""
    if draft.kind != "dspark":
        return (f"No {draft.kind} draft on MLX: localv4 gives mlx-vlm only DSpark drafts; "
                "the GGUF variants on llama.cpp decode with theirs.")
    if not engines.mlx_dspark_drafter:
        found = f"mlx-vlm {engines.mlx_vlm}" if engines.mlx_vlm else "no mlx-vlm"
        return (f"No {draft.kind} draft: {found} here has no DeepSeek V4 DSpark drafter "
                f"({MLX_DSPARK_DRAFTER.module}); "
                f"`{pip_install('mlx-vlm' + supported(MLX_DSPARK_DRAFTER.package), pip_args='--upgrade')}` "
                "to decode with it.")
    return ""


def make_room_for_draft(hw: Hardware, model: ModelSpec, variant: Variant, context: int, placed: Fit,
                        kv_type: str, engines: InstalledEngines, may_shrink: bool
                        ) -> tuple[int, Fit, Draft | None, str]:
    """(context, fit with the draft's memory, the draft or None, why there is none). Where the
    context was not asked for, halve it (not below the preferred minimum) until the draft fits."""
    ctx, current = context, placed
    while True:
        with_draft, draft, why_not = _with_draft(hw, model, variant, ctx, current, kv_type, engines)
        if draft is not None:
            return ctx, with_draft, draft, ""
        if not may_shrink or variant.draft is None or ctx // 2 < model.preferred_min_context:
            return context, placed, None, why_not
        smaller = fit(hw, model, variant, ctx // 2, kv_type=kv_type)
        if smaller is None or smaller.placement != placed.placement:
            return context, placed, None, why_not
        ctx, current = ctx // 2, smaller


def _with_draft(hw: Hardware, model: ModelSpec, variant: Variant, context: int, placed: Fit,
                kv_type: str, engines: InstalledEngines) -> tuple[Fit, Draft | None, str]:
    draft = variant.draft
    if draft is None:
        return placed, None, ""
    if variant.engine_family == "mlx" and (missing := mlx_drafter_missing(draft, engines)):
        return placed, None, missing
    extra = draft_bytes(model, draft, context, kv_type)
    if placed.placement == "hybrid":
        in_ram = draft_expert_bytes(model, variant, draft)
        moved = hybrid_fit(hw, model, variant, kv_bytes(model, context, kv_type),
                           gpus_overhead(hw, model, context, kv_type), draft_gpu=extra - in_ram, draft_ram=in_ram)
        if moved is not None:
            return moved, draft, ""
        short = replace(placed.memory, draft=extra).spare
        return placed, None, (f"No {draft.kind} draft: its {extra / GB:.1f} GB do not fit beside this plan"
                              + (f" (short by {-short / GB:.1f} GB)." if short < 0 else
                                 " (its part on the GPU leaves no room for the model's shared weights)."))
    memory = replace(placed.memory, draft=extra)
    if memory.spare < 0:
        return placed, None, (f"No {draft.kind} draft: its {extra / GB:.1f} GB do not fit beside this plan "
                              f"(short by {-memory.spare / GB:.1f} GB).")
    memory = replace(memory, gpu_part=memory.gpu_part + extra if memory.gpu_part else 0)
    return replace(placed, memory=memory), draft, ""
