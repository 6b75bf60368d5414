"""The serving stage's parts that need no engine: ports, state, log diagnosis, command lines, CLI input."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from localv4 import net
from localv4.errors import RuntimeFailure, UsageError
from localv4.serve import logs, ports, client_examples, state
from localv4.serve.endpoint import Endpoint
from localv4.serve.engines import llama_server as engine_llama_server
from localv4.serve.engines import policy as engines
from localv4.serve.engines.base import EngineInputs
from support.records import stand_in_record

# ---------------------------------------------------------------- ports


def test_default_port_collides_with_no_common_local_llm_tool():
    assert ports.DEFAULT_PORT not in (8080, 11434, 1234, 3000, 8000)
    assert ports.parse_port(None) == ports.DEFAULT_PORT


@pytest.mark.parametrize("text", ["0", "65536", "http", "-1", "80.5", ""])
def test_a_port_that_is_not_a_port_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--port must be a number from 1 to 65535"):
        ports.parse_port(text)


def test_auto_picks_a_free_port():
    assert ports.parse_port("auto") is None
    chosen = ports.choose_port("127.0.0.1", None)
    assert ports.is_free("127.0.0.1", chosen)


def test_a_busy_port_names_the_program_holding_it():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert not ports.is_free("127.0.0.1", port)
        with pytest.raises(RuntimeFailure) as busy:
            ports.choose_port("127.0.0.1", port)
    assert f"(pid {os.getpid()})" in str(busy.value) and "--port auto" in str(busy.value)


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                            ("0.0.0.0", False), ("192.168.1.5", False)])
def test_only_loopback_hosts_go_without_a_key(host, loopback):
    assert net.is_loopback(host) is loopback
    assert net.on_loopback(host) is (loopback or host == "0.0.0.0")  # a wildcard bind answers there too


# ---------------------------------------------------------------- state


def _server(**changes) -> state.ServerState:
    return stand_in_record(**changes)


def test_state_round_trips_and_is_replaced_whole():
    server = _server(engine_args=("--threads", "8"), api_key_file="/x/api-key", ready_at=3.0)
    state.write_state(server)
    assert state.read_state() == server
    assert [p.name for p in state.state_path().parent.iterdir() if p.name.endswith(".tmp")] == []
    assert json.loads(state.state_path().read_text())["port"] == 8484
    state.clear_state()
    assert state.read_state() is None


def test_the_record_reads_what_it_serves_from_its_plan():
    server = _server()
    assert (server.model_id, server.variant, server.context, server.placement, server.engine) == (
        "deepseek-v4-flash", "deepseek-v4-flash:UD-Q2_K_XL", 65536, "gpu", "llama.cpp")
    assert server.speed_estimate == (12.3, 23.4) and server.workers == ()
    shown = server.to_dict()
    assert shown["plan"] == server.plan.to_dict() and shown["model_id"] == "deepseek-v4-flash"
    assert list(shown) == ["pid", "create_time", "backend", "engine", "model_id", "variant", "context",
                           "placement", "host", "port", "log", "started_at", "ready_at", "api_key_file",
                           "foreground", "plan", "health_path", "draft", "reasoning", "engine_args"]


def test_a_record_whose_plan_cannot_be_read_back_is_damaged():
    """An older localv4 kept the plan's public form only: that record cannot say what it serves."""
    record = {**_server().to_record(), "plan": _server().plan.to_dict()}
    state.ensure_state_dir()
    state.state_path().write_text(json.dumps(record))
    with pytest.raises(state.StateDamaged, match="not a server record"):
        state.read_state()


def test_a_damaged_state_file_is_one_clear_line():
    state.ensure_state_dir()
    state.state_path().write_text("{not json")
    with pytest.raises(state.StateDamaged, match="server state file .* is damaged"):
        state.read_state()


def test_api_key_is_random_private_and_kept():
    path = state.ensure_api_key()
    key = state.read_key_file(path)
    assert key and len(key) >= 32 and path.stat().st_mode & 0o777 == 0o600
    assert state.ensure_api_key() == path and state.read_key_file(path) == key


def test_endpoint_of_a_wildcard_bind_is_reached_via_loopback():
    assert _server(host="0.0.0.0").endpoint == "http://127.0.0.1:8484/v1"
    assert _server(host="::1").endpoint == "http://[::1]:8484/v1"
    assert _server(host="::").base_url == "http://127.0.0.1:8484"


