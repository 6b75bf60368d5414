"""The engine's own projection of a plan's memory, per device, before anything is downloaded.

`llama-fit-params --fit-print on`, from the same build as the llama-server that would serve,
takes the plan's exact server flags (context, KV type, placement, expert overrides, slots), opens
the GGUF with nothing allocated and prints, per device and for the host, the MiB of the model,
the context and the compute buffers. It reads only the headers, so stand-ins (the headers in
sparse files of the true size) answer as the full download would.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Callable

from localv4 import env
from localv4.errors import RuntimeFailure
from localv4.hardware.profile import Hardware
from localv4.planning.engine_check import checkable, estimate_beside, overrun, with_less_memory
from localv4.planning.values import DeviceProjection, EngineCheck, NothingFits, Plan
from localv4.serve.engines.base import EngineInputs
from localv4.serve.engines.llama_server import ALL_LAYERS, find, kv_type_args, server_args

MIB = 1 << 20
PROJECTION_TIMEOUT_S = 120
ROUNDS = 12  # plan, project, plan again: halving 1M tokens to 1K takes 10
# Flags of server_args that only a server has a use for (and that take a value); the rest are
# kept where the projection tool lists them.
_VALUED = frozenset({"-m", "-c", "--host", "--port", "--alias", "--temp", "--top-p", "-ngl", "--n-cpu-moe",
                     "--tensor-split", "--fit", "--fit-target", "--rpc", "--spec-type", "-md",
                     "--spec-draft-n-max", "-ngld", "--spec-draft-n-cpu-moe", "--spec-draft-type-k",
                     "--spec-draft-type-v", "--reasoning", "--reasoning-effort", "--chat-template-kwargs",
                     "-ctk", "-ctv", "--parallel", "--api-key-file"})


def projection_tool(plan: Plan):
    """The FitParamsBinary of the llama-server that would serve PLAN; None with none installed."""
    from localv4.install.locate import fit_params_beside

    server = find(plan.model.arch_llama_cpp, plan.gpu_vendor)
    return fit_params_beside(server) if server is not None else None


def project(plan: Plan, model_path: Path, tool) -> EngineCheck:
    """Run TOOL (a FitParamsBinary) on MODEL_PATH with the plan's flags; the devices it projects.

    The draft, where the plan has one, is left out of the flags: the tool projects one model."""
    return EngineCheck(devices=_run(tool, projection_argv(plan, model_path, tool)), engine=f"llama.cpp {tool.version}")


def projection_argv(plan: Plan, model_path: Path, tool) -> list[str]:
    """`up`'s server flags for the plan, as far as the projection tool takes them."""
    inputs = EngineInputs(plan=plan, model_path=model_path, host="127.0.0.1", port=0, api_key_file=None,
                          reasoning=None)
    return projection_flags(server_args(_AllFlags(), inputs), tool.flags)


def project_draft(plan: Plan, draft_path: Path, tool) -> tuple[DeviceProjection, ...]:
    """The plan's draft as the engine would place it beside the model (its layers where the model's
    go, its experts in RAM where the plan keeps them there, the plan's KV type), device by device."""
    layers = "0" if plan.placement == "cpu" else ALL_LAYERS
    args = ["-m", str(draft_path), "-c", str(plan.context * plan.parallel), "-ngl", layers,
            *(["--n-cpu-moe", str(plan.draft_n_cpu_moe)] if plan.draft_n_cpu_moe else []),
            *kv_type_args(plan.kv_type)]
    rows = _run(tool, projection_flags(args, tool.flags))
    return tuple(replace(d, draft=True) for d in rows)


def _draft_rows(plan: Plan, draft_path: Path, tool) -> tuple[tuple[DeviceProjection, ...], str]:
    """The draft's rows, or none and why: a DSpark draft (`dflash`) makes no context without its
    target model, so the tool cannot project it alone; the estimate's figure stands for it."""
    try:
        return project_draft(plan, draft_path, tool), ""
    except RuntimeFailure:
        assert plan.draft is not None
        return (), (f"the {plan.draft.kind} draft cannot be projected without its target by this build: "
                    "its share is the estimate's")


