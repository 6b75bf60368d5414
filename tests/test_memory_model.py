"""The planner's runtime memory against what llama-server allocated for V4-Flash, and the KV type choice.

docs/memory.json holds what scripts/measure_memory.py read from the real engine (KV, DSV4
compressor state, compute and output buffers) at each context and KV cache type. The recipes'
fixed + per-token constants must predict every measured figure within 10%, or a plan could say
"fits" and then allocate more.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from localv4.planning import machine as planner
from localv4.planning import memory
from localv4.planning.kv import MUCH_LONGER
from localv4.hardware import GIB
from localv4.recipes import load_catalog
from support.machines import machine

MEASURED = json.loads((Path(__file__).resolve().parents[1] / "docs" / "memory.json").read_text())
RECIPES = {"preview": "deepseek-v4-flash", "0731": "deepseek-v4-flash-0731"}
MIB = 1024 * 1024
OK = [m for m in MEASURED["measurements"] if m["status"] == "ok" and m["engine"] == "llama-server"]


def _runtime(m: dict) -> float:
    return (m["kv_mib"] + m["state_mib"] + m["compute_mib"] + m["output_mib"]) * MIB


def test_every_release_and_kv_type_was_measured_at_several_contexts():
    for release in ("preview", "0731"):
        for kv in ("f16", "q8_0", "q4_0"):
            assert len({m["context"] for m in OK if (m["release"], m["kv_type"]) == (release, kv)}) >= 3


@pytest.mark.parametrize("m", OK, ids=lambda m: f'{m["release"]}-{m["kv_type"]}-{m["context"]}')
def test_the_planner_predicts_the_measured_runtime_memory_within_10_percent(m):
    model = load_catalog().recipe(RECIPES[m["release"]]).model
    predicted = memory.runtime_bytes(model, m["context"], m["kv_type"])
    assert predicted == pytest.approx(_runtime(m), rel=0.10)


def test_a_quantized_kv_cache_is_chosen_only_when_it_buys_something_and_the_plan_says_so():
    recipe = load_catalog().recipe()
    hw = machine("h200-141gb")
    chosen = planner.plan(hw, recipe)
    f16 = planner._choose(hw, recipe.model, [v for v in recipe.variants if v.status == "confirmed"
                                             and v.format == "gguf"], None)
    if chosen.kv_type == "f16":
        assert not any(line.startswith("KV cache") for line in chosen.advice)
    else:
        assert any(line.startswith(f"KV cache {chosen.kv_type}") for line in chosen.advice)
        assert chosen.variant.quality > f16[0].quality or chosen.context >= MUCH_LONGER * f16[1]
    assert chosen.to_dict()["kv_type"] == chosen.kv_type


def test_when_f16_cannot_hold_the_asked_context_a_quantized_kv_can():
    recipe = load_catalog().recipe()
    model = recipe.model
    f16, q4 = model.kv_cost("f16"), model.kv_cost("q4_0")
    assert q4.per_token_bytes < f16.per_token_bytes
    variant = min((v for v in recipe.variants if v.format == "gguf"), key=lambda v: v.size_bytes)
    ctx = model.max_context
    # a CPU machine with just enough RAM for the q4_0 plan at 1M context, not the f16 one
    need_q4 = variant.size_bytes + memory.runtime_bytes(model, ctx, "q4_0")
    hw = dataclasses.replace(machine("cpu-only-24gb"), ram_available=need_q4 + memory.RAM_HEADROOM + GIB)
    plan = planner.plan(hw, recipe, variant=variant, ctx=ctx)
    assert plan.kv_type in ("q8_0", "q4_0") and plan.memory.spare >= 0
    assert any(line.startswith(f"KV cache {plan.kv_type}") and "with f16" in line and "KV nothing fits" in line
               for line in plan.advice)


def test_the_plan_s_kv_type_reaches_the_engine_command_line():
    from localv4.serve.engines import llama_server
    from localv4.serve.engines.base import EngineInputs

    recipe = load_catalog().recipe()
    plan = dataclasses.replace(planner.plan(machine("h200-141gb"), recipe), kv_type="q8_0")

    class Binary:
        path = Path("/x/llama-server")

        def supports(self, flag: str) -> bool:
            return True

    argv = llama_server.command_for(Binary(), EngineInputs(plan, Path("/m/x.gguf"), "127.0.0.1", 1, None, None)).argv
    assert argv[argv.index("-ctk") + 1] == "q8_0" and argv[argv.index("-ctv") + 1] == "q8_0"
