"""Model recipes: the TOML files that describe a model and its published quantizations.

Recipes are data. The built-in ones ship in the package (recipes/ at the repository root); a
user adds or overrides one by dropping a TOML file into `<config dir>/recipes/`. A malformed
recipe is reported as one line naming the file and the field.

`schema` holds the values, `reader` the typed TOML access, `load` the parsing and `extends`,
`catalog` the lookups by name, `ref` the one reading of "model:variant", `names` the
suggestions for a mistyped name.
"""

from localv4.recipes.catalog import DEFAULT_MODEL, Catalog, load_catalog
from localv4.recipes.load import builtin_recipes_dir, load_recipes, parse_recipe
from localv4.recipes.ref import VariantRef
from localv4.recipes.schema import (
    DEFAULT_DECODE_EFFICIENCY, DRAFT_KINDS, FORMATS, KV_TYPES, STATUSES, Draft, DraftSpeedup, KvCacheCost,
    ModelSpec, Recipe, Variant,
)

__all__ = [
    "DEFAULT_DECODE_EFFICIENCY", "DEFAULT_MODEL", "DRAFT_KINDS", "FORMATS", "KV_TYPES", "STATUSES",
    "Catalog", "Draft", "DraftSpeedup", "KvCacheCost", "ModelSpec", "Recipe", "Variant", "VariantRef",
    "builtin_recipes_dir", "load_catalog", "load_recipes", "parse_recipe",
]
