"""`up`'s flow (plan -> weights -> engine): every option is checked before the first slow step,
and the backend is chosen from what each backend declares it can do."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import run_cli
from support.gemma_recipe import RECIPE_ID, VARIANT, recipe_text

from localv4.errors import RuntimeFailure, UsageError
from localv4.serve.engines import policy, registry
from localv4.planning.values import SpeedEstimate
from localv4.serve.state import ServerState


@pytest.fixture()
def gemma_recipe(isolated_home) -> None:
    from localv4.paths import user_recipes_dir

    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{RECIPE_ID}.toml").write_text(recipe_text())


@pytest.mark.parametrize("args, words", [
    (["--reasoning", "max"], "unknown reasoning mode 'max': use one of none"),  # the recipe has none
    (["--backend", "mlx"], "backend mlx cannot serve GGUF variant Q4_K_M"),
])
def test_options_that_depend_on_the_plan_are_refused_before_any_download(gemma_recipe, args, words) -> None:
    """The weights are not on disk and the hub is unreachable: a pull would be the next step."""
    done = run_cli("up", "--model", RECIPE_ID, "--variant", VARIANT, *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"localv4: {words}")
    assert len(done.stderr.strip().splitlines()) == 1 and "download" not in done.stdout


def test_the_policy_reads_capabilities_not_backend_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hybrid plan goes to the first backend that declares hybrid placement and is available."""
    from localv4.serve.engines.base import Capabilities

    hybrid_capable = [b.name for b in registry.BACKENDS.values() if b.capabilities.hybrid]
    assert hybrid_capable == ["llama-server", "xllamacpp"]
    plan = _fake_plan(placement="hybrid")
    for backend in registry.BACKENDS.values():
        monkeypatch.setattr(type(backend), "unavailable", lambda self, p: None)
    assert policy.choose_backend(plan, None) == "llama-server"
    llama_server = registry.get("llama-server")
    monkeypatch.setattr(type(llama_server), "unavailable", lambda self, p: "no llama-server here: run it")
    assert policy.choose_backend(plan, None) == "xllamacpp"  # the prebuilt engine places it too
    monkeypatch.setattr(type(registry.get("xllamacpp")), "unavailable", lambda self, p: "no wheel here")
    with pytest.raises(RuntimeFailure, match="^no llama-server here: run it.$"):
        policy.choose_backend(plan, None)  # llama-cpp-python cannot place it, so it is not a way out
    monkeypatch.setattr(type(registry.get("llama-cpp-python")), "capabilities",
                        Capabilities(formats=frozenset({"gguf"}), hybrid=True))
    assert policy.choose_backend(plan, None) == "llama-cpp-python"  # declared, so chosen


def test_asked_backends_are_checked_against_format_and_placement() -> None:
    with pytest.raises(UsageError, match="backend mlx cannot serve GGUF variant"):
        policy.choose_backend(_fake_plan(), "mlx")
    with pytest.raises(RuntimeFailure, match="which llama-cpp-python cannot do: use --backend llama-server"):
        policy.choose_backend(_fake_plan(placement="hybrid"), "llama-cpp-python")
    with pytest.raises(UsageError, match="unknown backend 'vllm': use one of llama-server, xllamacpp, llama-cpp-python, mlx"):
        policy.parse_backend("vllm")


def test_the_running_record_keeps_the_plans_estimate() -> None:
    plan = _fake_plan()
    record = ServerState(pid=1, create_time=0.0, backend="llama-server", plan=plan, host="127.0.0.1", port=8484,
                         log="l", started_at=0.0)
    assert record.speed_estimate == (round(plan.speed.low, 1), round(plan.speed.high, 1))
    unestimated = dataclasses.replace(plan, speed=SpeedEstimate(0.0, 0.0, "none"))
    assert dataclasses.replace(record, plan=unestimated).speed_estimate is None


def _fake_plan(**changes):
    """The real planner's plan for the Gemma test recipe on a recorded 24 GB CPU machine."""
    from support.machines import machine

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    from localv4.planning import machine as planner
    from localv4.recipes import parse_recipe

    recipe = parse_recipe(Path("gemma-test.toml"), tomllib.loads(recipe_text()))
    return dataclasses.replace(planner.plan(machine("cpu-only-24gb"), recipe, variant=recipe.variant(VARIANT)), **changes)
