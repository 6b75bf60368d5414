"""The engine's projection against the plan: where it says more than a device may use, and the
machine to plan again for, so that the engine's figures decide before the download.

Pure functions over values: the projection itself is made by the engine (serve.projection) on
the headers the weights stage fetched; the loop that plans, projects and plans again is flow's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from localv4.hardware.profile import Hardware
from localv4.planning import memory
from localv4.planning.values import EngineCheck, Plan
from localv4.units import human_bytes

HOST = "Host"


@dataclass(frozen=True)
class Overrun:
    """Bytes the engine projects past each device's budget: RAM ("Host"), or a GPU by its index in
    llama.cpp's device order (this machine's discrete GPUs), or the one unified pool."""

    host: int = 0
    gpus: tuple[int, ...] = ()
    unified: int = 0

    @property
    def total(self) -> int:
        return self.host + sum(self.gpus) + self.unified

    def describe(self) -> str:
        parts = [f"RAM by {human_bytes(self.host)}"] if self.host else []
        parts += [f"GPU {i} by {human_bytes(b)}" for i, b in enumerate(self.gpus) if b]
        parts += [f"unified memory by {human_bytes(self.unified)}"] if self.unified else []
        return ", ".join(parts)


def checkable(plan: Plan) -> str | None:
    """Why the engine cannot project this plan (None: it can)."""
    if plan.variant.format != "gguf":
        return "MLX loads its weights whole; its check is the Metal working set"
    if plan.placement == "pool":
        return "a pool's devices are on other machines"
    return None


def overrun(plan: Plan, hw: Hardware, check: EngineCheck) -> Overrun | None:
    """Where the engine's projection exceeds what this machine may give the plan (None: it fits)."""
    rows: dict[str, int] = {}
    for d in check.devices:  # a draft's rows add to its device's
        rows[d.device] = rows.get(d.device, 0) + d.total
    unprojected = _draft_estimate(plan, check)  # where the engine could not project the draft alone
    if unprojected:
        first_gpu = next((name for name in rows if name != HOST), HOST)
        where = HOST if plan.placement in ("cpu", "unified") else first_gpu
        rows[where] = rows.get(where, 0) + unprojected
    host = rows.pop(HOST, 0)
    if plan.placement == "unified":
        over = Overrun(unified=max(0, host + sum(rows.values()) - memory.unified_budget(hw)))
    else:
        budgets = memory.gpu_budgets(hw)
        gpus = tuple(max(0, used - budget) for used, budget in zip(rows.values(), budgets))
        over = Overrun(host=max(0, host - memory.ram_budget(hw)), gpus=gpus if any(gpus) else ())
    return over if over.total else None


def with_less_memory(hw: Hardware, over: Overrun) -> Hardware:
    """This machine with OVER taken from each device: what to plan for so that the engine's
    projection fits where the planner's own estimate was short."""
    if over.host:
        hw = replace(hw, ram_available=max(0, hw.ram_available - over.host))
    for index, extra in enumerate(over.gpus):
        if extra:
            hw = _less_on_gpu(hw, index, extra)
    if over.unified:
        hw = _less_unified(hw, over.unified)
    return hw


def _less_on_gpu(hw: Hardware, index: int, extra: int) -> Hardware:
    gpu = hw.discrete_gpus[index]
    free = gpu.memory_free if gpu.memory_free is not None else gpu.memory_total
    smaller = replace(gpu, memory_free=max(0, free - extra))
    if gpu in hw.gpus:
        return replace(hw, gpus=tuple(smaller if g is gpu else g for g in hw.gpus))
    return replace(hw, amd_gpus=tuple(smaller if g is gpu else g for g in hw.amd_gpus))


def _less_unified(hw: Hardware, extra: int) -> Hardware:
    if hw.apple is not None:
        return replace(hw, apple=replace(hw.apple, wired_limit=max(0, hw.apple.wired_limit - extra)))
    apu = hw.apu
    if apu is not None:
        smaller = replace(apu, gtt_total=max(0, apu.gtt_total - extra))
        return replace(hw, amd_gpus=tuple(smaller if g is apu else g for g in hw.amd_gpus))
    return replace(hw, ram_available=max(0, hw.ram_available - extra))


def _draft_estimate(plan: Plan, check: EngineCheck) -> int:
    """The estimate's bytes for a draft the engine did not project (0 where it did, or none)."""
    return plan.memory.draft if plan.draft is not None and not any(d.draft for d in check.devices) else 0


def estimate_beside(plan: Plan, check: EngineCheck) -> str:
    """One line: the engine's total against the planner's own, for the plan's summary."""
    unprojected = _draft_estimate(plan, check)
    engine = sum(d.total for d in check.devices)
    own = plan.memory.total - unprojected  # like for like: what the engine projected
    return (f"{check.engine} projects {human_bytes(engine)} for these flags from the file headers, "
            f"against the estimate's {human_bytes(own)} ({(engine - own) / own:+.0%}); its figures decide")
