"""The prebuilt llama.cpp engine (xllamacpp's wheel, the `test` extra): its command, its policy, and
a real engine through `localv4 up`.

Without an engine: every llama-server flag localv4 sets is read back from the `CommonParams` the
launcher makes (one command builder for both llama.cpp programs); the policy refuses what the
wheel cannot do with the way out; `up` offers the wheel first only where it can serve the plan.
With an engine (few starts: each costs seconds here): Gemma 3 through the CLI with a key, all
three chat APIs, status, bench, logs, down; a damaged GGUF explained; the tiny V4 0731's greedy
output with and without its DSpark draft, and against the native llama-server's, up to the first
near-tie (tests/test_serve_speculative.py says why); its reasoning modes and tools rendered by the
real template as the native server renders them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import httpx
import psutil
import pytest

from localv4.errors import RuntimeFailure
from localv4.serve.engines import policy, registry
from localv4.serve.engines.base import EngineInputs
from localv4.serve.engines.xllamacpp import Xllamacpp, command_for
from localv4.serve.state import read_state
from support.gemma_recipe import RECIPE_ID, SERVED, VARIANT
from support.gemma_serving import cmdline
from support.process_support import alive, tree_pids

x = pytest.importorskip("xllamacpp", reason="the test extra installs xllamacpp (localv4.pins.XLLAMACPP_REQUIREMENT)")

from localv4.install.prebuilt import PrebuiltEngine, find_prebuilt, wheel_flavour  # noqa: E402
from localv4.serve.engines import xllamacpp_launch  # noqa: E402


def _inputs(plan, tmp_path: Path, **changes) -> EngineInputs:
    values = dict(plan=plan, model_path=tmp_path / "m.gguf", host="127.0.0.1", port=8484,
                  api_key_file=None, reasoning=None)
    return EngineInputs(**{**values, **changes})


def _params(plan, tmp_path: Path, **changes):
    argv = command_for(PrebuiltEngine("v", "cpu", tmp_path / "site"), _inputs(plan, tmp_path, **changes)).argv
    assert argv[argv.index("--site") + 1] == str(tmp_path / "site")
    return xllamacpp_launch.params_from(list(argv[argv.index("--") + 1:])), argv


# ---------------------------------------------------------------- the command, read back


def test_the_launcher_sets_what_llama_server_would_for_a_cpu_plan(gemma_plan, tmp_path):
    key = tmp_path / "api-key"
    key.write_text("sekrit-value\n")
    params, argv = _params(gemma_plan, tmp_path, api_key_file=key, host="0.0.0.0")
    assert "sekrit-value" not in " ".join(argv)  # the key goes by file, read in the engine process
    assert params.api_keys == ["sekrit-value"]
    assert params.model.path == str(tmp_path / "m.gguf") and params.n_ctx == gemma_plan.context
    assert params.hostnames == ["0.0.0.0"] and params.port == 8484 and params.model_alias == {SERVED}
    assert params.sampling.temp == 1.0 and params.sampling.top_p == pytest.approx(0.95)
    assert params.n_gpu_layers == 0 and params.n_parallel == 1 and not params.fit_params
    assert params.no_extra_bufts is not gemma_plan.cpu_extra_buffers  # --no-repack where the plan says
    assert _params(dataclasses.replace(gemma_plan, cpu_extra_buffers=False), tmp_path)[0].no_extra_bufts
    assert params.use_jinja and params.endpoint_metrics  # tool calls, /v1/messages; counters
    assert params.default_template_kwargs == {"preserve_reasoning": "true"}  # as llama.cpp's parser leaves it


def test_the_launcher_places_experts_drafts_kv_and_reasoning_as_llama_server(tmp_path):
    """A hybrid V4 plan with its DSpark draft at q8_0: `--n-cpu-moe N` becomes the same N tensor
    overrides llama.cpp's own flag writes, for the model and for the draft."""
    from localv4.planning import machine as planner
    from localv4.recipes import load_catalog
    from support.machines import machine

    plan = planner.plan(machine("rtx5090-192gb"), load_catalog().recipe("deepseek-v4-flash-0731"))
    plan = dataclasses.replace(plan, kv_type="q8_0")
    assert plan.placement == "hybrid" and plan.draft is not None and plan.draft.kind == "dspark"
    params, _ = _params(plan, tmp_path, draft_path=tmp_path / "DSpark.gguf", reasoning="max")
    assert params.n_gpu_layers == 999 and not params.fit_params
    assert params.tensor_buft_overrides == xllamacpp_launch.expert_overrides(plan.n_cpu_moe)
    assert params.tensor_buft_overrides.count("=CPU") == plan.n_cpu_moe
    assert params.cache_type_k == params.cache_type_v == x.ggml_type.GGML_TYPE_Q8_0
    assert params.no_extra_bufts  # deepseek4: weights as loaded (--no-repack)
    draft = params.speculative.draft
    assert params.speculative.types == [x.common_speculative_type.COMMON_SPECULATIVE_TYPE_DRAFT_DSPARK]
    assert draft.mparams.path == str(tmp_path / "DSpark.gguf") and draft.n_max == 3 and draft.n_gpu_layers == 999
    assert draft.tensor_buft_overrides == xllamacpp_launch.expert_overrides(plan.draft_n_cpu_moe)
    assert draft.cache_type_k == draft.cache_type_v == x.ggml_type.GGML_TYPE_Q8_0
    assert params.enable_reasoning == 1 and params.default_template_kwargs == {
        "enable_thinking": "true", "reasoning_effort": '"max"', "preserve_reasoning": "true"}


