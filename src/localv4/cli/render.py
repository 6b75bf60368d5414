"""Rich renderings of the planning stage's values (plan table, plan, doctor) for the CLI and the tray."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

from localv4.hardware.profile import Hardware
from localv4.planning.values import FitRow, NothingFits, Plan, Trade
from localv4.units import format_context, format_gb

if TYPE_CHECKING:  # `plan` renders without importing doctor's checks
    from localv4.doctor import DoctorReport

STATUS_STYLE = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red")}


# A note column narrower than this wraps a word to a line: the notes go under the table instead.
NOTE_MIN_WIDTH = 18
# The columns before the note: header, justification. Two-line headers keep the words whole in 80 columns.
FIT_COLUMNS = (("variant", "left"), ("format", "left"), ("size", "right"), ("fits", "left"),
               ("placement", "left"), ("max\nctx", "right"), ("est.\ntok/s", "right"))


def fit_table(rows: list[FitRow], hw: Hardware, chosen: Plan | None, model_name: str, width: int) -> Group:
    """Every variant on this machine, titled by the recipe's model, whole at `width` columns: the
    notes in their own wrapped column where it leaves them room, else each on its own line below."""
    cells = [_fit_cells(row, chosen) for row in rows]
    notes = [row.reason or row.variant.note for row in rows]
    table = Table()
    for header, justify in FIT_COLUMNS:
        table.add_column(header, justify=justify, no_wrap=header != "variant", overflow="fold")
    inline = any(notes) and width - _fixed_width(cells) - 3 >= NOTE_MIN_WIDTH  # 3: its padding and border
    if inline:
        table.add_column("note", ratio=1)
    for row_cells, note in zip(cells, notes):
        table.add_row(*row_cells, *([note] if inline else []))
    below = [] if inline else [Text(f"  {row.variant.id}: {note}") for row, note in zip(rows, notes) if note]
    title = Text(f"{model_name} variants on {hw.summary()}", "table.title")  # above, not as wide as the table
    return Group(title, table, *below)


def _fit_cells(row: FitRow, chosen: Plan | None) -> list[Text | str]:
    v = row.variant
    picked = chosen is not None and chosen.variant == v
    fits = Text("yes", "green") if row.fits else Text("no", "red")
    speed = row.speed.span() if row.speed and row.speed.high else "-"
    return [Text(("→ " if picked else "  ") + v.id, "bold" if picked else ""),
            v.format, format_gb(v.size_bytes), fits, row.placement or "-",
            format_context(row.max_context) if row.max_context else "-", speed]


def _fixed_width(cells: list[list[Text | str]]) -> int:
    """The columns before the note, as Rich draws them: the widest line of each, its padding, the borders."""
    from rich.cells import cell_len

    widths = [max(cell_len(line) for line in header.split("\n")) for header, _ in FIT_COLUMNS]
    for row in cells:
        widths = [max(w, cell_len(str(cell))) for w, cell in zip(widths, row)]
    return sum(w + 2 for w in widths) + len(widths) + 1


def plan_summary(plan: Plan) -> Group:
    m = plan.memory
    lines = [
        Text.assemble(("Plan: ", "bold"), f"{plan.variant.qualified_id} with {plan.engine}, ",
                      f"{format_context(plan.context)} context, {plan.placement_label}"),
        Text(f"  weights {format_gb(m.weights)} + KV cache ({plan.kv_type}) {format_gb(m.kv_cache)} "
             f"+ runtime {format_gb(m.overhead)}" + (f" + draft {format_gb(m.draft)}" if m.draft else "")
             + f" = {format_gb(m.total)} of a {format_gb(m.budget)} budget"),
    ]
    if m.mapped:
        lines.append(Text(f"  + {format_gb(m.mapped)} of tables memory-mapped from disk, outside that budget "
                          f"(page cache left for them: {format_gb(m.page_cache)})"))
    if plan.draft is not None:
        from localv4.serve.engines.policy import draft_name

        where = "; its experts in RAM" if plan.draft_n_cpu_moe else ""
        lines.append(Text(f"  draft {plan.draft.kind} ({draft_name(plan.draft)}), weights and KV "
                          f"{format_gb(m.draft)}{where}: decodes speculatively (`--speculative off` without)"))
    if plan.placement == "hybrid":
        lines.append(Text(f"  GPU {format_gb(m.gpu_part)} of {format_gb(m.gpu_budget)}; "
                          f"RAM {format_gb(m.ram_part)} of {format_gb(m.ram_budget)} "
                          f"(experts of {plan.n_cpu_moe} layers in RAM)"))
    if plan.pool:
        lines.append(pool_table(plan))
    lines.append(Text(f"  speed {plan.speed.label()}: {plan.speed.basis}", "dim"))
    if plan.total_speed is not None:
        lines.append(Text(f"  {plan.parallel} slots, each up to {plan.context // 1024}K context (KV for "
                          f"{plan.parallel} sequences budgeted): ~{plan.speed.span()} tok/s per user, "
                          f"{plan.total_speed.label()} in all"))
    if plan.draft is not None and plan.draft.speedup is not None:
        up = plan.draft.speedup
        lines.append(Text(f"  with its draft ~{plan.decode_speed.span()} tok/s ({up.label()}: {up.source})", "dim"))
    lines.append(Text(f"  KV estimate: {plan.model.kv_source}", "dim"))
    lines += engine_check_lines(plan)
    lines += [Text(f"  tip: {a}", "yellow") for a in plan.advice]
    if plan.trade is not None:
        lines.append(trade_line(plan.trade))
    return Group(*lines)


def engine_check_lines(plan: Plan) -> list[Text]:
    """The engine's projection per device beside the estimate, or why there is none."""
    check = plan.engine_check
    if check is None:
        return []
    if not check.checked:
        return [Text(f"  {check.note}", "dim")]
    rows = [Text(f"  {d.device}{' (draft)' if d.draft else ''}: model {format_gb(d.model)} + context {format_gb(d.context)} + compute "
                 f"{format_gb(d.compute)} = {format_gb(d.total)} (engine-checked)") for d in check.devices]
    return [*rows, Text(f"  {check.note}", "green")]


