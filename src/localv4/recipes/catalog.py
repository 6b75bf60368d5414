"""The loaded recipes and the name lookups the commands share (`--model`, `--variant`, `rm`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from localv4.errors import UsageError
from localv4.recipes.load import load_recipes
from localv4.recipes.names import did_you_mean
from localv4.recipes.ref import VariantRef
from localv4.recipes.schema import Recipe, Variant

DEFAULT_MODEL = "deepseek-v4-flash-0731"  # the official release; its memory is measured (docs/memory.md)


@dataclass(frozen=True)
class Catalog:
    """The loaded recipes, and name lookups the commands share."""

    recipes: dict[str, Recipe]

    def recipe(self, model: str | None = None) -> Recipe:
        model = model or DEFAULT_MODEL
        found = self._recipe_named(model)
        if found is not None:
            return found
        raise UsageError(f"unknown model '{model}'.{did_you_mean(model, self.recipes)} "
                         f"Known: {', '.join(sorted(self.recipes))}.")

    def _recipe_named(self, name: str) -> Recipe | None:
        """The recipe whose id is `name`, whatever its case."""
        return next((r for r in self.recipes.values() if r.id.lower() == name.lower()), None)

    def with_recipe(self, recipe: Recipe) -> Catalog:
        """These recipes and `recipe` (a GGUF of your own), which wins over one of the same id."""
        return Catalog({**self.recipes, recipe.id: recipe})

    @property
    def demo(self) -> Recipe | None:
        """The recipe marked `demo = true`: what to try where nothing else fits."""
        return next((r for r in self.recipes.values() if r.demo), None)

    def variant(self, name: str, model: str | None = None) -> Variant:
        """`UD-Q4_K_XL` (in the given or default model) or `deepseek-v4-flash-0731:UD-Q4_K_XL`.
        A model's id given as a variant says so, since that is the usual slip."""
        ref = VariantRef.parse(name)
        return self._variant_in(self.recipe(ref.model or model), ref.variant)

    def _variant_in(self, recipe: Recipe, name: str) -> Variant:
        named = None if recipe.has_variant(name) else self._recipe_named(name)
        if named is not None:
            raise UsageError(f"'{name}' is a model, not a variant of {recipe.id}: give it as `--model {named.id}`.")
        return recipe.variant(name)

    def named(self, name: str, model: str | None = None, variant: str | None = None) -> tuple[str | None, str | None]:
        """The (--model, --variant) a positional MODEL[:VARIANT] stands for. A recipe id is a
        model, even where the model has a variant of the same name; any other bare name is a
        variant of `model` (or the default model). Named twice, or unknown: one line."""
        ref = VariantRef.parse(name)
        found = None if ref.model else self._recipe_named(name)
        if found is not None:
            if model and self.recipe(model) is not found:
                raise UsageError(f"two models asked for: '{name}' and --model {model}; give one.")
            return found.id, variant
        if variant:
            raise UsageError(f"two variants asked for: '{name}' and --variant {variant}; give one.")
        recipe = self.recipe(ref.model or model)
        if ref.model or recipe.has_variant(name):
            return model, name
        elsewhere = [v for v in self.all_variants if v.recipe_id != recipe.id]
        same_name = [v.qualified_id for v in elsewhere if v.id.lower() == name.lower()]
        hint = (did_you_mean(name, [*self.recipes, *(v.id for v in recipe.variants), *same_name])
                or did_you_mean(name, [v.qualified_id for v in elsewhere]))
        raise UsageError(f"unknown model or variant '{name}'.{hint} `localv4 list` shows them all.")

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
        return self._variant_in(recipe, ref.variant)

    @cached_property
    def draft_variants(self) -> tuple[Variant, ...]:
        """Each series' draft as the one-file variant `pull` fetches (once, however many variants share it)."""
        return tuple(dict.fromkeys(v.draft.as_variant(v.recipe_id) for v in self.all_variants if v.draft))


def load_catalog() -> Catalog:
    return Catalog(load_recipes())
