"""The trades a plan tells: the faster plan beside the chosen one (`--prefer`), the published
speedups behind a draft's estimate, and a KV precision chosen for what it buys."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from localv4.planning import machine as planner
from localv4.planning.fits import split_room
from localv4.planning.kv import LAST_RESORT, Q4_COST
from localv4.planning.memory import EXTRA_DEVICE_OVERHEAD, gpu_budgets
from localv4.recipes import load_catalog
from support.machines import MACHINES, machine

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CATALOG = load_catalog()
RELEASE = CATALOG.recipe("deepseek-v4-flash-0731")
RUNS = tomllib.loads(Path(__file__).with_name("published_runs.toml").read_text())["run"]


def _profile(tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(machine(name).to_dict()))
    return str(path)


# ---------------------------------------------------------------- the faster plan


def test_the_h200_shows_q3_with_its_dspark_draft_beside_iq4_at_1m(tmp_path) -> None:
    result = run_cli("plan", "--hardware", _profile(tmp_path, "h200-141gb"), env={"COLUMNS": "400"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Plan: deepseek-v4-flash-0731:UD-IQ4_XS with llama.cpp, 1M context" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("faster:"))
    assert "UD-Q3_K_XL + dspark draft (with draft: published +28-100%)" in line
    assert "against ~72-168 here" in line and "context: 512K instead of 1M" in line
    assert line.endswith("`localv4 up --variant deepseek-v4-flash-0731:UD-Q3_K_XL`")


def test_plan_json_carries_the_faster_plan_and_its_published_source(tmp_path) -> None:
    result = run_cli("plan", "--json", "--hardware", _profile(tmp_path, "h200-141gb"))
    plan = json.loads(result.stdout)["plan"]
    faster = plan["faster"]
    assert plan["prefer"] == "quality" and plan["better"] is None
    assert faster["variant"] == "deepseek-v4-flash-0731:UD-Q3_K_XL" and faster["draft"] == "dspark"
    assert faster["against_tok_s"] == plan["speed_with_draft_tok_s"]
    assert faster["speed_estimate_tok_s"][0] / faster["against_tok_s"][0] >= 1.28
    assert "llama.cpp PR #25784" in faster["speed_basis"]


def test_prefer_speed_takes_the_faster_plan_and_shows_what_it_gave_up(tmp_path) -> None:
    result = run_cli("plan", "--json", "--prefer", "speed", "--hardware", _profile(tmp_path, "h200-141gb"))
    plan = json.loads(result.stdout)["plan"]
    assert (plan["variant"], plan["draft"]["kind"], plan["prefer"]) == ("UD-Q3_K_XL", "dspark", "speed")
    assert plan["faster"] is None and plan["better"]["variant"] == "deepseek-v4-flash-0731:UD-IQ4_XS"
    assert plan["better"]["command"] == "localv4 up --variant deepseek-v4-flash-0731:UD-IQ4_XS"


@pytest.mark.parametrize("command", ["plan", "up"])
def test_prefer_is_checked_before_anything_slow(command: str) -> None:
    result = run_cli(command, "--prefer", "fast")
    assert result.returncode == 2 and "--prefer 'fast' is not one of: quality, speed." in result.stderr


def test_an_asked_variant_has_no_trade_and_a_plan_without_one_says_nothing() -> None:
    asked = planner.plan(machine("h200-141gb"), RELEASE, variant=RELEASE.variant("UD-IQ4_XS"))
    assert asked.trade is None and asked.to_dict()["faster"] is None
    assert planner.plan(machine("mac-studio-m3-ultra-512"), RELEASE).trade is None  # nothing 1.3x faster


@pytest.mark.parametrize("name", MACHINES)
def test_a_trade_shown_is_at_least_1_3x_faster_and_says_what_it_gives_up(name: str) -> None:
    try:
        p = planner.plan(machine(name), RELEASE)
    except planner.NothingFits:
        return
    if p.trade is not None:
        assert p.trade.speed.middle >= 1.3 * p.decode_speed.middle
        assert p.trade.gives_up and p.trade.command.startswith("localv4 up --variant ")


# ---------------------------------------------------------------- a draft's speedup is published data


def _pairs() -> dict[str, list[float]]:
    """Each published pair's with-draft / without-draft ratios."""
    base = {r["pair"]: r["tok_s"] for r in RUNS if r.get("pair") and "(no draft)" in r["engine"]}
    ratios: dict[str, list[float]] = {}
    for r in RUNS:
        if r.get("pair") and "(no draft)" not in r["engine"]:
            ratios.setdefault(r["pair"], []).append(r["tok_s"] / base[r["pair"]])
    return ratios