def trade_line(t: Trade) -> Text:
    """The other side of the speed/quality trade in one line: what it is, both speeds, what the
    faster one gives up, and the command that picks it."""
    draft = f" + {t.draft} draft ({t.draft_note})" if t.draft else ""
    what = f"{t.variant}{draft}, {format_context(t.context)} context, KV {t.kv_type}"
    speeds = f"~{t.speed.span()} tok/s against ~{t.against.span()} here"
    lost = "; ".join(t.gives_up) or "nothing the plan shows"
    if t.faster:
        return Text(f"  faster: {what}: {speeds}; gives up {lost}: `{t.command}`", "cyan")
    return Text(f"  better quality: {what}: {speeds}; --prefer speed gave up {lost}: `{t.command}`", "cyan")


def pool_table(plan: Plan) -> Table:
    """Each pooled device: its budget, the layers, weights and KV it holds; the sums at the bottom."""
    table = Table(title=f"Pool ({plan.pool.network})", title_justify="left", show_footer=True)
    devices = plan.pool.devices
    sums = {"layers": sum(d.layers for d in devices), "weights": sum(d.weights for d in devices),
            "kv": sum(d.kv_cache for d in devices), "used": sum(d.used for d in devices),
            "budget": sum(d.budget for d in devices)}
    for title, footer in (("device", "total"), ("layers", str(sums["layers"])),
                          ("weights", format_gb(sums["weights"])), ("KV cache", format_gb(sums["kv"])),
                          ("uses", format_gb(sums["used"])), ("budget", format_gb(sums["budget"]))):
        table.add_column(title, footer=footer, justify="left" if title == "device" else "right")
    for d in devices:
        table.add_row(d.name, str(d.layers), format_gb(d.weights), format_gb(d.kv_cache),
                      format_gb(d.used), format_gb(d.budget))
    return table


def nothing_fits(err: NothingFits) -> Group:
    lines = [Text(f"Verdict: {err}", "bold red")]
    if err.ways_out:  # a verdict that names the way out itself stands alone
        lines += [Text("Ways out:"), *(Text(f"  - {w}") for w in err.ways_out)]
    return Group(*lines)


def doctor_table(report: DoctorReport) -> Table:
    table = Table(title="localv4 doctor", title_justify="left")
    for col in ("", "check", "finding", "fix"):
        table.add_column(col, overflow="fold")
    for c in report.checks:
        mark, style = STATUS_STYLE[c.status]
        table.add_row(Text(mark, style), c.name, c.detail, Text(c.fix, "cyan"))
    return table
