"""Which KV cache type a plan uses, and why: f16 unless a quantized cache buys something worth what
it costs, since every attention read goes through it.

q8_0 may buy a better variant, a much longer context, or a fit at all. q4_0 is the last resort:
only where the context would otherwise fall below the preferred minimum (or nothing fits), and
only for the variant the other types chose, never a heavier one. Only llama.cpp quantizes its KV.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from localv4.planning.choose import Choice
from localv4.recipes import ModelSpec, Variant

Search = Callable[[Sequence[Variant], str], Choice | None]  # (candidates, KV type) -> the choice

MUCH_LONGER = 2  # q8_0 is chosen for twice the context f16 allows (or more), or a better variant
LAST_RESORT = "q4_0"  # only to reach the preferred minimum context
# What q4_0 costs, as the research notes cite it (shared/research/deepseek-v4-flash.md).
Q4_COST = ("q4_0 costs quality: it gave lower draft acceptance than q8_0 (Nathanw1014/strix-halo-llamacpp#8), "
           "and long-context loss is reported on this model (llama.cpp#25171)")


@dataclass(frozen=True)
class KvChoice:
    choice: Choice | None  # None: nothing fits with any KV type
    kv_type: str
    reason: str | None  # said in the plan where the type is not f16


def choose_kv(model: ModelSpec, candidates: Sequence[Variant], search: Search) -> KvChoice:
    """The choice with the KV type that is worth its cost (see the module's rules)."""
    gguf = [v for v in candidates if v.format == "gguf"]
    kept = KvChoice(search(candidates, "f16"), "f16", None)
    for kv_type in model.kv_types[1:]:
        if kv_type == LAST_RESORT:
            kept = _last_resort(model, kept, gguf, search)
        elif gguf:
            alt = search(gguf, kv_type)
            kept = _if_it_buys(kept, alt, kv_type) or kept
    return kept


def _if_it_buys(base: KvChoice, alt: Choice | None, kv_type: str) -> KvChoice | None:
    """`alt` where it buys a fit, a better variant or a much longer context than `base`."""
    was = base.choice
    if alt is None:
        return None
    if was is None:
        return KvChoice(alt, kv_type, f"KV cache {kv_type}: with {base.kv_type} KV nothing fits at this context.")
    if alt.variant.quality > was.variant.quality:
        return KvChoice(alt, kv_type, f"KV cache {kv_type}: it fits {alt.variant.id} at {alt.context // 1024}K "
                                      f"(with {base.kv_type} KV: {was.variant.id}).")
    if alt.variant is was.variant and alt.context >= MUCH_LONGER * was.context:
        return KvChoice(alt, kv_type, f"KV cache {kv_type}: {alt.context // 1024}K context "
                                      f"(with {base.kv_type} KV: {was.context // 1024}K).")
    return None


def _last_resort(model: ModelSpec, kept: KvChoice, gguf: list[Variant], search: Search) -> KvChoice:
    """q4_0 where the context would otherwise fall below the preferred minimum, for the same variant."""
    was = kept.choice
    if was is not None and (was.context >= model.preferred_min_context or was.variant not in gguf):
        return kept
    alt = search([was.variant] if was is not None else gguf, LAST_RESORT)
    if alt is None or (was is not None and alt.context <= was.context):
        return kept
    if was is None:
        others = " or ".join(t for t in model.kv_types if t != LAST_RESORT)
        why = f"with {others} KV nothing fits at this context"
    else:
        why = (f"with {kept.kv_type} KV only {was.context // 1024}K fits, under the preferred "
               f"{model.preferred_min_context // 1024}K")
    return KvChoice(alt, LAST_RESORT, f"KV cache {LAST_RESORT}: {alt.context // 1024}K context ({why}); {Q4_COST}.")
