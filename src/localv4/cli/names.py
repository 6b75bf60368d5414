"""How `up`, `pull` and `plan` are told which model: `--model`, `--variant`, or one positional
MODEL[:VARIANT], as `ollama run NAME` users type it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from localv4.recipes import Catalog

MODEL_OPTION = typer.Option(
    None, "--model", "-m", help="Recipe id (default: deepseek-v4-flash-0731; the preview is deepseek-v4-flash).")
NAME_HELP = ("A model (qwen2.5-0.5b), a variant of the default model (UD-Q4_K_XL), or both "
             "(deepseek-v4-flash-0731:UD-Q4_K_XL); a recipe id is always the model, even where a "
             "variant has the same name. `localv4 list` shows them.")
OWN_HELP = f"{NAME_HELP[:-1]}; or a GGUF of your own: ./model.gguf, or a folder of its split parts."
NAME_ARGUMENT = typer.Argument(None, metavar="[MODEL[:VARIANT]]", help=NAME_HELP, show_default=False)
OWN_ARGUMENT = typer.Argument(None, metavar="[MODEL[:VARIANT] | FILE.gguf]", help=OWN_HELP, show_default=False)


def model_and_variant(name: str | None, model: str | None, variant: str | None = None,
                      catalog: Catalog | None = None) -> tuple[str | None, str | None]:
    """The (--model, --variant) that the positional name and the options say together."""
    if name is None:
        return model, variant
    if own_gguf(name) is not None:
        from localv4.errors import UsageError

        raise UsageError(f"{name} is a file: `localv4 up {name}` and `plan {name}` serve and plan a GGUF of "
                         "your own; this command takes a model name (`localv4 list`).")
    if catalog is None:
        from localv4.recipes import load_catalog

        catalog = load_catalog()
    return catalog.named(name, model, variant)


def own_gguf(name: str | None) -> Path | None:
    """The GGUF of your own a positional name points at (`./model.gguf`, `~/models/qwen/`), or
    None for a model name (names hold no slash and do not end in .gguf)."""
    if name is None or not (name.lower().endswith(".gguf") or "/" in name or name.startswith(("~", "."))):
        return None
    return Path(name).expanduser()