def _run(tool, flags: list[str]) -> tuple[DeviceProjection, ...]:
    argv = [str(tool.path), *flags, "--fit-print", "on"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace", stdin=subprocess.DEVNULL,
                              timeout=PROJECTION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RuntimeFailure(f"the engine's projection did not run: {err}") from None
    devices = parse_projection(done.stdout)
    if done.returncode != 0 or not devices:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeFailure(f"the engine could not project this plan (exit {done.returncode}): {last}")
    return devices


class _AllFlags:
    """server_args asks a binary which flags it has: every one, then projection_flags keeps the tool's."""

    @staticmethod
    def supports(flag: str) -> bool:
        return True


def projection_flags(argv: list[str], supported: frozenset[str]) -> list[str]:
    """ARGV less the flags (and their values) that the projection tool does not list."""
    kept: list[str] = []
    i = 0
    while i < len(argv):
        flag = argv[i]
        width = 2 if flag in _VALUED else 1
        if flag in supported:
            kept += argv[i:i + width]
        i += width
    return kept


def parse_projection(stdout: str) -> tuple[DeviceProjection, ...]:
    """`NAME model context compute` lines (MiB), one per device and one for the host."""
    rows = []
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and all(p.isdigit() for p in parts[1:]):
            model, context, compute = (int(p) * MIB for p in parts[1:])
            rows.append(DeviceProjection(parts[0], model, context, compute))
    return tuple(rows)


Replan = Callable[[Hardware, "int | None"], Plan]  # (the machine, a context to plan at or None) -> a plan


def engine_checked(plan: Plan, hw: Hardware, replan: Replan, context_fixed: bool = False) -> Plan:
    """PLAN with the engine's projection beside it. Where the engine says a device would be over
    its budget, the plan is made again and checked again: at half the context (down to the
    model's least, unless the user fixed it: CONTEXT_FIXED), then for this machine with the
    overrun taken from that device (experts moved, or a smaller variant). Raises NothingFits with
    the engine's figures when nothing fits. Without an engine, or offline with no headers kept,
    the plan is the estimate and its note says so."""
    why_not = _why_unchecked(plan)
    tool = None if why_not else projection_tool(plan)
    if why_not or tool is None:
        why_not = why_not or "no llama.cpp engine with llama-fit-params here (`localv4 install llama.cpp`)"
        return replace(plan, engine_check=EngineCheck(note=f"not engine-checked: {why_not}; the memory is the estimate"))
    from localv4.weights.headers import stand_ins
    from localv4.weights.hub import HubUnreachable

    fetched, planned_for, first = 0, hw, None
    for _ in range(ROUNDS):
        try:
            files = None if plan.variant.local else stand_ins(plan.variant)
        except HubUnreachable as err:
            return replace(plan, engine_check=EngineCheck(
                note=f"not engine-checked: the headers cannot be fetched ({err}) and none are kept; the memory is the estimate"))
        draft = stand_ins(plan.draft.as_variant(plan.variant.recipe_id)) if plan.draft is not None else None
        fetched += (files.fetched if files else 0) + (draft.fetched if draft else 0)
        entry = files.entry if files else Path(plan.variant.entry or "")  # a GGUF of your own: its own header
        check = project(plan, entry, tool)
        drafted, draft_note = _draft_rows(plan, draft.entry, tool) if draft else ((), "")
        check = replace(check, fetched=fetched, devices=check.devices + drafted)
        over = overrun(plan, hw, check)
        if over is None:
            note = "; ".join(filter(None, [estimate_beside(plan, check), draft_note, first]))
            return replace(plan, engine_check=replace(check, note=note))
        said = (f"the engine projected {plan.variant.id} at {plan.context:,} tokens over {over.describe()}, "
                "so the plan was made again")
        first = first or said
        shorter = plan.context // 2
        try:
            if not context_fixed and shorter >= plan.model.min_context:
                plan = replan(planned_for, shorter)
            else:
                planned_for = with_less_memory(planned_for, over)
                plan = replan(planned_for, None)
        except NothingFits as err:
            raise NothingFits(f"{said}: {err}", err.shortfall + over.total, err.ways_out) from None
    raise RuntimeFailure(f"the plan and the engine's projection did not agree in {ROUNDS} rounds ({first})")


def _why_unchecked(plan: Plan) -> str | None:
    if (env.get(env.ENGINE_CHECK) or "").lower() in ("off", "0", "no", "false"):
        return f"{env.ENGINE_CHECK} is off"
    if plan.variant.local:
        return None
    return checkable(plan)