def test_every_recipe_draft_speedup_is_a_published_pair_of_its_kind() -> None:
    pairs = _pairs()
    drafts = {v.draft for r in CATALOG.recipes.values() for v in r.variants if v.draft}
    assert all(d.speedup is not None for d in drafts)
    for d in drafts:
        mine = [x for pair, xs in pairs.items() if pair.startswith(f"{d.kind}:") for x in xs]
        for bound in (d.speedup.low, d.speedup.high):
            assert any(abs(bound - x) < 0.01 for x in mine), (d.kind, bound, mine)


# ---------------------------------------------------------------- KV precision


def test_two_h100_no_longer_buy_q8_k_xl_with_a_q4_0_cache() -> None:
    p = planner.plan(machine("2x-h100-80gb"), RELEASE)
    assert p.kv_type != "q4_0" and p.context >= RELEASE.model.preferred_min_context


@pytest.mark.parametrize("name", MACHINES)
def test_q4_0_only_where_the_context_would_fall_below_32k_and_it_says_why(name: str) -> None:
    for recipe in (RELEASE, CATALOG.recipe("deepseek-v4-flash")):
        try:
            p = planner.plan(machine(name), recipe, speculative=False)
        except planner.NothingFits:
            continue
        if p.kv_type == LAST_RESORT:
            assert any(Q4_COST in a and "strix-halo-llamacpp#8" in a for a in p.advice)
            q8 = planner.plan(machine(name), recipe, variant=p.variant, speculative=False)
            assert q8.kv_type == LAST_RESORT  # the same variant: q4_0 bought no heavier one


def test_a_context_that_only_q4_0_reaches_32k_gets_it_with_its_source() -> None:
    from dataclasses import replace

    from localv4.planning import memory

    model = RELEASE.model
    variant = RELEASE.variant("UD-IQ1_S")
    at_32k = variant.size_bytes + memory.runtime_bytes(model, 32768, "q4_0")
    hw = replace(machine("cpu-only-24gb"), ram_available=at_32k + memory.RAM_HEADROOM + 2**20)
    p = planner.plan(hw, RELEASE, speculative=False)
    assert (p.kv_type, p.context) == ("q4_0", 32768)
    assert any(a.startswith("KV cache q4_0: 32K context (with q8_0 KV only 16K fits, under the preferred 32K)")
               and "strix-halo-llamacpp#8" in a for a in p.advice)


@pytest.mark.parametrize("name", [m for m in MACHINES if len(machine(m).gpus) > 1])
def test_every_gpu_keeps_its_margin_not_only_their_sum(name: str) -> None:
    """Shares by budget (--tensor-split): the first GPU also holds the runtime's buffers."""
    p = planner.plan(machine(name), RELEASE, speculative=False)
    budgets = gpu_budgets(machine(name))
    share = (p.memory.gpu_part - p.memory.overhead) / sum(budgets)
    first = p.memory.overhead - EXTRA_DEVICE_OVERHEAD * (len(budgets) - 1)
    assert share * budgets[0] + first <= budgets[0]
    assert p.memory.gpu_part - p.memory.overhead <= split_room(machine(name), p.memory.overhead)