def test_the_endpoint_carries_its_key_in_the_header_only(tmp_path):
    key_file = tmp_path / "api-key"
    key_file.write_text("sekrit-value\n")
    endpoint = state.endpoint_of(_server(host="0.0.0.0", api_key_file=str(key_file)))
    assert endpoint.headers == {"Authorization": "Bearer sekrit-value"} and endpoint.key_file == str(key_file)
    assert endpoint.host == "0.0.0.0" and endpoint.v1_url == "http://127.0.0.1:8484/v1"
    assert "sekrit-value" not in repr(endpoint) and endpoint.model_id == "deepseek-v4-flash"
    assert state.endpoint_of(_server()).headers == {}


@pytest.mark.parametrize("url, v1_url", [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"), ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
    ("https://example.com/api/v1", "https://example.com/api/v1"), ("http://[::1]:9000", "http://[::1]:9000/v1")])
def test_a_url_a_user_gives_is_one_endpoint(url, v1_url):
    endpoint = Endpoint.at(url, "m", "k")
    assert (endpoint.v1_url, endpoint.model_id, endpoint.headers) == (v1_url, "m", {"Authorization": "Bearer k"})


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://host/v1", "http://host:port", "http://"])
def test_a_url_that_is_not_http_is_a_usage_error(url):
    with pytest.raises(UsageError, match="is not an http:// or https:// URL"):
        Endpoint.at(url)


def test_snippets_name_the_endpoint_and_model_but_never_the_key(tmp_path):
    key_file = tmp_path / "api-key"
    key_file.write_text("sekrit-value")
    server = _server(api_key_file=str(key_file))
    for text in (client_examples.curl(server.address), client_examples.openai_sdk(server.address)):
        assert server.endpoint in text and "deepseek-v4-flash" in text
        assert str(key_file) in text and "sekrit-value" not in text
    assert 'api_key="not-needed"' in client_examples.openai_sdk(_server().address)


# ---------------------------------------------------------------- log diagnosis (recorded engine lines)

UNKNOWN_ARCH = [
    "llama_model_loader: - kv   0:                       general.architecture str              = deepseek4",
    "llama_model_load: error loading model: error loading model architecture: unknown model architecture: 'deepseek4'",
    "llama_model_load_from_file_impl: failed to load model",
]
OOM = [
    "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 81920.00 MiB on device 0: cudaMalloc failed: out of memory",
    "alloc_tensor_range: failed to allocate CUDA0 buffer of size 85899345920",
    "llama_model_load: error loading model: unable to allocate CUDA0 buffer",
]
MISSING = ["gguf_init_from_file: failed to open GGUF file '/m/x.gguf' (No such file or directory)",
           "llama_model_load_from_file_impl: failed to load model"]
CORRUPT = ["gguf_init_from_file_impl: invalid magic characters: 'abcd', expected 'GGUF'",
           "llama_model_load: error loading model: llama_model_loader: failed to load model from /m/x.gguf"]


@pytest.mark.parametrize("lines, words", [
    (UNKNOWN_ARCH, "engine is too old"), (OOM, "out of memory"),
    (MISSING, "missing"), (CORRUPT, "damaged or incomplete"),
    (["Model type deepseek_v4 not supported."], "too old"),
    (["loading..."], "see the engine log"),
])
def test_a_failed_load_is_explained_in_words(lines, words):
    assert words in logs.failure_cause(lines, 1)


def test_a_kill_by_the_os_reads_as_out_of_memory():
    assert "out of memory" in logs.failure_cause(["load_tensors: loading model tensors"], -9)


