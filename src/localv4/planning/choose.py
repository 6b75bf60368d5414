"""The one order and the one search both planners use.

Candidates come best quality first (the smaller first among equals). Each is tried at the
longest context that still fits with the same placement, the contexts doubling from a floor:
32K preferred, the model's minimum accepted. Placements may be tried in tiers (one machine puts
all-on-GPU before hybrid); the first candidate that fits in the first tier wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, Protocol

from localv4.recipes import ModelSpec, Variant


class Placed(Protocol):
    placement: str


Place = Callable[[Variant, int], Any]  # (variant, context) -> a Placed, or None when it does not fit
Tier = Callable[[str], bool]  # which placements this tier accepts


def any_placement(_: str) -> bool:
    return True


class Choice(NamedTuple):
    variant: Variant
    context: int
    fit: Any  # what `place` returned for it: a Placed


def ranked(variants: Iterable[Variant]) -> list[Variant]:
    """Best quality first, the smaller first among equals."""
    return sorted(variants, key=lambda v: (-v.quality, v.size_bytes))


def doubling_contexts(model: ModelSpec, start: int) -> list[int]:
    """Powers of two from `start` up to the model's maximum (which is itself a power of two)."""
    out, c = [], start
    while c <= model.max_context:
        out.append(c)
        c *= 2
    if out and out[-1] != model.max_context:
        out.append(model.max_context)
    return out


def largest_context(model: ModelSpec, variant: Variant, start: int, place: Place,
                    exact: bool = False) -> tuple[int, Any] | None:
    """The longest context from `start` up at which `variant` fits in one placement; `exact`:
    `start` alone (a context the user asked for)."""
    best = None
    for ctx in [start] if exact else doubling_contexts(model, start):
        fit = place(variant, ctx)
        if fit is None or (best and fit.placement != best[1].placement):
            break
        best = (ctx, fit)
    return best


def choose(model: ModelSpec, candidates: Sequence[Variant], ctx: int | None, place: Place,
           tiers: Sequence[Tier] = (any_placement,)) -> Choice | None:
    """The first candidate that fits, tier by tier, at the preferred context floor, then at the
    minimum; `ctx`: exactly that context."""
    floors = [ctx] if ctx else [model.preferred_min_context, model.min_context]
    for floor in floors:
        for accepts in tiers:
            for v in candidates:
                found = largest_context(model, v, floor, place, exact=ctx is not None)
                if found and accepts(found[1].placement):
                    return Choice(v, *found)
    return None
