"""The recipe table matches the research, and a user's recipe is loaded or rejected in one line."""

from __future__ import annotations

import pytest

from conftest import run_cli
from localv4.recipes import load_catalog
from localv4.paths import user_recipes_dir

# From shared/research/deepseek-v4-flash.md (hub byte totals, decimal GB).
UNSLOTH_GB = {
    "UD-IQ1_S": 82.5, "UD-IQ1_M": 86.9, "UD-IQ2_XXS": 90.9, "UD-IQ2_M": 90.9, "UD-Q2_K_XL": 96.8,
    "UD-IQ3_XXS": 103.0, "UD-IQ3_S": 117.3, "UD-Q3_K_M": 129.3, "UD-Q3_K_XL": 129.4,
    "UD-IQ4_XS": 137.9, "UD-IQ4_NL": 137.9, "UD-Q4_K_XL": 155.1, "UD-Q8_K_XL": 161.9,
}
MLX_GB = {"mlx-2bit-DQ": 96.52, "mlx-Q2.8-INF": 102.2, "mlx-Q3-mixed": 135.35, "mlx-4bit": 151.48,
          "mlx-Q4Q8": 173.0, "mlx-8bit": 302.27}


def test_every_researched_variant_is_in_the_recipe_with_its_size() -> None:
    recipe = load_catalog().recipe("deepseek-v4-flash")
    sizes = {v.id: v.size_bytes / 1e9 for v in recipe.variants}
    for vid, gb in {**UNSLOTH_GB, **MLX_GB}.items():
        assert sizes[vid] == pytest.approx(gb, abs=0.01), vid
    assert "MXFP4" in sizes


def test_model_constants() -> None:
    m = load_catalog().recipe().model
    assert m.max_context == 1_048_576 and m.layers == 43
    assert (m.temperature, m.top_p) == (1.0, 1.0)
    assert (m.arch_llama_cpp, m.arch_mlx) == ("deepseek4", "deepseek_v4")
    assert m.reasoning_modes == ("off", "high", "max")
    assert m.kv_source.startswith("measured") and "docs/memory.md" in m.kv_source
    assert m.kv_types == ("f16", "q8_0", "q4_0")
    assert m.kv_cost("q8_0").per_token_bytes < m.kv_cost("f16").per_token_bytes


def test_a_compute_buffer_is_interpolated_between_measured_contexts_and_extended_beyond() -> None:
    from localv4.recipes import KvCacheCost

    cost = KvCacheCost("f16", 10, 2, compute=((1000, 100), (2000, 300)))
    assert [cost.compute_bytes(c) for c in (500, 1000, 1500, 2000, 3000)] == [100, 100, 200, 300, 500]
    assert cost.runtime_bytes(1500) == 10 + 3000 + 200


def test_split_gguf_parts_follow_the_hub_layout() -> None:
    v = load_catalog().variant("deepseek-v4-flash:UD-Q4_K_XL")
    assert v.files[0] == "UD-Q4_K_XL/DeepSeek-V4-Flash-UD-Q4_K_XL-00001-of-00005.gguf"
    default = load_catalog().variant("UD-Q4_K_XL")  # the default model is the official release
    assert default.files[0] == "UD-Q4_K_XL/DeepSeek-V4-Flash-0731-UD-Q4_K_XL-00001-of-00005.gguf"
    assert len(v.files) == 5 and v.entry == v.files[0]


def test_0731_release_has_its_own_recipe() -> None:
    catalog = load_catalog()
    v = catalog.variant("deepseek-v4-flash-0731:UD-Q8_K_XL")
    assert v.repo == "unsloth/DeepSeek-V4-Flash-0731-GGUF"
    assert v.entry == "UD-Q8_K_XL/DeepSeek-V4-Flash-0731-UD-Q8_K_XL-00001-of-00005.gguf"
    assert catalog.recipe("deepseek-v4-flash-0731").model.max_context == 1_048_576