def test_every_flag_the_launcher_takes_is_one_llama_server_has(native_server):
    """The names are llama-server's own: the native build's --help lists each."""
    from localv4.install.locate import probe_llama_server

    binary = probe_llama_server(native_server)
    assert {f for f in xllamacpp_launch.FLAGS if not binary.supports(f)} == set()


# ---------------------------------------------------------------- policy


def test_the_prebuilt_engine_is_found_in_this_interpreter_and_declares_no_pools(gemma_plan):
    engine = find_prebuilt()
    assert engine is not None and engine.site is None and engine.flavour == wheel_flavour()
    backend = registry.get("xllamacpp")
    assert list(registry.NAMES).index("xllamacpp") == list(registry.NAMES).index("llama-server") + 1
    assert not backend.capabilities.rpc and not backend.capabilities.engine_args
    assert backend.unavailable(gemma_plan) is None
    with pytest.raises(RuntimeFailure, match="pools machines over RPC, which xllamacpp cannot do"):
        policy.choose_backend(dataclasses.replace(gemma_plan, placement="pool"), "xllamacpp")


def test_the_cpu_wheel_refuses_a_gpu_plan_with_the_way_out(gemma_plan, monkeypatch):
    monkeypatch.setattr("localv4.serve.engines.xllamacpp.find", lambda: PrebuiltEngine("v", "cpu", None))
    said = Xllamacpp().unavailable(dataclasses.replace(gemma_plan, placement="hybrid"))
    assert "PyPI's CPU wheel" in said and "`localv4 install llama.cpp`" in said
    monkeypatch.setattr("localv4.serve.engines.xllamacpp.find", lambda: PrebuiltEngine("v", "metal", None))
    assert Xllamacpp().unavailable(dataclasses.replace(gemma_plan, placement="unified")) is None


@pytest.mark.parametrize("system, machine, flavour", [
    ("linux", "x86_64", "cpu"), ("linux", "aarch64", "cpu"), ("Windows", "AMD64", "cpu"),
    ("darwin", "arm64", "metal"), ("darwin", "x86_64", "cpu"), ("linux", "riscv64", None), ("freebsd", "amd64", None),
])
def test_pypi_wheels_by_platform(system, machine, flavour):
    """What PyPI lists for the pin (https://pypi.org/simple/xllamacpp/, cp310-abi3 wheels)."""
    assert wheel_flavour(system, machine) == flavour


