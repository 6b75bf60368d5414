"""The planner's verdicts on recorded real machines, as a careful human would give them."""

from __future__ import annotations

import json
import re

import pytest

from conftest import run_cli
from localv4.hardware.engines import InstalledEngines
from localv4.planning import machine as planner
from localv4.planning.request import plan_request
from localv4.planning import memory
from localv4.errors import UsageError
from localv4.hardware import GB
from localv4.planning.values import NothingFits
from localv4.recipes import load_catalog
from localv4.serve.engines.policy import draft_name
from support.machines import MACHINES, machine

RECIPE = load_catalog().recipe("deepseek-v4-flash")  # the preview: its MLX quants are the most varied
QUALITY = {v.id: v.quality for v in RECIPE.variants}


def plan_for(name: str, variant: str | None = None, **kw):
    return planner.plan(machine(name), RECIPE, variant=RECIPE.variant(variant) if variant else None, **kw)


@pytest.mark.parametrize("name", ["mac-mini-m4-16", "macbook-pro-m4-pro-48", "cpu-only-24gb", "rtx4090-64gb"])
def test_nothing_fits_says_by_how_much_and_the_ways_out(name: str) -> None:
    with pytest.raises(NothingFits) as err:
        plan_for(name)
    message = str(err.value)
    assert "UD-IQ1_S" in message and "short by" in message
    assert err.value.shortfall > 0
    assert f"short by {err.value.shortfall / GB:.1f} GB" in message
    ways = " ".join(err.value.ways_out)
    assert "hosted API" in ways and "RPC" in ways


def test_16gb_mac_is_far_short() -> None:
    with pytest.raises(NothingFits) as err:
        plan_for("mac-mini-m4-16")
    assert err.value.shortfall > 70 * GB


def test_4090_with_64gb_is_just_short_and_more_ram_is_the_way_out() -> None:
    with pytest.raises(NothingFits) as err:
        plan_for("rtx4090-64gb")
    assert 0 < err.value.shortfall < 15 * GB
    assert any("96 GB of RAM" in w and "hybrid" in w for w in err.value.ways_out)


def test_5090_with_192gb_runs_hybrid_with_experts_in_ram() -> None:
    p = plan_for("rtx5090-192gb")
    assert p.placement == "hybrid" and p.engine == "llama.cpp"
    assert p.variant.id == "UD-Q8_K_XL"
    assert 0 < p.n_cpu_moe <= RECIPE.model.layers
    m = p.memory
    assert m.gpu_part <= m.gpu_budget < machine("rtx5090-192gb").vram_total
    assert m.ram_part <= m.ram_budget
    assert m.ram_part > 100 * GB  # the experts really are in RAM


def test_two_h100_run_a_4bit_or_better_gguf_fully_on_gpu() -> None:
    p = plan_for("2x-h100-80gb")
    assert p.placement == "gpu" and p.variant.format == "gguf"
    assert QUALITY[p.variant.id] >= QUALITY["UD-Q4_K_XL"]
    assert p.context >= 32768


def test_h200_fits_fully_on_gpu_rather_than_hybrid() -> None:
    p = plan_for("h200-141gb")
    assert p.placement == "gpu"
    assert p.variant.id == "UD-IQ4_XS"  # Q4_K_XL (155 GB) is over the H200's 141 GiB
    assert p.memory.total <= p.memory.budget


def test_m3_ultra_512_runs_the_near_lossless_quant_at_full_context() -> None:
    p = plan_for("mac-studio-m3-ultra-512")
    assert (p.variant.id, p.placement, p.engine) == ("UD-Q8_K_XL", "unified", "llama.cpp")
    assert p.context == RECIPE.model.max_context
    assert not any("sysctl" in a for a in p.advice)


def test_m4_max_default_limit_plans_2bit_and_says_how_to_unlock_3bit() -> None:
    p = plan_for("mac-studio-m4-max-128")
    assert p.variant.id == "UD-Q2_K_XL" and p.placement == "unified"
    tip = next(a for a in p.advice if "sysctl" in a)
    assert "sudo sysctl iogpu.wired_limit_mb=122880" in tip and "UD-IQ3_S" in tip


def test_m4_max_raised_limit_gets_the_variant_the_advice_promised() -> None:
    p = plan_for("mac-studio-m4-max-128-raised")
    assert p.variant.id == "UD-IQ3_S"
    assert not any("sysctl" in a for a in p.advice)