@pytest.mark.parametrize("name, model, variant", [
    ("UD-Q4_K_XL", None, "UD-Q4_K_XL"),
    ("deepseek-v4-flash:UD-Q4_K_XL", "deepseek-v4-flash", "UD-Q4_K_XL"),
    (":UD-Q4_K_XL", None, "UD-Q4_K_XL"),  # no model named: the caller's, else the default
])
def test_model_variant_is_read_one_way_and_written_back_as_read(name: str, model, variant: str) -> None:
    from localv4.recipes import VariantRef

    ref = VariantRef.parse(name)
    assert (ref.model, ref.variant) == (model, variant)
    assert str(ref) == name.lstrip(":")
    v = load_catalog().variant("deepseek-v4-flash:UD-Q4_K_XL")
    assert VariantRef.parse(v.qualified_id) == VariantRef(v.recipe_id, v.id)


def test_a_draft_is_found_by_the_name_models_lists_it_under() -> None:
    catalog = load_catalog()
    for draft in catalog.draft_variants:
        assert catalog.on_disk_variant(draft.qualified_id) == draft


def test_every_draft_kind_a_recipe_accepts_has_each_engines_name_for_it() -> None:
    from localv4.recipes import DRAFT_KINDS
    from localv4.serve.engines import llama_server, mlx

    assert set(llama_server.SPEC_TYPES) == set(mlx.DRAFT_KINDS) == set(DRAFT_KINDS)


def test_the_wheel_carries_the_built_in_recipes_where_the_loader_looks_first() -> None:
    from pathlib import Path

    from localv4.recipes import builtin_recipes_dir, load
    from localv4.recipes.reader import read_toml

    root = Path(__file__).resolve().parents[1]
    wheel = read_toml(root / "pyproject.toml")["tool"]["hatch"]["build"]["targets"]["wheel"]
    placed = wheel["force-include"]["recipes"]
    assert Path("src", placed) == load.PACKAGED.relative_to(root)
    assert builtin_recipes_dir() == root / "recipes"  # a source checkout has no packaged copy


def test_no_invented_quants() -> None:
    ids = {v.id for v in load_catalog().all_variants}
    assert not any(q in i for i in ids for q in ("Q4_K_M", "Q5", "Q6", "BF16"))


USER_RECIPE = """
[model]
id = "tiny-test"
name = "Tiny"
served_name = "tiny"
total_params = 1000000
active_params = 1000000
dense_params = 1000000
dense_bits_per_weight = 8
layers = 2
max_context = 32768
min_context = 4096
preferred_min_context = 32768
kv_bytes_per_token = 100
kv_source = "test"
runtime_overhead_bytes = 1000
reasoning_modes = []
[model.sampling]
temperature = 1.0
top_p = 1.0
[model.architecture]
llama_cpp = "gemma3"
mlx = "gemma3"
[[series]]
format = "gguf"
repo = "test/tiny"
layout = "tiny-{quant}.gguf"
[[series.variants]]
id = "Q4"
size_bytes = SIZE
bits_per_weight = 4.0
quality = 1
"""


def write_user_recipe(text: str) -> str:
    directory = user_recipes_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tiny.toml"
    path.write_text(text)
    return str(path)


def test_user_recipe_is_planned() -> None:
    write_user_recipe(USER_RECIPE.replace("SIZE", "1000000"))
    result = run_cli("plan", "--model", "tiny-test")
    assert result.returncode == 0, result.stderr
    assert "Plan: tiny-test:Q4 with llama.cpp" in result.stdout


@pytest.mark.parametrize("text, field", [
    (USER_RECIPE.replace("size_bytes = SIZE\n", ""), "series[0].variants[0].size_bytes' is missing"),
    (USER_RECIPE.replace("SIZE", '"big"'), "series[0].variants[0].size_bytes' must be int"),
    (USER_RECIPE.replace("SIZE", "1").replace('format = "gguf"', 'format = "onnx"'),
     "series[0].format' must be one of gguf, mlx"),
    (USER_RECIPE.replace("SIZE", "1").replace("layers = 2", "layers = -2"), "model.layers' must be positive"),
    ("[model\nid=", "not valid TOML"),
])
def test_malformed_user_recipe_is_one_line_naming_file_and_field(text: str, field: str) -> None:
    path = write_user_recipe(text)
    result = run_cli("plan")
    assert result.returncode == 2
    assert path in result.stderr and field in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
