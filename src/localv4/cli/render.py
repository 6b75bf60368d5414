"""Rich renderings of the planning stage's values (plan table, plan, doctor) for the CLI and the tray."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from localv4.doctor import DoctorReport
from localv4.hardware.profile import Hardware
from localv4.plan import FitRow, NothingFits, Plan
from localv4.units import format_context, format_gb

STATUS_STYLE = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red")}


def fit_table(rows: list[FitRow], hw: Hardware, chosen: Plan | None) -> Table:
    table = Table(title=f"DeepSeek V4-Flash variants on {hw.summary()}", title_justify="left")
    for col, kw in (("variant", {"no_wrap": True}), ("format", {}),
                    ("size", {"justify": "right", "no_wrap": True}), ("fits", {}), ("placement", {}),
                    ("max ctx", {"justify": "right"}), ("est. tok/s", {"justify": "right", "no_wrap": True}),
                    ("note", {"ratio": 1, "min_width": 20})):
        table.add_column(col, **kw)
    for row in rows:
        v = row.variant
        picked = chosen is not None and chosen.variant == v
        fits = Text("yes", "green") if row.fits else Text("no", "red")
        speed = f"{row.speed.low:.0f}-{row.speed.high:.0f}" if row.speed and row.speed.high else "-"
        note = row.reason or v.note
        table.add_row(
            Text(("→ " if picked else "  ") + v.id, "bold" if picked else ""),
            v.format, format_gb(v.size_bytes), fits, row.placement or "-",
            format_context(row.max_context) if row.max_context else "-", speed, note,
        )
    return table


def plan_summary(plan: Plan) -> Group:
    m = plan.memory
    lines = [
        Text.assemble(("Plan: ", "bold"), f"{plan.variant.qualified_id} with {plan.engine}, ",
                      f"{format_context(plan.context)} context, {plan.placement_label}"),
        Text(f"  weights {format_gb(m.weights)} + KV cache ({plan.kv_type}) {format_gb(m.kv_cache)} "
             f"+ runtime {format_gb(m.overhead)} = {format_gb(m.total)} of a {format_gb(m.budget)} budget"),
    ]
    if plan.placement == "hybrid":
        lines.append(Text(f"  GPU {format_gb(m.gpu_part)} of {format_gb(m.gpu_budget)}; "
                          f"RAM {format_gb(m.ram_part)} of {format_gb(m.ram_budget)} "
                          f"(experts of {plan.n_cpu_moe} layers in RAM)"))
    lines.append(Text(f"  speed {plan.speed.label()}: {plan.speed.basis}", "dim"))
    lines.append(Text(f"  KV estimate: {plan.model.kv_source}", "dim"))
    lines += [Text(f"  tip: {a}", "yellow") for a in plan.advice]
    return Group(*lines)


def nothing_fits(err: NothingFits) -> Group:
    lines = [Text(f"Verdict: {err}", "bold red"), Text("Ways out:")]
    lines += [Text(f"  - {w}") for w in err.ways_out]
    return Group(*lines)


def doctor_table(report: DoctorReport) -> Table:
    table = Table(title="localv4 doctor", title_justify="left")
    for col in ("", "check", "finding", "fix"):
        table.add_column(col, overflow="fold")
    for c in report.checks:
        mark, style = STATUS_STYLE[c.status]
        table.add_row(Text(mark, style), c.name, c.detail, Text(c.fix, "cyan"))
    return table