def test_log_tail_drops_progress_dots_and_carriage_returns(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("first\n.......\r\nload_tensors: CPU model buffer\n\nlast line\n")
    assert logs.tail(log, 2) == ["load_tensors: CPU model buffer", "last line"]
    assert logs.phase(logs.tail(log, 5)) == "loading the weights"
    assert logs.tail(tmp_path / "none.log") == []


# ---------------------------------------------------------------- engine command lines


def _binary(tmp_path: Path, *flags: str):
    from localv4.install.locate import LlamaServerBinary

    return LlamaServerBinary(path=tmp_path / "llama-server", version="0.5.0-dev (build 1, commit 0c1e570)",
                             build=1, commit="0c1e570", flavour="cuda", devices=(), flags=frozenset(flags))


CURRENT = ("--fit", "--fit-target", "--jinja", "--reasoning", "--reasoning-effort", "--api-key-file",
           "--n-cpu-moe", "--alias")


def _inputs(plan, tmp_path, **changes) -> EngineInputs:
    values = dict(plan=plan, model_path=tmp_path / "m-00001-of-00003.gguf", host="127.0.0.1", port=8484,
                  api_key_file=None, reasoning=None)
    return EngineInputs(**{**values, **changes})


def _flag(argv: tuple[str, ...], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_llama_server_full_gpu_plan_lets_fit_place_layers_with_a_margin(gemma_plan, tmp_path):
    plan = dataclasses.replace(gemma_plan, placement="gpu")
    argv = engine_llama_server.command_for(_binary(tmp_path, *CURRENT), _inputs(plan, tmp_path)).argv
    assert _flag(argv, "-m").endswith("-00001-of-00003.gguf") and _flag(argv, "-c") == str(plan.context)
    assert _flag(argv, "--fit") == "on" and _flag(argv, "--fit-target") == "1024"
    assert "-ngl" not in argv and "--n-cpu-moe" not in argv
    assert _flag(argv, "--alias") == "gemma-test" and "--jinja" in argv
    assert _flag(argv, "--temp") == "1.0" and _flag(argv, "--top-p") == "0.95"
    assert _flag(argv, "--host") == "127.0.0.1" and _flag(argv, "--port") == "8484"


def test_llama_server_hybrid_plan_places_experts_explicitly(gemma_plan, tmp_path):
    plan = dataclasses.replace(gemma_plan, placement="hybrid", n_cpu_moe=31)
    argv = engine_llama_server.command_for(_binary(tmp_path, *CURRENT), _inputs(plan, tmp_path)).argv
    assert _flag(argv, "-ngl") == "999" and _flag(argv, "--n-cpu-moe") == "31" and "--fit" not in argv


def test_llama_server_hybrid_plan_with_a_dspark_draft_places_the_drafts_experts_too(tmp_path):
    """--fit off (the draft needs it): the model's and the draft's layers are all placed by the plan."""
    from localv4.planning import machine as planner
    from localv4.recipes import load_catalog
    from support.machines import machine

    plan = planner.plan(machine("rtx5090-192gb"), load_catalog().recipe("deepseek-v4-flash-0731"))
    assert plan.placement == "hybrid" and plan.draft is not None
    flags = (*CURRENT, "--spec-type", "-md", "--spec-draft-n-max", "--spec-draft-n-cpu-moe")
    draft = tmp_path / "DSpark.gguf"
    argv = engine_llama_server.command_for(_binary(tmp_path, *flags), _inputs(plan, tmp_path, draft_path=draft)).argv
    assert _flag(argv, "-ngl") == "999" and _flag(argv, "--n-cpu-moe") == str(plan.n_cpu_moe)
    assert _flag(argv, "--spec-type") == "draft-dspark" and _flag(argv, "-md") == str(draft)
    assert _flag(argv, "--fit") == "off" and _flag(argv, "-ngld") == "999"
    assert _flag(argv, "--spec-draft-n-cpu-moe") == str(plan.draft.layers)
    with pytest.raises(RuntimeFailure, match="has no --spec-draft-n-cpu-moe"):
        engine_llama_server.command_for(_binary(tmp_path, *flags[:-1]), _inputs(plan, tmp_path, draft_path=draft))
    assert "--spec-draft-type-k" not in argv  # f16, llama-server's default for both
    q8 = dataclasses.replace(plan, kv_type="q8_0")  # the draft's KV is budgeted at the plan's type
    argv = engine_llama_server.command_for(_binary(tmp_path, *flags, "--spec-draft-type-k"),
                                           _inputs(q8, tmp_path, draft_path=draft)).argv
    assert _flag(argv, "-ctk") == _flag(argv, "--spec-draft-type-k") == _flag(argv, "--spec-draft-type-v") == "q8_0"


def test_the_previews_mtp_head_is_served_with_draft_mtp_and_fit_still_places_the_layers(tmp_path):
    """The preview's MTP head (llama.cpp PR #25784: --spec-type draft-mtp) needs no --fit off: on a
    GPU plan llama-server's fit keeps placing the layers, with the head beside them."""
    from localv4.planning import machine as planner
    from localv4.recipes import load_catalog
    from support.machines import machine

    plan = planner.plan(machine("h200-141gb"), load_catalog().recipe("deepseek-v4-flash"))
    assert plan.placement == "gpu" and plan.draft is not None and plan.draft.kind == "mtp"
    flags = (*CURRENT, "--spec-type", "-md", "--spec-draft-n-max")
    head = tmp_path / "mtp-DeepSeek-V4-Flash.gguf"
    argv = engine_llama_server.command_for(_binary(tmp_path, *flags), _inputs(plan, tmp_path, draft_path=head)).argv
    assert _flag(argv, "--spec-type") == "draft-mtp" and _flag(argv, "-md") == str(head)
    assert _flag(argv, "--spec-draft-n-max") == "3" and _flag(argv, "--fit") == "on" and "-ngld" not in argv
    with pytest.raises(RuntimeFailure, match="has no --spec-type"):
        engine_llama_server.command_for(_binary(tmp_path, *CURRENT), _inputs(plan, tmp_path, draft_path=head))


def test_two_gpus_with_a_dspark_draft_split_the_layers_by_the_plans_budgets(tmp_path):
    """--fit off places nothing by itself: over two GPUs the plan gives each its share."""
    from localv4.planning import machine as planner
    from localv4.recipes import load_catalog
    from support.machines import machine

    recipe = load_catalog().recipe("deepseek-v4-flash-0731")
    plan = planner.plan(machine("2x-h100-80gb"), recipe, variant=recipe.variant("UD-Q4_K_XL"))
    assert plan.placement == "gpu" and plan.draft is not None and len(plan.gpu_split) == 2
    flags = (*CURRENT, "--spec-type", "-md", "--spec-draft-n-max")
    argv = engine_llama_server.command_for(
        _binary(tmp_path, *flags), _inputs(plan, tmp_path, draft_path=tmp_path / "DSpark.gguf")).argv
    assert _flag(argv, "-ngl") == "999" and _flag(argv, "--fit") == "off"
    assert _flag(argv, "--tensor-split") == ",".join(map(str, plan.gpu_split))
    first, second = plan.gpu_split  # MiB each card has free less the 1 GiB margin: two alike cards
    assert first == pytest.approx(second, rel=0.01) and min(first, second) > 75 * 1024
    without = planner.plan(machine("2x-h100-80gb"), recipe, variant=recipe.variant("UD-Q4_K_XL"), speculative=False)
    argv = engine_llama_server.command_for(_binary(tmp_path, *flags), _inputs(without, tmp_path)).argv
    assert _flag(argv, "--fit") == "on" and "--tensor-split" not in argv  # --fit places them itself


def test_llama_server_without_expert_offload_refuses_a_hybrid_plan(gemma_plan, tmp_path):
    plan = dataclasses.replace(gemma_plan, placement="hybrid", n_cpu_moe=31)
    with pytest.raises(RuntimeFailure, match="has no --n-cpu-moe .*`localv4 install`"):
        engine_llama_server.command_for(_binary(tmp_path, "--jinja"), _inputs(plan, tmp_path))


def test_llama_server_key_goes_by_file_and_reasoning_by_flags(gemma_plan, tmp_path):
    key_file = tmp_path / "api-key"
    inputs = _inputs(gemma_plan, tmp_path, api_key_file=key_file, reasoning="max")
    argv = engine_llama_server.command_for(_binary(tmp_path, *CURRENT), inputs).argv
    assert _flag(argv, "--api-key-file") == str(key_file) and "--api-key" not in argv
    assert _flag(argv, "--reasoning") == "on" and _flag(argv, "--reasoning-effort") == "max"
    off = engine_llama_server.command_for(_binary(tmp_path, *CURRENT), _inputs(gemma_plan, tmp_path, reasoning="off"))
    assert _flag(off.argv, "--reasoning") == "off" and "--reasoning-effort" not in off.argv
    with pytest.raises(RuntimeFailure, match="has no --api-key-file"):
        engine_llama_server.command_for(_binary(tmp_path, "--jinja"), inputs)


def test_llama_cpp_python_cannot_serve_a_hybrid_plan(gemma_plan):
    hybrid = dataclasses.replace(gemma_plan, placement="hybrid", n_cpu_moe=4)
    with pytest.raises(RuntimeFailure, match="cannot do: use --backend llama-server"):
        engines.choose_backend(hybrid, "llama-cpp-python")


def test_llama_cpp_python_keeps_no_logits_per_context_position(gemma_plan, tmp_path):
    """Its server's default keeps context x vocabulary float32 logits, which no plan budgets."""
    argv = engines.build_command("llama-cpp-python", _inputs(gemma_plan, tmp_path)).argv
    server = argv[argv.index("--") + 1:]
    assert _flag(server, "--logits_all") == "false"


def test_llama_cpp_python_command_keeps_the_key_off_argv(gemma_plan, tmp_path):
    key_file = tmp_path / "api-key"
    command = engines.build_command("llama-cpp-python", _inputs(gemma_plan, tmp_path, api_key_file=key_file))
    argv = command.argv
    server = argv[argv.index("--") + 1:]
    assert _flag(server, "--model_alias") == "gemma-test" and _flag(server, "--n_ctx") == str(gemma_plan.context)
    assert _flag(server, "--n_gpu_layers") == "0"  # a CPU plan
    assert _flag(argv, "--api-key-file") == str(key_file) and "--api_key" not in argv


def test_mlx_model_type_chooses_the_server(tmp_path):
    pytest.importorskip("mlx_lm", reason="needs mlx-lm (the test extra), whose model list is asked")
    from localv4.serve.engines import mlx as engine_mlx

    assert engine_mlx.server_for("llama") == "mlx_lm"
    assert engine_mlx.server_for("mistral") == "mlx_lm"  # via mlx-lm's own remapping
    with pytest.raises(RuntimeFailure, match="model_type"):
        engine_mlx.model_type(tmp_path)


def test_recipe_sampling_becomes_llama_cpp_python_request_defaults():
    pytest.importorskip("llama_cpp.server.app")
    from llama_cpp.server.types import CreateChatCompletionRequest

    from localv4.serve.engines.llama_cpp_python_launch import set_sampling_defaults

    before = CreateChatCompletionRequest.model_fields["temperature"].default
    set_sampling_defaults(1.0, 0.95)
    try:
        request = CreateChatCompletionRequest(messages=[{"role": "user", "content": "x"}])
        assert (request.temperature, request.top_p) == (1.0, 0.95)
        assert CreateChatCompletionRequest(messages=[], temperature=0.2).temperature == 0.2
    finally:
        set_sampling_defaults(before, CreateChatCompletionRequest.model_fields["top_p"].default)


# ---------------------------------------------------------------- CLI: bad input, nothing running


@pytest.mark.parametrize("args, words", [
    (["up", "--port", "70000"], "--port must be a number"),
    (["up", "--port", "http"], "--port must be a number"),
    (["up", "--backend", "vllm"], "unknown backend 'vllm'"),
    (["up", "--variant", "UD-Q9_NOPE"], "unknown variant 'UD-Q9_NOPE'"),
    (["up", "--ctx", "5"], "out of range"),
    (["up", "--ctx", "lots"], "is not a token count"),
])
def test_bad_input_is_one_line_and_exit_2(args, words):
    done = run_cli(*args)
    assert done.returncode == 2, done.stderr
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_status_down_and_logs_with_nothing_running():
    shown = run_cli("status", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["state"] == "stopped"
    assert "stopped" in run_cli("status").stdout
    assert run_cli("down").stdout.strip() == "Nothing is running."
    assert "No engine log yet" in run_cli("logs").stdout


def test_llama_cpp_python_missing_names_the_install_for_this_python(gemma_plan, monkeypatch):
    """localv4 is not on PyPI: the fix installs the pinned bindings where localv4 runs (fixes.py)."""
    from localv4.fixes import pip_install
    from localv4.pins import PYTHON_ENGINE_REQUIREMENT

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # Python's own "cannot be imported"
    with pytest.raises(RuntimeFailure) as missing:
        engines.choose_backend(gemma_plan, "llama-cpp-python")
    assert f"`{pip_install(PYTHON_ENGINE_REQUIREMENT)}`" in str(missing.value)
    assert "localv4[" not in str(missing.value)
