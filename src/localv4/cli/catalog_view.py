"""`localv4 list` (`models --available`): every recipe's variants, and whether each fits here."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from localv4.planning.values import FitRow
from localv4.recipes import Recipe
from localv4.units import format_context, human_bytes


def _here(row: FitRow) -> Text:
    """`yes, gpu, 128K` or `no`: the answer a person scans the column for."""
    if not row.fits or row.max_context is None:
        return Text("no", "red")
    return Text(f"yes, {row.placement}, {format_context(row.max_context)}", "green")


def available_table(recipe: Recipe, rows: list[FitRow], default: bool) -> Table:
    """One model's variants, best first, as the planner's table ranks them."""
    title = f"{recipe.id}: {recipe.model.name}" + (" (the default)" if default else "")
    table = Table(title=title, title_justify="left")
    for col, kw in (("variant", {"no_wrap": True}), ("format", {}), ("size", {"justify": "right", "no_wrap": True}),
                    ("fits here", {"no_wrap": True}), ("note", {"ratio": 1, "min_width": 16})):
        table.add_column(col, **kw)
    for row in rows:
        v = row.variant
        table.add_row(v.id, v.format, human_bytes(v.size_bytes), _here(row), row.reason or v.note)
    return table
