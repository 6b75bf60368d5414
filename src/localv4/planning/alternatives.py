"""The other side of the speed/quality trade: the planner puts quality first, so a plan that gives
up some of it (a smaller quant that fits the GPU, or leaves room for its draft) and decodes at
least 1.3x faster by the estimate is shown beside the chosen one, with what it gives up and the
command that picks it. `--prefer speed` takes it instead, and shows the plan it gave up.

Speeds are compared with each plan's draft at its published speedup (`Plan.decode_speed`), by the
middle of each estimate's range.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from localv4.planning.values import Plan, Trade
from localv4.recipes import KV_TYPES
from localv4.units import format_context

FASTER = 1.3  # worth a line: at least this much faster by the estimate


def with_trade(chosen: Plan, options: Iterable[Plan | None], prefer: str, ctx: int | None) -> Plan:
    """`chosen` with the best-quality option at least FASTER times faster beside it (`options`:
    the plans of the variants below it, best first); with `prefer` "speed", that option instead,
    with `chosen` beside it. `ctx`: the context asked for, which the commands repeat."""
    faster = next((p for p in options if p is not None and _ratio(p, chosen) >= FASTER), None)
    if faster is None:
        return replace(chosen, prefer=prefer)
    if prefer == "speed":
        return replace(faster, prefer=prefer, trade=_trade(chosen, faster, better=chosen, ctx=ctx))
    return replace(chosen, prefer=prefer, trade=_trade(faster, chosen, better=chosen, ctx=ctx))


def _ratio(plan: Plan, against: Plan) -> float:
    return plan.decode_speed.middle / max(against.decode_speed.middle, 1e-9)


def _trade(other: Plan, chosen: Plan, better: Plan, ctx: int | None) -> Trade:
    """`other` as the line beside `chosen`; `better` is the better-quality one of the two."""
    quicker = chosen if better is other else other
    command = f"localv4 up --variant {other.variant.qualified_id}" + (f" --ctx {format_context(ctx)}" if ctx else "")
    return Trade(
        faster=other is quicker, variant=other.variant.qualified_id, context=other.context, kv_type=other.kv_type,
        placement=other.placement, draft=other.draft.kind if other.draft else "",
        draft_note=other.draft.speedup.label() if other.draft and other.draft.speedup else "", speed=other.decode_speed,
        against=chosen.decode_speed, gives_up=gives_up(better, quicker), command=command,
    )


def gives_up(better: Plan, quicker: Plan) -> tuple[str, ...]:
    """What `quicker` gives up against `better`: the variant's quality, context, KV precision."""
    lost = []
    if quicker.variant != better.variant:
        lost.append(f"quality: {quicker.variant.id} ({quicker.variant.bits_per_weight:g} bits per weight) "
                    f"instead of {better.variant.id} ({better.variant.bits_per_weight:g})")
    if quicker.context < better.context:
        lost.append(f"context: {format_context(quicker.context)} instead of {format_context(better.context)}")
    if KV_TYPES.index(quicker.kv_type) > KV_TYPES.index(better.kv_type):
        lost.append(f"KV cache {quicker.kv_type} instead of {better.kv_type}")
    return tuple(lost)
