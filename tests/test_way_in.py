"""A newcomer's first commands (issue 24, "the way in"): what can be run here, naming it as
`ollama run` users do, a suggestion for every mistyped name, and the demo where nothing fits."""

from __future__ import annotations

import dataclasses
import json

import pytest

from conftest import run_cli
from localv4.errors import UsageError
from localv4.hardware import GIB
from localv4.planning import machine as planner
from localv4.planning.request import plan_request
from localv4.planning.values import NothingFits
from localv4.recipes import load_catalog, parse_recipe
from localv4.recipes.reader import read_toml
from support.cli_output import one_line_error
from support.machines import machine

CATALOG = load_catalog()
DEMO_WAY = "try the whole chain (engine, endpoint, chat) first with Qwen2.5 0.5B Instruct (demo): `localv4 up qwen2.5-0.5b`"


def profile(tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(machine(name).to_dict()))
    return str(path)


# ---------------------------------------------------------------- what can be run here


def test_list_shows_every_models_variants_with_size_format_and_fit() -> None:
    done = run_cli("list")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("On ") and "deepseek-v4-flash-0731: DeepSeek V4-Flash-0731 (the default)" in out
    assert "qwen2.5-0.5b: Qwen2.5 0.5B Instruct (demo)" in out
    assert "│ IQ4_XS  │ gguf   │ 349.0 MB │ yes, " in out  # placement and context: this machine's
    assert "│ UD-Q4_K_XL " in out and "155.1 GB" in out
    assert "`localv4 up MODEL[:VARIANT]` serves it." in out


def test_models_available_json_is_every_variant_and_the_same_as_list() -> None:
    done = run_cli("models", "--available", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["id"] for r in rows if r["model"] == "qwen2.5-0.5b"] == ["qwen2.5-0.5b:IQ4_XS", "qwen2.5-0.5b:Q3_K_L"]
    assert len(rows) == len(CATALOG.all_variants)
    assert rows[0]["model"] == "deepseek-v4-flash-0731"  # the default first
    demo = next(r for r in rows if r["id"] == "qwen2.5-0.5b:IQ4_XS")
    assert demo["fits"] and demo["format"] == "gguf" and demo["size_bytes"] == 349_000_000
    assert [r["id"] for r in json.loads(run_cli("list", "--json").stdout)] == [r["id"] for r in rows]


def test_models_available_with_a_folder_is_a_usage_error(tmp_path) -> None:
    done = run_cli("models", "--available", "--dir", str(tmp_path))
    assert done.returncode == 2 and "--available lists the recipes" in one_line_error(done)


# ---------------------------------------------------------------- MODEL[:VARIANT] as an argument


@pytest.mark.parametrize("name", ["qwen2.5-0.5b", "Qwen2.5-0.5B"])
def test_up_takes_the_model_as_its_argument(name: str) -> None:
    done = run_cli("up", name, "--ctx", "64K")  # the demo's range, so the demo was asked for
    assert done.returncode == 2
    assert one_line_error(done) == "localv4: --ctx 65536 is out of range: use 2048 to 32768 tokens."


def test_up_keeps_what_follows_dashes_as_engine_flags() -> None:
    alone = run_cli("up", "--ctx", "1K", "--", "--threads", "8")  # not a model: the default is planned
    assert one_line_error(alone) == "localv4: --ctx 1024 is out of range: use 4096 to 1048576 tokens."
    named = run_cli("up", "qwen2.5-0.5b", "--", "--port", "9")
    assert named.returncode == 2
    assert one_line_error(named) == "localv4: --port after `--` is localv4's to set: use --port instead."
    before = run_cli("up", "qwen2.5-0.5b", "--threads", "8")
    assert before.returncode == 2 and "No such option: --threads" in one_line_error(before)


def test_plan_takes_a_model_a_variant_or_both(tmp_path) -> None:
    demo = json.loads(run_cli("plan", "qwen2.5-0.5b", "--json").stdout)
    assert demo["plan"]["model"] == "qwen2.5-0.5b"
    box = profile(tmp_path, "rtx5090-192gb")
    for name in ("UD-IQ1_S", "deepseek-v4-flash:UD-IQ1_S"):
        done = run_cli("plan", name, "--hardware", box, "--json")
        assert done.returncode == 0, done.stderr
        chosen = json.loads(done.stdout)["plan"]
        assert chosen["variant"] == "UD-IQ1_S"
        assert chosen["model"] == ("deepseek-v4-flash" if ":" in name else "deepseek-v4-flash-0731")


