"""A GGUF of your own (`localv4 up ./model.gguf`): the file, or a folder of its split parts
(`name-00001-of-00003.gguf` ...), found on disk and turned into a recipe from its header."""

from __future__ import annotations

import re
from pathlib import Path

from localv4.errors import UsageError
from localv4.recipes import Catalog, Recipe
from localv4.recipes.from_gguf import recipe_from_gguf
from localv4.weights.gguf_header import read_header

PART = re.compile(r"^(?P<stem>.+)-(?P<part>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


def gguf_files(path: Path) -> tuple[Path, ...]:
    """The GGUF at `path`, or all its split parts in order (from one part, or from their folder)."""
    if path.is_dir():
        found = sorted(p for p in path.glob("*.gguf") if p.is_file())
        firsts = [p for p in found if (m := PART.match(p.name)) and int(m["part"]) == 1]
        if len(firsts) == 1 or (len(found) == 1 and not firsts):
            return gguf_files((firsts or found)[0])
        what = "no .gguf file" if not found else "more than one model"
        raise UsageError(f"{path} holds {what}: name the .gguf file (the first part of a split one).")
    if not path.is_file():
        raise UsageError(f"{path}: no such file or folder.")
    match = PART.match(path.name)
    if match is None:
        return (path,)
    count = int(match["count"])
    parts = tuple(path.with_name(f"{match['stem']}-{i:05d}-of-{match['count']}.gguf") for i in range(1, count + 1))
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise UsageError(f"{path.parent} lacks part{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                         f"of the {count} parts.")
    return parts


def model_id(entry: Path) -> str:
    """The id it is served under: the file's name without `.gguf` (nor a split part's number)."""
    match = PART.match(entry.name)
    return match["stem"] if match else entry.name.removesuffix(entry.suffix)


def own_recipe(path: Path) -> Recipe:
    """The recipe for the GGUF at `path` (file or folder), planned from its header; one line
    (UsageError) for a path that is not one."""
    files = tuple(p.resolve() for p in gguf_files(path.expanduser()))
    headers = [read_header(p) for p in files]  # each split part lists its own tensors
    tensors = [t for header in headers for t in header.tensors]
    return recipe_from_gguf(model_id(files[0]), headers[0].metadata, files, sum(p.stat().st_size for p in files),
                            tensors)


def with_own_gguf(catalog: Catalog, gguf: Path | None, model: str | None) -> tuple[Catalog, str | None]:
    """The catalog with `gguf` (a file or folder of your own) as its own recipe, and the model to
    plan: that recipe's id; without a GGUF, both as given."""
    if gguf is None:
        return catalog, model
    if model:
        raise UsageError(f"{gguf} is its own model: drop --model {model}.")
    recipe = own_recipe(gguf)
    return catalog.with_recipe(recipe), recipe.id
