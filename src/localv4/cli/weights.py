"""CLI commands: pull, models, rm. Parse, call localv4.weights, render."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from localv4.cli.app import app
from localv4.cli.names import MODEL_OPTION, NAME_ARGUMENT, model_and_variant
from localv4.cli.output import JSON_OPTION, print_json

if TYPE_CHECKING:
    from localv4.recipes import Catalog, Variant

DIR_OPTION = typer.Option(
    None, "--dir", help="A plain folder instead of the Hugging Face cache (HF_HOME / HF_HUB_CACHE)."
)


def _to_pull(catalog: Catalog, name: str | None, model: str | None, speculative: str) -> tuple[Variant, ...]:
    """The variant (named, or the plan's) and then the draft that `up` would decode with here:
    what `flow.files_for` says of the plan `up` makes. A named variant with no draft, or one that
    does not fit this machine (pulled for another), is pulled alone, without probing for a plan."""
    from localv4.flow import UpOptions, files_for, make_plan
    from localv4.planning.values import NothingFits

    options = UpOptions(variant=name, model=model, speculative=speculative)
    options.check()
    if name:
        chosen = catalog.variant(name, model)  # an unknown name fails here, before any probing
        if speculative == "off" or chosen.draft is None:
            return (chosen,)
        try:
            return files_for(make_plan(options))
        except NothingFits:
            return (chosen,)
    return files_for(make_plan(options))


@app.command()
def pull(
    name: Optional[str] = NAME_ARGUMENT,
    directory: Optional[Path] = DIR_OPTION,
    model: Optional[str] = MODEL_OPTION,
    speculative: str = typer.Option(
        "auto", "--speculative",
        help="auto: also the variant's draft (DSpark or MTP) where the plan here decodes with it, as `up` "
             "would; off: the weights alone.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Progress as JSON lines on stdout, one event each."),
) -> None:
    """Download a variant's weights (and its draft), resumable and checked against the hub's sha256.
    With no variant named: the variant the plan here would serve."""
    from localv4.cli.pull_view import pull_view
    from localv4.recipes import load_catalog
    from localv4.weights import pull as pull_weights

    with pull_view(as_json) as on_event:  # with --json, a failure ends in the protocol's error event
        catalog = load_catalog()
        model, variant = model_and_variant(name, model, catalog=catalog)
        wanted = _to_pull(catalog, variant, model, speculative)
        try:
            for chosen in wanted:
                pull_weights(chosen, local_dir=directory, on_event=on_event)
        except KeyboardInterrupt:
            _interrupted(catalog, wanted, directory, speculative)


def _interrupted(catalog: Catalog, wanted: tuple[Variant, ...], directory: Path | None, speculative: str) -> None:
    """Ctrl-C: say what is kept and how to go on, exit 130."""
    from localv4.weights import inventory
    from localv4.units import human_bytes

    entries = inventory(local_dir=directory, catalog=catalog)
    kept = sum(e.bytes_on_disk for e in entries if e.variant in wanted)
    again = (f"localv4 pull {wanted[0].qualified_id}" + (f" --dir {directory}" if directory else "")
             + (" --speculative off" if speculative == "off" else ""))
    typer.echo(f"localv4: interrupted; {human_bytes(kept)} kept on disk. Run `{again}` to resume.", err=True)
    raise typer.Exit(130)


@app.command()
def models(
    directory: Optional[Path] = DIR_OPTION,
    available: bool = typer.Option(
        False, "--available", help="What can be run instead: every model's variants, their size and format, "
                                   "and whether each fits this machine (as `localv4 list`)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The weights on disk, per variant: size, complete or partial, verified."""
    if available:
        if directory is not None:
            raise typer.BadParameter("--available lists the recipes, not a folder's weights.", param_hint="--dir")
        return list_available(as_json)
    from localv4.paths import user_recipes_dir
    from localv4.storage import require_writable
    from localv4.weights import inventory

    require_writable(user_recipes_dir())  # a LOCALV4_HOME that cannot be would hide the user's own recipes
    entries = inventory(local_dir=directory)
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    from rich.console import Console

    from localv4.cli.pull_view import models_table

    if not entries:
        typer.echo("No model weights on disk yet. `localv4 pull` fetches the planned variant.")
        return
    console = Console()
    console.print(models_table(entries))
    for folder in sorted({str(e.folder) for e in entries}):
        console.print(f"  {folder}", style="dim", highlight=False, soft_wrap=True)


@app.command("list")
def list_available(as_json: bool = JSON_OPTION) -> None:
    """What can be run: every model's variants, size and format, and whether each fits here."""
    from localv4.hardware import detect
    from localv4.planning.machine import fit_table
    from localv4.recipes import DEFAULT_MODEL, load_catalog

    hw = detect()
    recipes = sorted(load_catalog().recipes.values(), key=lambda r: (r.id != DEFAULT_MODEL, r.id))
    tables = [(recipe, fit_table(hw, recipe)) for recipe in recipes]
    if as_json:
        print_json([{"model": recipe.id, "id": row.variant.qualified_id, **row.to_dict()}
                    for recipe, rows in tables for row in rows])
        return
    from rich.console import Console

    from localv4.cli.catalog_view import available_table

    console = Console()
    console.print(f"On {hw.summary()}:", highlight=False)
    for recipe, rows in tables:
        console.print(available_table(recipe, rows, recipe.id == DEFAULT_MODEL))
    console.print("`localv4 plan MODEL[:VARIANT]` shows the plan and why; `localv4 up MODEL[:VARIANT]` serves it.",
                  markup=False, highlight=False)


@app.command("rm")
def rm(
    variant: str = typer.Argument(..., help="The variant to delete, e.g. UD-Q4_K_XL."),
    directory: Optional[Path] = DIR_OPTION,
    model: Optional[str] = MODEL_OPTION,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a variant's weights (complete and partial) and free the space."""
    from localv4.recipes import load_catalog
    from localv4.weights import inventory, remove
    from localv4.units import human_bytes

    catalog = load_catalog()
    chosen = catalog.on_disk_variant(variant, model)
    entries = [e for e in inventory(local_dir=directory, catalog=catalog) if e.variant == chosen]
    if not entries:
        typer.echo(f"{chosen.qualified_id}: nothing on disk.")
        return
    size = sum(e.bytes_on_disk for e in entries)
    where = ", ".join(str(e.folder) for e in entries)
    if not yes and not typer.confirm(f"Delete {chosen.qualified_id} ({human_bytes(size)}) in {where}?",
                                     default=False):
        typer.echo("Nothing removed.")
        raise typer.Exit(1)
    freed = remove(chosen, local_dir=directory)
    typer.echo(f"Removed {chosen.qualified_id}: freed {human_bytes(freed)} ({freed} bytes).")