@pytest.mark.parametrize("args, wanted", [
    (["qwen2.5-0.5b"], "qwen2.5-0.5b:IQ4_XS"),  # a model: the variant the plan here picks
    (["deepseek-v4-flash-0731:UD-Q4_K_XL", "--speculative", "off"], "deepseek-v4-flash-0731:UD-Q4_K_XL"),
])
def test_pull_takes_a_model_or_model_and_variant(args, wanted) -> None:
    done = run_cli("pull", *args)  # the hub is unreachable in tests: the error names what was wanted
    assert done.returncode == 1 and f"{wanted} is not complete on disk" in one_line_error(done)


@pytest.mark.parametrize("args, said", [
    (["up", "qwen2.5-0.5b", "--model", "deepseek-v4-flash"],
     "two models asked for: 'qwen2.5-0.5b' and --model deepseek-v4-flash; give one."),
    (["plan", "UD-Q4_K_XL", "--variant", "UD-IQ1_S"],
     "two variants asked for: 'UD-Q4_K_XL' and --variant UD-IQ1_S; give one."),
])
def test_a_name_given_twice_is_a_usage_error(args, said) -> None:
    done = run_cli(*args)
    assert done.returncode == 2 and one_line_error(done) == f"localv4: {said}"


def test_help_says_which_reading_wins() -> None:
    done = run_cli("up", "--help")
    assert "[MODEL[:VARIANT] | FILE.gguf] [-- ENGINE_FLAGS]" in done.stdout
    assert "recipe id is always the model" in " ".join(done.stdout.split())


# ---------------------------------------------------------------- a suggestion for every slip


@pytest.mark.parametrize("args, said", [
    (["up", "q4_k_xl"], "unknown model or variant 'q4_k_xl'. Did you mean UD-Q4_K_XL?"),
    (["plan", "Qwen2.5"], "unknown model or variant 'Qwen2.5'. Did you mean qwen2.5-0.5b?"),
    (["pull", "IQ4_XS"], "unknown model or variant 'IQ4_XS'. Did you mean UD-IQ4_XS or qwen2.5-0.5b:IQ4_XS?"),
    (["up", "--model", "Qwen2.5"], "unknown model 'Qwen2.5'. Did you mean qwen2.5-0.5b?"),
    (["plan", "--variant", "deepseek-v4-flash:q4_k_xl"], "unknown variant 'q4_k_xl' for deepseek-v4-flash. "
                                                         "Did you mean UD-Q4_K_XL?"),
    (["up", "--variant", "qwen2.5-0.5b"], "'qwen2.5-0.5b' is a model, not a variant of deepseek-v4-flash-0731: "
                                          "give it as `--model qwen2.5-0.5b`."),
    (["rm", "qwen2.5-0.5b"], "'qwen2.5-0.5b' is a model, not a variant of deepseek-v4-flash-0731: "
                             "give it as `--model qwen2.5-0.5b`."),
])
def test_an_unknown_name_gets_the_nearest_in_one_line_exit_2(args, said) -> None:
    done = run_cli(*args)
    assert done.returncode == 2 and one_line_error(done).startswith(f"localv4: {said}")


# ---------------------------------------------------------------- nothing fits: the demo


def test_nothing_fits_names_the_demo(tmp_path) -> None:
    done = run_cli("plan", "--hardware", profile(tmp_path, "mac-mini-m4-16"))
    assert done.returncode == 1
    assert "localv4 up qwen2.5-0.5b" in done.stdout
    as_json = json.loads(run_cli("plan", "--json", "--hardware", profile(tmp_path, "mac-mini-m4-16")).stdout)
    assert as_json["nothing_fits"]["ways_out"][-1] == DEMO_WAY


def test_the_demo_is_offered_only_where_it_fits_and_not_for_itself() -> None:
    request = plan_request(CATALOG)
    assert request.demo is CATALOG.recipe("qwen2.5-0.5b")
    hw = machine("cpu-only-24gb")
    with pytest.raises(NothingFits) as roomy:
        planner.plan(hw, request.recipe, demo=request.demo)
    assert DEMO_WAY in roomy.value.ways_out
    tiny = dataclasses.replace(hw, ram_total=5 * GIB, ram_available=4 * GIB + 2**20)
    with pytest.raises(NothingFits) as cramped:
        planner.plan(tiny, request.recipe, demo=request.demo)
    with pytest.raises(NothingFits) as itself:
        planner.plan(tiny, request.demo, demo=request.demo)
    assert not any("qwen2.5-0.5b" in way for way in (*cramped.value.ways_out, *itself.value.ways_out))


def test_the_demo_flag_is_read_from_the_recipe_and_checked() -> None:
    assert [r.id for r in CATALOG.recipes.values() if r.demo] == ["qwen2.5-0.5b"]
    path = CATALOG.demo.source
    with pytest.raises(UsageError, match="'demo'"):
        parse_recipe(path, {**read_toml(path), "demo": "yes"})