def test_an_installed_engine_environment_comes_before_this_interpreters_copy(tmp_path):
    from localv4.install.prebuilt import MANIFEST, env_dir
    from localv4.pins import XLLAMACPP_VERSION

    site = env_dir() / "lib" / "site-packages"
    (site / "xllamacpp").mkdir(parents=True)
    (env_dir() / MANIFEST).write_text(json.dumps({"version": XLLAMACPP_VERSION, "flavour": "cpu",
                                                  "site": "lib/site-packages"}))
    assert find_prebuilt() == PrebuiltEngine(XLLAMACPP_VERSION, "cpu", site)


def test_doctor_names_the_engine_its_flavour_build_and_the_devices_it_sees():
    from localv4.doctor import check_prebuilt
    from localv4.hardware import detect

    check = check_prebuilt(detect())
    assert check.status == "ok" and check.detail.startswith("2026.10.11549 (llama.cpp b11549), cpu wheel")
    assert "sees CPU (" in check.detail and "the native build's tok/s" in check.detail


# ---------------------------------------------------------------- `up`'s offer


@pytest.fixture()
def no_cached_build(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALV4_BUILD_CACHE", str(tmp_path / "empty-cache"))


def test_up_offers_the_prebuilt_engine_first_where_pypi_has_a_wheel_for_the_plan(no_cached_build):
    from localv4.install.offer import engine_offer
    from localv4.pins import XLLAMACPP_REQUIREMENT
    from support.machines import machine

    offer = engine_offer(machine("cpu-only-24gb"))
    assert offer.prebuilt is not None and offer.prebuilt.flavour == "cpu"
    assert offer.command == "localv4 install xllamacpp"
    assert XLLAMACPP_REQUIREMENT in offer.question() and "localv4's own environment" in offer.question()
    assert offer.refusal().startswith("no llama.cpp engine here serves this model: run `localv4 install xllamacpp`")
    assert "`localv4 install llama.cpp` to build one" in offer.refusal()
    epyc = engine_offer(machine("epyc-9654-cpu-only"))
    assert epyc.prebuilt and "AVX-512" in epyc.kernels and "builds one with this CPU's AVX-512" in epyc.question()


@pytest.mark.parametrize("name, backend, pool", [
    ("cpu-only-24gb", "llama-server", False),  # the native server by name
    ("cpu-only-24gb", None, True),  # a pool needs rpc-server
    ("2x-h100-80gb", None, False),  # its driver (CUDA 12.4) is older than any CUDA wheel's
    ("mi300x-192gb", None, False),  # in no ROCm wheel's list, and no Vulkan driver runs it
    ("mac-studio-m3-ultra-512", None, False),  # Homebrew first, as before
])
def test_the_build_stays_the_offer_where_the_wheel_cannot_serve(no_cached_build, name, backend, pool):
    from localv4.install.offer import engine_offer
    from support.machines import machine

    offer = engine_offer(machine(name), backend, pool)
    assert offer.prebuilt is None and offer.command == "localv4 install llama.cpp"


@pytest.mark.parametrize("name, flavour", [("rtx5090-192gb", "cu128"), ("strix-halo-128gb", "vulkan")])
def test_up_offers_the_gpu_wheel_that_fits_the_driver(no_cached_build, name, flavour, monkeypatch):
    """No compiler needed on a GPU box either: the publisher's wheel for its GPU and driver (the
    ROCm runtime absent here, so the Strix Halo gets the Vulkan one); never tried here, only chosen."""
    from localv4.install import prebuilt
    from localv4.install.offer import engine_offer
    from support.machines import machine

    monkeypatch.setattr(prebuilt, "machine_glibc", lambda: (2, 39))  # the recorded machines' C library
    monkeypatch.setattr(prebuilt, "rocm_runtime", lambda: None)  # and no ROCm runtime installed
    offer = engine_offer(machine(name))
    assert offer.prebuilt is not None and offer.prebuilt.flavour == flavour and offer.kernels == ()
    assert offer.command == "localv4 install xllamacpp"
    assert f"the {flavour} wheel from https://xorbitsai.github.io/xllamacpp/whl/{flavour}" in offer.question()


# ---------------------------------------------------------------- a real engine


def _cli(*args: str, hub=None, **kwargs):
    from conftest import run_cli

    return run_cli(*args, env={"HF_ENDPOINT": hub.endpoint} if hub else None, **kwargs)


@pytest.mark.engine
def test_cli_up_serves_gemma_with_a_key_on_every_route_and_down_leaves_nothing(recipe_dir, fake_hub, no_engine_left):
    done = _cli("up", "--variant", f"{RECIPE_ID}:{VARIANT}", "--backend", "xllamacpp", "--host", "0.0.0.0",
                "--port", "auto", hub=fake_hub, timeout=600)
    assert done.returncode == 0, done.stderr
    server = read_state()
    assert server is not None and server.ready_at and server.backend == "xllamacpp"
    pids = tree_pids(server.pid)
    key = Path(server.api_key_file).read_text().strip()
    assert all(key not in " ".join(cmdline(psutil.Process(p))) for p in pids)
    base, auth = server.endpoint.removesuffix("/v1"), {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{base}/health", timeout=30).json() == {"status": "ok"}  # llama-server's own answer
    chat = {"model": SERVED, "max_tokens": 8, "messages": [{"role": "user", "content": "Say hello."}]}
    assert httpx.post(f"{server.endpoint}/chat/completions", json=chat, timeout=120).status_code == 401
    reply = httpx.post(f"{server.endpoint}/chat/completions", json=chat, headers=auth, timeout=120).json()
    assert reply["model"] == SERVED and reply["choices"][0]["message"]["role"] == "assistant"
    assert 0 < reply["usage"]["completion_tokens"] <= 8
    messages = httpx.post(f"{server.endpoint}/messages", json=chat, headers=auth, timeout=120).json()
    assert messages["type"] == "message" and messages["content"][0]["type"] == "text"
    responses = httpx.post(f"{server.endpoint}/responses", headers=auth, timeout=120,
                           json={"model": SERVED, "input": "Say hello.", "max_output_tokens": 8}).json()
    assert responses["object"] == "response" and responses["output"]

    shown = json.loads(_cli("status", "--json").stdout)
    assert shown["state"] == "running" and shown["backend"] == "xllamacpp" and shown["rss_bytes"] > 50 * 2**20
    bench = json.loads(_cli("bench", "--runs", "1", "--tokens", "4", "--json").stdout)
    assert bench["generation_tok_s"] > 0
    log = _cli("logs", "-n", "200").stdout
    assert "model loaded" in log and "sekrit" not in log and key not in log
    down = _cli("down")
    assert down.returncode == 0 and f"pid {server.pid}" in down.stdout
    assert alive(pids) == [] and read_state() is None


@pytest.mark.engine
def test_a_load_that_fails_is_explained_as_with_llama_server(gemma_plan, gemma_gguf, tmp_path, no_engine_left):
    from localv4.serve import api

    corrupt = tmp_path / gemma_gguf.name
    with open(gemma_gguf, "rb") as src:
        corrupt.write_bytes(src.read(4 * 1024 * 1024))  # the header of the real file, cut short
    with pytest.raises(api.EngineLoadFailed) as failed:
        api.up(gemma_plan, corrupt, api.ServeOptions(backend="xllamacpp", port="auto"))
    assert "damaged or incomplete" in str(failed.value) and "localv4 pull" in str(failed.value)
    assert api.status().state == "stopped" and read_state() is None


# ---------------------------------------------------------------- the tiny V4 0731: drafts, and the native engine

BODY = {"prompt": "The capital of France is", "n_predict": 24, "temperature": 0, "n_probs": 2, "cache_prompt": False}


def _greedy(plan, gguf: Path, backend: str, draft: Path | None = None) -> tuple[dict, str]:
    from localv4.serve import api

    server = api.up(plan, gguf, api.ServeOptions(backend=backend, port="auto"), draft=draft).server
    try:
        reply = httpx.post(f"{server.base_url}/completion", json=BODY, timeout=300).json()
    finally:
        api.down()
    return reply, Path(server.log).read_text()


@pytest.fixture(scope="module")
def tiny_v4_0731() -> tuple[Path, Path]:
    from support import tiny_v4

    return tiny_v4.tiny_v4_gguf_path("0731"), tiny_v4.tiny_v4_dspark_path()


@pytest.fixture()
def v4_plan(tiny_v4_0731):
    from localv4.flow import UpOptions, make_plan
    from localv4.paths import user_recipes_dir
    from support import tiny_v4

    gguf, draft = tiny_v4_0731
    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{tiny_v4.RECIPE_ID}.toml").write_text(
        tiny_v4.recipe_with_draft(gguf.stat().st_size, draft.stat().st_size))
    plan = make_plan(UpOptions(model=tiny_v4.RECIPE_ID, variant=tiny_v4.VARIANT, ctx=4096))
    assert plan.draft is not None and plan.placement == "cpu"
    return plan


@pytest.fixture(scope="module")
def prebuilt_replies() -> dict:
    """The prebuilt engine's replies, kept for the module: each start costs seconds."""
    return {}


@pytest.mark.engine
def test_the_tiny_v4_decodes_the_same_with_and_without_its_dspark_draft(
        v4_plan, tiny_v4_0731, prebuilt_replies, no_engine_left):
    from test_serve_speculative import _assert_same_greedy

    gguf, draft = tiny_v4_0731
    drafted, log = _greedy(v4_plan, gguf, "xllamacpp", draft)
    assert "draft acceptance" in log and drafted["timings"]["draft_n"] > 0  # the draft ran
    plain, _ = _greedy(dataclasses.replace(v4_plan, draft=None), gguf, "xllamacpp")
    prebuilt_replies["plain"] = plain
    _assert_same_greedy(drafted, plain)


@pytest.mark.engine
def test_the_tiny_v4_decodes_as_the_native_llama_server_does(
        v4_plan, tiny_v4_0731, prebuilt_replies, native_server, no_engine_left):
    """Two llama.cpp trees (b11549 and the pinned 0c1e570), one greedy answer up to the first near-tie."""
    from test_serve_speculative import _assert_same_greedy

    gguf, _ = tiny_v4_0731
    plan = dataclasses.replace(v4_plan, draft=None)
    prebuilt = prebuilt_replies.get("plain") or _greedy(plan, gguf, "xllamacpp")[0]
    native, _ = _greedy(plan, gguf, "llama-server")
    _assert_same_greedy(prebuilt, native)


@pytest.mark.engine
def test_reasoning_modes_and_tools_render_as_on_the_native_llama_server(v4_plan, tiny_v4_0731, native_server,
                                                                        no_engine_left):
    """The key of the launcher's template arguments (--reasoning, --reasoning-effort,
    preserve_reasoning) and --jinja: the real template renders the same prompt on both engines."""
    from localv4.serve import api
    from test_serve_tiny_v4 import USER, WEATHER

    gguf, _ = tiny_v4_0731
    plan = dataclasses.replace(v4_plan, draft=None)
    rendered: dict[tuple[str, str], list[str]] = {}
    for mode in ("off", "max"):
        for backend in ("xllamacpp", "llama-server"):
            server = api.up(plan, gguf, api.ServeOptions(backend=backend, port="auto", reasoning=mode)).server
            try:
                rendered[mode, backend] = [httpx.post(f"{server.base_url}/apply-template", timeout=60,
                                                      json={"messages": USER, **extra}).json()["prompt"]
                                           for extra in ({}, {"tools": [WEATHER]})]
            finally:
                api.down()
        assert rendered[mode, "xllamacpp"] == rendered[mode, "llama-server"]
    off, with_tools = rendered["off", "xllamacpp"]
    assert off.endswith("<｜Assistant｜></think>") and "## Tools" in with_tools
    assert "Reasoning Effort: " in rendered["max", "xllamacpp"][0] and "Reasoning Effort" not in off
