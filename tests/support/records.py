"""The record of a running engine, for tests that stand one in (a process of their own, a fake
endpoint): the plan it serves is a real recipe's variant, with figures that need no planning."""

from __future__ import annotations

import dataclasses

from localv4.planning.values import MemoryBreakdown, Plan, SpeedEstimate
from localv4.recipes import load_catalog
from localv4.serve.state import ServerState

RECIPE, VARIANT = "deepseek-v4-flash", "UD-Q2_K_XL"


def stand_in_plan(served_name: str | None = None, context: int = 65536, placement: str = "gpu") -> Plan:
    """deepseek-v4-flash:UD-Q2_K_XL as a plan; `served_name` renames the model id clients send."""
    recipe = load_catalog().recipe(RECIPE)
    model = dataclasses.replace(recipe.model, served_name=served_name) if served_name else recipe.model
    variant = recipe.variant(VARIANT)
    memory = MemoryBreakdown(weights=variant.size_bytes, kv_cache=0, overhead=0, budget=variant.size_bytes)
    return Plan(model, variant, variant.engine_family, context, placement, n_cpu_moe=0, memory=memory,
                speed=SpeedEstimate(12.34, 23.45, "a stand-in"))


def stand_in_record(plan: Plan | None = None, **changes) -> ServerState:
    """An engine `up` recorded serving `plan` on 127.0.0.1:8484; `changes` set any other field."""
    values = dict(pid=123, create_time=1.0, backend="llama-server", plan=plan or stand_in_plan(),
                  host="127.0.0.1", port=8484, log="/x/server.log", started_at=2.0)
    return ServerState(**{**values, **changes})
