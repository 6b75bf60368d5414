"""CLI commands: pull, models, rm. Parse, call localv4.weights, render."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from localv4.cli.app import app
from localv4.cli.planning import print_json

if TYPE_CHECKING:
    from localv4.recipes import Catalog, Variant

MODEL_OPTION = typer.Option(None, "--model", "-m", help="Recipe id (default: deepseek-v4-flash-0731; the preview is deepseek-v4-flash).")
DIR_OPTION = typer.Option(
    None, "--dir", help="A plain folder instead of the Hugging Face cache (HF_HOME / HF_HUB_CACHE)."
)


def _variant(catalog: Catalog, name: str | None, model: str | None) -> Variant:
    """The named variant, or the one the plan picks for this machine."""
    if name:
        return catalog.variant(name, model)
    from localv4.hardware import detect
    from localv4.planner import plan

    return plan(detect(), catalog.recipe(model)).variant


@app.command()
def pull(
    variant: Optional[str] = typer.Argument(None, help="e.g. UD-Q4_K_XL (default: the plan's variant)."),
    directory: Optional[Path] = DIR_OPTION,
    model: Optional[str] = MODEL_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Progress as JSON lines on stdout, one event each."),
) -> None:
    """Download a variant's weights, resumable and checked against the hub's sha256."""
    from localv4.cli.pull_view import pull_view
    from localv4.recipes import load_catalog
    from localv4.weights import pull as pull_weights

    catalog = load_catalog()
    chosen = _variant(catalog, variant, model)
    with pull_view(as_json) as on_event:  # with --json, a failure ends in the protocol's error event
        try:
            pull_weights(chosen, local_dir=directory, on_event=on_event)
        except KeyboardInterrupt:
            _interrupted(catalog, chosen, directory)


def _interrupted(catalog: Catalog, chosen: Variant, directory: Path | None) -> None:
    """Ctrl-C: say what is kept and how to go on, exit 130."""
    from localv4.weights import inventory
    from localv4.units import human_bytes

    entries = inventory(local_dir=directory, catalog=catalog)
    kept = sum(e.bytes_on_disk for e in entries if e.variant == chosen)
    again = f"localv4 pull {chosen.qualified_id}" + (f" --dir {directory}" if directory else "")
    typer.echo(f"localv4: interrupted; {human_bytes(kept)} kept on disk. Run `{again}` to resume.", err=True)
    raise typer.Exit(130)


@app.command()
def models(
    directory: Optional[Path] = DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
) -> None:
    """The weights on disk, per variant: size, complete or partial, verified."""
    from localv4.weights import inventory

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
    chosen = catalog.variant(variant, model)
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