@pytest.mark.parametrize("name", MACHINES)
def test_no_plan_ever_exceeds_its_budget(name: str) -> None:
    try:
        p = plan_for(name)
    except NothingFits:
        return
    m = p.memory
    assert m.total <= m.budget
    if p.placement == "hybrid":
        assert m.gpu_part <= m.gpu_budget and m.ram_part <= m.ram_budget
    assert p.context >= 32768 and p.context & (p.context - 1) == 0  # a power of two
    assert p.variant.status == "confirmed"  # MLX quants are never chosen for the user
    assert 0 < p.speed.low < p.speed.high and "estimate" in p.speed.label()


def test_a_12_channel_epyc_is_planned_with_its_ram_bandwidth_not_a_desktops() -> None:
    """The issue's case: the flat 60 GB/s told a 12-channel EPYC ~1 tok/s where people measure ~10."""
    p = plan_for("epyc-9v45-cpu-only", variant="UD-Q4_K_XL", ctx=32768)
    assert p.placement == "cpu" and "460 GB/s RAM (spec)" in p.speed.basis
    assert p.speed.low <= 9.7 <= p.speed.high and p.speed.low > 3


def test_without_a_bandwidth_figure_the_estimate_uses_the_platform_spec_and_says_so() -> None:
    p = plan_for("rtx5090-192gb")  # recorded before the probe existed
    assert p.placement == "hybrid"
    assert "89.6 GB/s RAM (spec, not measured: dual-channel DDR5-5600, Ryzen 9000 desktop)" in p.speed.basis


def test_hybrid_estimate_follows_the_ram_bandwidth() -> None:
    from dataclasses import replace

    slow = replace(machine("rtx5070-12gb-128gb"), ram_bandwidth_gbps=40.0, ram_bandwidth_source="measured: x")
    fast = machine("rtx5070-12gb-128gb")
    assert planner.plan(slow, RECIPE).speed.high < planner.plan(fast, RECIPE).speed.high
    assert "40 GB/s RAM (measured)" in planner.plan(slow, RECIPE).speed.basis


def test_dgx_spark_is_planned_as_unified_memory_on_its_gpu() -> None:
    hw = machine("dgx-spark-gb10")
    p = plan_for("dgx-spark-gb10")
    assert p.placement == "unified" and p.n_cpu_moe == 0 and "GPU" in p.placement_label
    assert p.memory.total <= p.memory.budget <= hw.ram_available
    assert p.variant.size_bytes > 90 * GB  # a 3-bit quant, not a CPU fallback
    assert "273 GB/s unified memory" in p.speed.basis and p.speed.low > 5


def test_0731_plans_its_dspark_draft_where_it_fits_and_budgets_it() -> None:
    recipe = load_catalog().recipe("deepseek-v4-flash-0731")
    p = planner.plan(machine("mac-studio-m3-ultra-512"), recipe)
    assert p.draft is not None and p.draft.kind == "dspark" and draft_name(p.draft) == "draft-dspark"
    assert p.memory.draft >= p.draft.size_bytes and p.memory.total <= p.memory.budget
    assert p.to_dict()["draft"]["size_verified"] is False  # a planning figure until pull reads the hub
    off = planner.plan(machine("mac-studio-m3-ultra-512"), recipe, speculative=False)
    assert off.draft is None and off.memory.draft == 0


def test_the_draft_costs_context_never_the_variant() -> None:
    recipe = load_catalog().recipe("deepseek-v4-flash-0731")
    with_draft = planner.plan(machine("dgx-spark-gb10"), recipe)
    without = planner.plan(machine("dgx-spark-gb10"), recipe, speculative=False)
    assert with_draft.variant == without.variant and with_draft.draft is not None
    assert with_draft.context < without.context and with_draft.memory.total <= with_draft.memory.budget


