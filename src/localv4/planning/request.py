"""What a person asked planning for, checked once, before anything slow (probing the hardware,
asking workers, pulling): the recipe, the variant named, the context, the side of the
speed/quality trade. The planners take these checked values and never parse a name or check a
range again."""

from __future__ import annotations

from dataclasses import dataclass

from localv4.errors import UsageError
from localv4.planning.values import PREFERENCES
from localv4.recipes import Catalog, ModelSpec, Recipe, Variant

MAX_SLOTS = 64  # a bound on --parallel: each slot holds a whole context of KV


@dataclass(frozen=True)
class PlanRequest:
    recipe: Recipe
    variant: Variant | None = None  # None: the planner picks
    ctx: int | None = None  # None: the longest context that fits
    demo: Recipe | None = None  # the catalog's demo, for "nothing fits" to offer
    prefer: str = "quality"  # `--prefer`: a key of PREFERENCES
    parallel: int | None = None  # `--parallel`: slots, 1 to MAX_SLOTS; None: the machine's default


def check_context(model: ModelSpec, ctx: int | None) -> None:
    """--ctx within the recipe's range, or one line saying the range."""
    if ctx is not None and not model.min_context <= ctx <= model.max_context:
        raise UsageError(
            f"--ctx {ctx} is out of range: use {model.min_context} to {model.max_context} tokens."
        )


def check_prefer(prefer: str) -> None:
    """--prefer quality|speed, or one line naming both."""
    if prefer not in PREFERENCES:
        raise UsageError(f"--prefer {prefer!r} is not one of: {', '.join(PREFERENCES)}.")


def check_parallel(parallel: int | None) -> None:
    """--parallel 1 to MAX_SLOTS, or one line saying the range."""
    if parallel is not None and not 1 <= parallel <= MAX_SLOTS:
        raise UsageError(f"--parallel {parallel} is out of range: use 1 to {MAX_SLOTS} slots.")


def check_single_slot(parallel: int | None) -> None:
    """A pool is planned for one slot: --parallel above 1 with --pool is one line."""
    if parallel is not None and parallel > 1:
        raise UsageError(f"--parallel {parallel} with --pool: a pool is planned for one slot; leave out --parallel.")


def plan_request(catalog: Catalog, model: str | None = None, variant: str | None = None,
                 ctx: int | None = None, prefer: str = "quality", parallel: int | None = None) -> PlanRequest:
    """`model` a recipe id (None: the default); `variant` a variant id or "recipe:variant";
    `prefer`: which side of the speed/quality trade the planner takes where it picks;
    `parallel`: the slots (users served at once)."""
    chosen = catalog.variant(variant, model) if variant is not None else None
    recipe = catalog.recipes[chosen.recipe_id] if chosen else catalog.recipe(model)
    check_context(recipe.model, ctx)
    check_prefer(prefer)
    check_parallel(parallel)
    return PlanRequest(recipe, chosen, ctx, catalog.demo, prefer, parallel)
