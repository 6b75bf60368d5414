"""The loaded recipes and the name lookups the commands share (`--model`, `--variant`, `rm`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from localv4.errors import UsageError
from localv4.recipes.load import load_recipes
from localv4.recipes.ref import VariantRef
from localv4.recipes.schema import Recipe, Variant

DEFAULT_MODEL = "deepseek-v4-flash-0731"  # the official release; its memory is measured (docs/memory.md)


@dataclass(frozen=True)
class Catalog:
    """The loaded recipes, and name lookups the commands share."""

    recipes: dict[str, Recipe]

    def recipe(self, model: str | None = None) -> Recipe:
        model = model or DEFAULT_MODEL
        if model in self.recipes:
            return self.recipes[model]
        raise UsageError(
            f"unknown model '{model}'. Known: {', '.join(sorted(self.recipes))}."
        )

    def variant(self, name: str, model: str | None = None) -> Variant:
        """`UD-Q4_K_XL` (in the given or default model) or `deepseek-v4-flash-0731:UD-Q4_K_XL`."""
        ref = VariantRef.parse(name)
        return self.recipe(ref.model or model).variant(ref.variant)

    @cached_property
    def all_variants(self) -> tuple[Variant, ...]:
        return tuple(v for r in self.recipes.values() for v in r.variants)

    def on_disk_variant(self, name: str, model: str | None = None) -> Variant:
        """What `rm` takes: a variant, or a draft by the id `models` lists it under
        (`deepseek-v4-flash-0731:draft-dspark`), which no plan or `up --variant` takes."""
        ref = VariantRef.parse(name)
        recipe = self.recipe(ref.model or model)
        for draft in self.draft_variants:
            if draft.recipe_id == recipe.id and draft.id.lower() == ref.variant.lower():
                return draft
        return recipe.variant(ref.variant)

    @cached_property
    def draft_variants(self) -> tuple[Variant, ...]:
        """Each series' draft as the one-file variant `pull` fetches (once, however many variants share it)."""
        return tuple(dict.fromkeys(v.draft.as_variant(v.recipe_id) for v in self.all_variants if v.draft))


def load_catalog() -> Catalog:
    return Catalog(load_recipes())
