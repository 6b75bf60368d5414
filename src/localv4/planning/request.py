"""What a person asked planning for, checked once, before anything slow (probing the hardware,
asking workers, pulling): the recipe, the variant named, the context. The planners take these
checked values and never parse a name or check a range again."""

from __future__ import annotations

from dataclasses import dataclass

from localv4.errors import UsageError
from localv4.recipes import Catalog, ModelSpec, Recipe, Variant, VariantRef


@dataclass(frozen=True)
class PlanRequest:
    recipe: Recipe
    variant: Variant | None = None  # None: the planner picks
    ctx: int | None = None  # None: the longest context that fits


def check_context(model: ModelSpec, ctx: int | None) -> None:
    """--ctx within the recipe's range, or one line saying the range."""
    if ctx is not None and not model.min_context <= ctx <= model.max_context:
        raise UsageError(
            f"--ctx {ctx} is out of range: use {model.min_context} to {model.max_context} tokens."
        )


def plan_request(catalog: Catalog, model: str | None = None, variant: str | None = None,
                 ctx: int | None = None) -> PlanRequest:
    """`model` a recipe id (None: the default); `variant` a variant id or "recipe:variant"."""
    ref = VariantRef.parse(variant) if variant is not None else None
    recipe = catalog.recipe(ref.model if ref and ref.model else model)
    check_context(recipe.model, ctx)
    return PlanRequest(recipe, recipe.variant(ref.variant) if ref else None, ctx)
