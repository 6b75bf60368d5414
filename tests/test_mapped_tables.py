"""DeepSeek V4.1-Flash's Engram tables in the plan: memory-mapped bytes on disk that the page cache
serves, not in the GPU working set; counted on disk; the speed estimate says when SSD reads bound it.
And its GGUFs, made for an engine that does not exist yet: listed, never chosen, with the reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from localv4.doctor import FAIL, check_disk
from localv4.errors import UsageError
from localv4.hardware import GB
from localv4.planning import machine as planner
from localv4.planning.speed import mapped_note
from localv4.planning.values import MemoryBreakdown, NothingFits
from localv4.recipes import load_catalog
from localv4.recipes.load import parse_recipe
from localv4.recipes.reader import read_toml
from support.machines import machine

RECIPE = load_catalog().recipe("deepseek-v4.1-flash")
# The same recipe as if the tables had to sit in memory like any weight: the verdict before.
UNMAPPED = dataclasses.replace(RECIPE, model=dataclasses.replace(RECIPE.model, mapped_params=0))
MAC_256, MAC_512 = "mac-studio-m3-ultra-256-handwritten", "mac-studio-m3-ultra-512"
PR = "PR #28696"


def test_the_recipe_lists_the_published_variants_with_their_engines() -> None:
    variants = {v.id: v for v in RECIPE.variants}
    assert variants["mlx-2bit"].size_bytes == 239_000_000_000 and variants["mlx-2bit"].status == "confirmed"
    assert variants["Q2_K"].size_bytes == round(246.3 * 2**30) and variants["Q3_K_M"].size_bytes == round(323.4 * 2**30)
    gguf = [v for v in RECIPE.variants if v.format == "gguf"]
    assert gguf and all(v.status == "needs-engine" and PR in v.needs and "deepseek41" in v.needs for v in gguf)
    model = RECIPE.model
    assert (model.layers, model.kv_bytes_per_token, model.active_params) == (40, 890, 16_000_000_000)
    assert 190e9 < model.mapped_params < 205e9 and model.arch_mlx == "deepseek_v41"


def test_on_a_256_gb_mac_the_mapped_tables_turn_no_into_yes() -> None:
    hw = machine(MAC_256)
    with pytest.raises(NothingFits) as before:
        planner.plan(hw, UNMAPPED)
    assert "raise the GPU memory limit" in " ".join(before.value.ways_out)

    plan = planner.plan(hw, RECIPE)
    mem = plan.memory
    assert plan.variant.id == "mlx-2bit" and plan.engine == "mlx" and plan.placement == "unified"
    assert mem.weights + mem.mapped == plan.variant.size_bytes  # every byte is somewhere
    assert mem.total <= mem.budget < plan.variant.size_bytes  # the working set fits, the file would not
    assert mem.mapped_cached and "stay in the page cache" in plan.speed.basis


def test_on_a_512_gb_mac_the_verdict_stands_and_the_working_set_shrinks() -> None:
    hw = machine(MAC_512)
    before, after = planner.plan(hw, UNMAPPED), planner.plan(hw, RECIPE)
    assert (before.variant, before.context) == (after.variant, after.context) == (after.variant, 1_048_576)
    assert before.memory.total - after.memory.total == after.memory.mapped > 50 * GB
    assert after.memory.page_cache > 4 * after.memory.mapped


def test_tables_that_do_not_stay_cached_bound_the_speed_by_ssd_reads() -> None:
    cached = MemoryBreakdown(100, 0, 0, 200, mapped=60 * GB, page_cache=80 * GB)
    assert "stay in the page cache" in mapped_note(cached)
    evicted = dataclasses.replace(cached, page_cache=20 * GB)
    assert not evicted.mapped_cached
    assert "SSD reads of their rows bound the speed" in mapped_note(evicted)
    assert mapped_note(MemoryBreakdown(100, 0, 0, 200)) == ""


def test_the_disk_check_counts_the_tables() -> None:
    hw = dataclasses.replace(machine(MAC_256), disk_free=200 * GB)
    plan = planner.plan(hw, RECIPE)
    assert plan.memory.total < hw.disk_free < plan.variant.size_bytes
    disk = check_disk(hw, plan.variant)
    assert disk.status == FAIL and "mlx-2bit needs 239 GB more" in disk.detail


@pytest.mark.parametrize("name", ["rtx-pro-6000-96gb", "epyc-9654-cpu-only", "dgx-spark-gb10"])
def test_off_a_mac_one_line_names_the_engine_it_needs_and_where_it_stands(name: str) -> None:
    with pytest.raises(NothingFits) as err:
        planner.plan(machine(name), RECIPE)
    line = str(err.value)
    assert "\n" not in line and PR in line and "not merged" in line and "mlx-vlm serves mlx-2bit" in line
    rows = {row.variant.id: row for row in planner.fit_table(machine(name), RECIPE)}
    assert not rows["Q2_K"].fits and PR in rows["Q2_K"].reason


def test_a_gguf_asked_for_by_name_is_refused_with_the_reason_even_where_it_would_fit() -> None:
    with pytest.raises(NothingFits) as err:
        planner.plan(machine(MAC_512), RECIPE, variant=RECIPE.variant("Q2_K"))
    assert str(err.value).startswith("Q2_K needs llama.cpp's `deepseek41`")


def test_a_needs_engine_series_must_say_what_it_needs(tmp_path: Path) -> None:
    raw = read_toml(RECIPE.source)
    del raw["series"][1]["needs"]
    with pytest.raises(UsageError, match=r"series\[1\]\.needs"):
        parse_recipe(tmp_path / "r.toml", raw)
    raw = read_toml(RECIPE.source)
    raw["series"][0]["needs"] = "something"
    with pytest.raises(UsageError, match=r"series\[0\]\.needs"):
        parse_recipe(tmp_path / "r.toml", raw)