def test_a_hybrid_plan_keeps_the_drafts_experts_in_ram_and_places_every_layer() -> None:
    """A DSpark draft switches llama-server's --fit off, so the plan places the draft too: its
    experts in RAM (--spec-draft-n-cpu-moe), the rest of it and its KV on the GPU, and the model's
    expert layers that no longer fit there move to RAM. Both sides stay inside their budgets."""
    recipe = load_catalog().recipe("deepseek-v4-flash-0731")
    hw = machine("rtx5090-192gb")
    with_draft = planner.plan(hw, recipe)
    without = planner.plan(hw, recipe, speculative=False)
    assert with_draft.placement == without.placement == "hybrid"
    assert with_draft.variant == without.variant and with_draft.context == without.context
    draft, m = with_draft.draft, with_draft.memory
    assert draft is not None and with_draft.draft_n_cpu_moe == draft.layers
    assert m.draft == memory.draft_bytes(recipe.model, draft, with_draft.context, with_draft.kv_type)
    in_ram = memory.draft_expert_bytes(recipe.model, with_draft.variant, draft)
    assert 0 < in_ram < draft.size_bytes
    assert m.gpu_part <= m.gpu_budget and m.ram_part <= m.ram_budget
    assert m.ram_part - without.memory.ram_part >= in_ram  # the draft's experts, and any moved layers
    assert with_draft.n_cpu_moe >= without.n_cpu_moe
    assert m.gpu_part + m.ram_part == m.total  # every byte placed on one side
    assert with_draft.to_dict()["draft"]["n_cpu_moe"] == draft.layers


def test_an_mlx_plan_budgets_its_dspark_draft_where_mlx_vlm_has_the_drafter() -> None:
    """0731's MLX series names DeepSeek's own checkpoint as its draft (mlx-vlm's DSpark drafter
    reads its mtp.* shards): budgeted like the GGUF draft where the installed mlx-vlm ships the
    drafter, and without one, a plan that says why."""
    recipe = load_catalog().recipe("deepseek-v4-flash-0731")
    hw = machine("mac-studio-m3-ultra-512")
    variant = next(v for v in recipe.variants if v.format == "mlx")
    assert variant.draft is not None and draft_name(variant.draft) == "dflash"
    mlx = planner.plan(hw, recipe, variant=variant, engines=InstalledEngines(mlx_dspark_drafter=True))
    assert mlx.draft == variant.draft and mlx.memory.draft == memory.draft_bytes(
        recipe.model, variant.draft, mlx.context, mlx.kv_type)
    without = planner.plan(hw, recipe, variant=variant, engines=InstalledEngines(mlx_dspark_drafter=False, mlx_vlm="0.7.9"))
    assert without.draft is None and without.memory.draft == 0
    assert any("has no DeepSeek V4 DSpark drafter" in a and "pip install" in a for a in without.advice)
    preview = planner.plan(hw, RECIPE, variant=RECIPE.variant("mlx-4bit"))  # its series names no draft: nothing to say
    assert preview.draft is None and not any("draft" in a for a in preview.advice)


def test_asked_variant_that_does_not_fit_names_a_smaller_one() -> None:
    with pytest.raises(NothingFits) as err:
        plan_for("mac-studio-m4-max-128", variant="UD-Q8_K_XL")
    assert "UD-Q8_K_XL needs" in str(err.value)
    assert any("smaller variant fits: UD-Q2_K_XL" in w for w in err.value.ways_out)


def test_fixed_context_is_honoured() -> None:
    p = plan_for("mac-studio-m3-ultra-512", ctx=131072)
    assert p.context == 131072 and p.memory.kv_cache == 131072 * RECIPE.model.kv_bytes_per_token


def test_mlx_variant_on_request_runs_on_mlx() -> None:
    p = plan_for("mac-studio-m3-ultra-512", variant="mlx-4bit")
    assert (p.engine, p.placement) == ("mlx", "unified")


@pytest.mark.parametrize("ctx", [1000, 2 * 1048576])
def test_context_out_of_range_is_bad_input(ctx: int) -> None:
    """Checked once, with the names, before the hardware is probed (the planners take checked values)."""
    with pytest.raises(UsageError, match="out of range"):
        plan_request(load_catalog(), RECIPE.id, ctx=ctx)


def test_fit_table_lists_every_variant() -> None:
    rows = planner.fit_table(machine("mac-studio-m4-max-128"), RECIPE)
    assert {r.variant.id for r in rows} == {v.id for v in RECIPE.variants}
    by_id = {r.variant.id: r for r in rows}
    assert by_id["UD-Q2_K_XL"].fits and not by_id["UD-Q8_K_XL"].fits
    assert by_id["UD-Q8_K_XL"].reason.startswith("short by")


# ---------------------------------------------------------------- the command, as a user runs it


def save_profile(tmp_path, name: str):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(machine(name).to_dict()))
    return path


