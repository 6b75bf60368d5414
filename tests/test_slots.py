"""`--parallel N`: the KV of N sequences budgeted, the per-user and total speed stated, the engines'
flags, the refusal of a backend that serves one request at a time, and the default by the machine."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from conftest import run_cli
from localv4.errors import UsageError
from localv4.install.locate import LlamaServerBinary
from localv4.planning import machine as planner
from localv4.planning import memory, slots
from localv4.planning.request import plan_request
from localv4.recipes import load_catalog
from localv4.serve.engines import llama_server, policy
from localv4.serve.engines.base import EngineInputs
from support.gemma_serving import cmdline
from support.machines import machine
from test_planner import save_profile

BINARY = LlamaServerBinary(path=Path("/opt/llama.cpp/bin/llama-server"), version="0.5.0-dev (build 1, commit 0c1e570)",
                           build=1, commit="0c1e570", flavour="cuda", devices=(),
                           flags=frozenset({"--parallel", "--no-kv-unified", "--fit", "--jinja", "--alias"}))


def _plans(name: str = "2x-h100-80gb"):
    recipe = load_catalog().recipe(None)
    return recipe, planner.plan(machine(name), recipe, parallel=1), planner.plan(machine(name), recipe, parallel=4)


def test_four_slots_on_two_h100s_budget_four_sequences_and_state_both_speeds() -> None:
    recipe, one, four = _plans()
    assert four.parallel == 4 and four.placement == "gpu" and four.model == recipe.model
    assert four.memory.kv_cache == 4 * memory.kv_bytes(recipe.model, four.context, four.kv_type)
    assert four.memory.total <= four.memory.budget and four.context < one.context  # 4 contexts cost room
    assert four.total_speed is not None and one.total_speed is None
    assert four.speed.high < one.speed.high < four.total_speed.high  # per user falls, the total rises
    assert "4 decoding at once" in four.speed.basis
    shown = four.to_dict()
    assert shown["parallel"] == 4 and shown["total_speed_estimate_tok_s"][1] > shown["speed_estimate_tok_s"][1]


def test_the_default_says_why_one_slot_and_what_four_would_give() -> None:
    _, one, _ = _plans()
    default = planner.plan(machine("2x-h100-80gb"), load_catalog().recipe(None))
    assert default.parallel == 1 and default.context == one.context
    assert any(a.startswith("1 slot by default") and "--parallel 4" in a for a in default.advice)


def test_a_team_machine_whose_context_is_capped_takes_four_slots_by_default() -> None:
    recipe = load_catalog().recipe(None)
    small = replace(recipe, model=replace(recipe.model, max_context=65_536))
    plan = planner.plan(machine("h200-141gb"), small)
    assert plan.parallel == slots.TEAM_SLOTS and plan.context == 65_536
    assert any(a.startswith("4 slots by default") for a in plan.advice)


def test_llama_server_gets_the_slots_each_with_the_plans_context() -> None:
    _, _, four = _plans()
    argv = llama_server.command_for(BINARY, EngineInputs(four, Path("/m/x.gguf"), "127.0.0.1", 1, None, None)).argv
    assert argv[argv.index("-c") + 1] == str(4 * four.context)
    assert argv[argv.index("--parallel") + 1] == "4" and "--no-kv-unified" in argv


def test_a_backend_that_serves_one_request_refuses_more_slots() -> None:
    _, _, four = _plans()
    with pytest.raises(UsageError, match="--parallel 4: llama-cpp-python answers one request at a time") as err:
        policy.choose_backend(four, "llama-cpp-python")
    assert err.value.exit_code == 2


def test_mlx_refuses_more_slots() -> None:
    recipe = load_catalog().recipe(None)
    mlx = next(v for v in recipe.variants if v.format == "mlx")
    _, _, four = _plans()
    with pytest.raises(UsageError, match="answers one request at a time; use --parallel 1"):
        policy.choose_backend(replace(four, variant=mlx, engine="mlx"), None)


def test_parallel_is_checked_where_it_enters() -> None:
    with pytest.raises(UsageError, match="--parallel 0 is out of range"):
        plan_request(load_catalog(), parallel=0)


def test_plan_command_states_the_slots(tmp_path) -> None:
    result = run_cli("plan", "--json", "--parallel", "4", "--hardware", str(save_profile(tmp_path, "2x-h100-80gb")))
    plan = json.loads(result.stdout)["plan"]
    assert plan["parallel"] == 4 and plan["total_speed_estimate_tok_s"]


@pytest.mark.engine
def test_bench_two_clients_on_two_slots_of_gemma(native_server, gemma_plan, gemma_gguf, no_engine_left) -> None:
    from localv4.serve import api

    info = api.up(replace(gemma_plan, parallel=2), gemma_gguf, api.ServeOptions(backend="llama-server", port="auto"))
    try:
        argv = cmdline(psutil.Process(info.server.pid))
        assert argv[argv.index("--parallel") + 1] == "2" and "--no-kv-unified" in argv
        result = run_cli("bench", "--clients", "2", "--runs", "2", "--tokens", "16", "--json", timeout=300)
        assert result.returncode == 0, result.stderr
        (two,) = json.loads(result.stdout)["clients"]
        assert two["clients"] == 2 and two["requests"] == 4 and two["generated_tokens"] > 0
        assert two["total_tok_s"] > 0 and 0 < two["median_latency_s"] <= two["max_latency_s"]
    finally:
        api.down()
