"""Rich renderings of the planning stage's values (plan table, plan, doctor) for the CLI and the tray."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from localv4.doctor import DoctorReport
from localv4.hardware.profile import Hardware
from localv4.planning.values import FitRow, NothingFits, Plan
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
             f"+ runtime {format_gb(m.overhead)}" + (f" + draft {format_gb(m.draft)}" if m.draft else "")
             + f" = {format_gb(m.total)} of a {format_gb(m.budget)} budget"),
    ]
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
    lines.append(Text(f"  KV estimate: {plan.model.kv_source}", "dim"))
    lines += [Text(f"  tip: {a}", "yellow") for a in plan.advice]
    return Group(*lines)


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