def test_plan_command_for_a_saved_profile(tmp_path) -> None:
    result = run_cli("plan", "--hardware", str(save_profile(tmp_path, "rtx5090-192gb")))
    assert result.returncode == 0, result.stderr
    assert "→ UD-Q8_K_XL" in result.stdout
    assert "Plan: deepseek-v4-flash-0731:UD-Q8_K_XL with llama.cpp" in result.stdout  # the default model
    assert "experts of" in result.stdout and "in RAM" in result.stdout
    assert "draft dspark (draft-dspark)" in result.stdout and "its experts in RAM" in result.stdout
    assert "+ draft " in result.stdout  # the sum names every part it adds


def test_plan_command_json(tmp_path) -> None:
    result = run_cli("plan", "--json", "--hardware", str(save_profile(tmp_path, "h200-141gb")))
    data = json.loads(result.stdout)
    assert data["plan"]["variant"] == "UD-IQ4_XS" and data["plan"]["placement"] == "gpu"
    assert len(data["variants"]) == len(load_catalog().recipe().variants)  # the default model, 0731
    assert data["plan"]["model"] == "deepseek-v4-flash-0731"


def test_plan_command_nothing_fits_exits_1(tmp_path) -> None:
    result = run_cli("plan", "--hardware", str(save_profile(tmp_path, "mac-mini-m4-16")))
    assert result.returncode == 1
    assert "nothing fits" in result.stdout and "hosted API" in result.stdout


@pytest.mark.parametrize("args, words", [
    (["--variant", "UD-Q5_K_M"], "unknown variant 'UD-Q5_K_M'"),
    (["--ctx", "2048"], "out of range"),
    (["--ctx", "2M"], "out of range"),
    (["--ctx", "lots"], "not a token count"),
    (["--hardware", "/nonexistent/profile.json"], "profile"),
])
def test_plan_bad_input_is_one_line_exit_2(args, words) -> None:
    result = run_cli("plan", *args)
    assert result.returncode == 2
    assert words in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_invalid_profile_is_one_line_exit_2(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"hardware": {"os": "linux"}}')
    result = run_cli("plan", "--hardware", str(bad))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_epyc_without_a_measured_bandwidth_is_planned_from_its_platform_within_the_published_run() -> None:
    """Issue 23: a 12-channel EPYC 9654 profile without a figure got 60 GB/s and ~1-2 tok/s."""
    for variant in ("UD-Q4_K_XL", None):  # the published run's quant (9.7 tok/s on an EPYC), the default
        p = plan_for("epyc-9654-cpu-only", variant=variant, ctx=32768)
        assert p.placement == "cpu"
        assert "460.8 GB/s RAM (spec, not measured: 12-channel DDR5-4800, EPYC 9004)" in p.speed.basis
        assert p.speed.low <= 9.7 <= p.speed.high and p.speed.low > 3


def test_a_speed_under_1_tok_s_prints_with_decimals_never_0_0(tmp_path) -> None:
    from dataclasses import replace

    from localv4.planning.values import SpeedEstimate

    assert SpeedEstimate(0.44, 1.23, "").label() == "~0.4-1.2 tok/s (estimate)"
    assert SpeedEstimate(0.04, 0.16, "").label() == "~0.04-0.16 tok/s (estimate)"
    assert SpeedEstimate(3.6, 9.2, "").label() == "~4-9 tok/s (estimate)"
    slow = replace(machine("epyc-9654-cpu-only"), ram_bandwidth_gbps=8.5,  # this VM's probe once read that
                   ram_bandwidth_source="measured: memmove copy")
    path = tmp_path / "slow.json"
    path.write_text(json.dumps(slow.to_dict()))
    result = run_cli("plan", "--hardware", str(path))
    assert result.returncode == 0, result.stderr
    assert not re.search(r"(?<![\d.])0-0\b", result.stdout)
    assert "speed ~0.1-0.3 tok/s (estimate): 8.5 GB/s RAM (measured)" in result.stdout
    assert re.search(r"UD-Q8_K_XL .* 0\.1-0\.3 │", result.stdout)  # its row in the table


def test_plan_fix_lines_fit_a_pipx_install(monkeypatch) -> None:
    import sys
    from dataclasses import replace

    monkeypatch.setattr(sys, "prefix", "/home/ada/.local/share/pipx/venvs/localv4")
    mac = machine("macbook-pro-m3-max-128")
    unasked = replace(mac, apple=replace(mac.apple, wired_limit_source="estimate"))  # Metal not queried
    advice = planner.plan(unasked, RECIPE).advice
    assert any("`pipx inject localv4 mlx` lets localv4 read the real value." in a for a in advice), advice
