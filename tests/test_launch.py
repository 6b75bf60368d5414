"""`localv4 launch AGENT`: the checks before anything runs, `--config`, the MLX refusal, and each
real agent (installed by .ci/run) run non-interactively against the tiny V4 on llama-server; `launch`
starting the endpoint itself runs on both llama.cpp engines (the native build, the prebuilt wheel).
The other agents stay on the native build: their replies end through `up -- --logit-bias`
(END_REPLY_BIAS), and the prebuilt engine takes no engine flags (xllamacpp 2026.10.11549 cannot set
one either: its `LlamaLogitBias` cannot be constructed from Python).

Each run asserts what the user gets: the agent exits 0, its requests reached the endpoint
(llama-server's /metrics counted the prompt), and it asked for no host beyond the endpoint (every
other request goes to a refusing proxy that records it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import run_cli
from support.tiny_v4 import SERVED
from support.tiny_v4_endpoint import (NATIVE, agent_home, agents_tiny_v4_server, call_home, llama_engine,  # noqa: F401
                                      metrics, on_both_engines, skip_without, tiny_v4_server,
                                      users_llama_server_dir)

AGENT_TIMEOUT_S = 900  # the tiny V4 reads a few hundred prompt tokens in a minute on a busy machine


def test_an_unknown_agent_is_one_line_and_exit_2():
    result = run_cli("launch", "cursor")
    assert result.returncode == 2
    assert result.stderr.strip() == "localv4: unknown agent 'cursor': use one of claude, codex, opencode, aider, llm."


def test_a_bad_reasoning_mode_is_refused_before_anything_starts():
    result = run_cli("launch", "llm", "--reasoning", "medium")
    assert result.returncode == 2 and "off, high, max" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_agent_gets_the_command_that_installs_it(tmp_path: Path):
    result = run_cli("launch", "opencode", env={"PATH": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.strip() == ("localv4: opencode is not installed (no `opencode` on PATH): "
                                     "`npm install -g opencode-ai`.")


def test_agents_that_call_tools_are_refused_on_an_engine_that_cannot_parse_them():
    from localv4.agents.launch import get_agent, refusal
    from localv4.serve.engines.registry import BACKENDS

    mlx = BACKENDS["mlx"].capabilities
    for name in ("claude", "codex", "opencode"):
        line = refusal(get_agent(name), "mlx", mlx)
        assert line and "tool calls need the llama.cpp engine" in line and "\n" not in line
    assert refusal(get_agent("aider"), "mlx", mlx) is None  # edits as text, no tool calls
    assert "Anthropic Messages" in refusal(get_agent("claude"), "llama-cpp-python",
                                           BACKENDS["llama-cpp-python"].capabilities.__class__(
                                               formats=frozenset({"gguf"}), tool_calls=True))
    assert refusal(get_agent("claude"), "llama-server", BACKENDS["llama-server"].capabilities) is None


def test_config_shows_where_the_key_is_never_the_key(tmp_path: Path):
    from localv4.agents.base import AgentTarget
    from localv4.agents.launch import Launch, describe, get_agent
    from localv4.serve.endpoint import Endpoint

    endpoint = Endpoint("10.1.2.3", 8484, "deepseek-v4-flash", "s3cret-key-value",
                        "/home/me/.local/state/localv4/api-key")
    target = AgentTarget(endpoint, 65536, "high")
    for name in ("claude", "codex", "opencode", "aider", "llm"):
        agent = get_agent(name)
        text = "\n".join(describe(Launch(agent, target, agent.setup(target, tmp_path), True)))
        assert "s3cret" not in text, name
        assert "read from /home/me/.local/state/localv4/api-key (not shown)" in text, name
        assert "http://10.1.2.3:8484" in text and "deepseek-v4-flash" in text, name


@pytest.mark.engine
def test_config_against_the_running_endpoint_and_nothing_written(tiny_v4_server, tmp_path: Path):
    result = run_cli("launch", "codex", "--config", "--", "exec", "hi")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Codex CLI -> {tiny_v4_server.base_url} (model {SERVED}, context 8,192 tokens")
    assert f'model_providers.localv4={{name = "localv4", base_url = "{tiny_v4_server.endpoint}"' in result.stdout
    assert "LOCALV4_API_KEY=<localv4 (a placeholder: this endpoint needs no key)>" in result.stdout
    assert lines[-1].endswith("exec hi")
    opencode = run_cli("launch", "opencode", "--config")
    assert "opencode.json (localv4's own; written before each launch)" in opencode.stdout
    assert not (Path(tiny_v4_server.log).parent.parent / "config" / "agents").exists()  # --config writes nothing


@dataclass
class AgentRun:
    """What a launched agent gave back, and the most requests `localv4 status` saw in flight."""

    returncode: int
    stdout: str
    stderr: str
    in_flight: int = 0


def _launch(tmp_path: Path, proxy, agent: str, *args: str, extra_env: dict[str, str] | None = None,
            watch_status: bool = False, options: tuple[str, ...] = ()) -> AgentRun:
    """`localv4 launch AGENT OPTIONS -- ARGS` in a fresh git project, as a user runs it; with
    `watch_status`, `localv4 status --json` is read every 2 s while it runs."""
    work = tmp_path / "project"
    work.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    env = {**os.environ, **agent_home(tmp_path), **proxy.env, **(extra_env or {})}
    child = subprocess.Popen([sys.executable, "-m", "localv4", "launch", agent, *options, "--", *args], cwd=work, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen, deadline = 0, time.monotonic() + AGENT_TIMEOUT_S
    try:
        while watch_status and child.poll() is None and time.monotonic() < deadline:
            status = json.loads(run_cli("status", "--json").stdout)
            seen = max(seen, status.get("requests_in_flight") or 0)
            time.sleep(2)
        stdout, stderr = child.communicate(timeout=max(1, deadline - time.monotonic()))
    finally:
        if child.poll() is None:
            child.kill()
    return AgentRun(child.returncode, stdout, stderr, seen)


def _needs(program: str):
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (.ci/run installs it)")


def _ran_against(server, before: dict[str, float], result, proxy, at_least_prompt: int,
                 allowed_hosts: frozenset[str] = frozenset()) -> None:
    """The agent exited 0, its requests reached the endpoint (llama-server's own counters), and it
    asked for no host beyond the endpoint except `allowed_hosts`."""
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-2000:])
    after = metrics(server)
    assert after["prompt_tokens_total"] - before.get("prompt_tokens_total", 0) >= at_least_prompt
    assert after["tokens_predicted_total"] > before.get("tokens_predicted_total", 0)
    assert set(proxy.hosts) <= allowed_hosts, proxy.hosts


@pytest.mark.engine
@pytest.mark.slow
def test_llm_runs_a_one_line_task(agents_tiny_v4_server, call_home, tmp_path: Path):
    _needs("llm")
    before = metrics(agents_tiny_v4_server)
    result = _launch(tmp_path, call_home, "llm", "Say hi.")
    _ran_against(agents_tiny_v4_server, before, result, call_home, at_least_prompt=3)


@pytest.mark.engine
@pytest.mark.slow
@on_both_engines
def test_launch_with_nothing_running_starts_the_endpoint_as_up_would(tiny_v4_hub_root, isolated_home, call_home,
                                                                     tmp_path: Path, monkeypatch, llama_engine):
    """No engine runs: `launch llm --variant V` pulls and serves V (as `up --variant V` would), then
    runs llm against it; asking for another model while it serves is one line, exit 1. With the
    native build on PATH it serves on that; with none, on the prebuilt engine."""
    from localv4.paths import user_recipes_dir
    from localv4.serve.state import read_state
    from support.cli_output import one_line_error
    from support.gemma_serving import path_without_llama_server
    from support.hubserver import FakeHub
    from support.tiny_v4 import RECIPE_ID, VARIANT, recipe_text

    _needs("llm")
    folder = users_llama_server_dir()
    if llama_engine != NATIVE:
        monkeypatch.setenv("PATH", path_without_llama_server())
    elif folder is not None:  # the setup job's build, found on PATH as a user's own would be
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    skip_without(llama_engine)
    gguf = next(tiny_v4_hub_root.rglob("*.gguf"))
    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{RECIPE_ID}.toml").write_text(recipe_text(gguf.stat().st_size))
    with FakeHub(tiny_v4_hub_root) as hub:
        result = _launch(tmp_path, call_home, "llm", "-o", "max_tokens", "4", "Say hi.",
                         options=("--variant", f"{RECIPE_ID}:{VARIANT}"), extra_env={"HF_ENDPOINT": hub.endpoint})
    try:
        server = read_state()
        assert server is not None and server.variant == f"{RECIPE_ID}:{VARIANT}", result.stderr[-2000:]
        assert server.backend == llama_engine
        _ran_against(server, {}, result, call_home, at_least_prompt=3)
        other = run_cli("launch", "llm", "--model", "deepseek-v4-flash", "--config")
        assert other.returncode == 1
        assert one_line_error(other) == (f"localv4: the endpoint already serves {RECIPE_ID}:{VARIANT}: `localv4 down` "
                                         "first, or launch without --model/--variant to use it.")
    finally:
        run_cli("down")


@pytest.mark.engine
@pytest.mark.slow
def test_aider_runs_a_one_line_task(agents_tiny_v4_server, call_home, tmp_path: Path):
    _needs("aider")
    before = metrics(agents_tiny_v4_server)
    result = _launch(tmp_path, call_home, "aider", "--message", "Say hi.", "--yes-always", "--no-git",
                     "--no-stream", "--map-tokens", "0", "--no-pretty")
    _ran_against(agents_tiny_v4_server, before, result, call_home, at_least_prompt=100)


@pytest.mark.engine
@pytest.mark.slow
def test_claude_code_runs_a_one_line_task(agents_tiny_v4_server, call_home, tmp_path: Path):
    """Claude Code's full system prompt and tool list are ~19k tokens (measured: a 76 KB request),
    a quarter of an hour for the tiny model on this machine: the run drops both, with the agent's
    own options; the wiring under test (Anthropic Messages at /v1/messages) is the same."""
    _needs("claude")
    before = metrics(agents_tiny_v4_server)
    result = _launch(tmp_path, call_home, "claude", "-p", "Say hi.", "--tools", "", "--system-prompt", "Be brief.")
    _ran_against(agents_tiny_v4_server, before, result, call_home, at_least_prompt=30)


@pytest.mark.engine
@pytest.mark.slow
def test_codex_runs_a_one_line_task_through_the_responses_api_and_status_sees_it(agents_tiny_v4_server, call_home, tmp_path: Path):
    """Codex's base instructions make its first request 17,068 tokens of the tiny model's
    byte-level vocabulary (measured), over ten minutes to read here: the run replaces them with a
    one-line file (Codex's own `model_instructions_file`), which leaves ~6.9k tokens (its tools and
    environment), read in about a minute and a half."""
    _needs("codex")
    instructions = tmp_path / "instructions.md"
    instructions.write_text("Be brief.\n")
    before = metrics(agents_tiny_v4_server)
    result = _launch(tmp_path, call_home, "codex", "exec", "--skip-git-repo-check", "--sandbox", "read-only",
                     "-c", f"model_instructions_file={json.dumps(str(instructions))}", "Say hi.", watch_status=True)
    output = result.stdout + result.stderr
    assert f"model: {SERVED}" in output and "provider: localv4" in output
    _ran_against(agents_tiny_v4_server, before, result, call_home, at_least_prompt=1000)
    assert result.in_flight >= 1  # `localv4 status` showed the agent's request while the engine read it


@pytest.mark.engine
@pytest.mark.slow
def test_opencode_runs_a_one_line_task(agents_tiny_v4_server, call_home, tmp_path: Path):
    """opencode's first request is ~20k tokens (its build agent's prompt and tools; measured), more
    than the test context, and then it compacts and retries without end: the run gives its build
    agent a one-line prompt and no tools (its own OPENCODE_CONFIG_CONTENT, merged over localv4's
    file). opencode asks registry.npmjs.org for packages at every start despite its documented
    switches (OPENCODE_DISABLE_AUTOUPDATE, _MODELS_FETCH, _DEFAULT_PLUGINS, _LSP_DOWNLOAD): that
    is the one host it asks for, refused here, and it works without it."""
    _needs("opencode")
    trimmed = {"agent": {"build": {"prompt": "Be brief.", "tools": {"*": False}}}}
    before = metrics(agents_tiny_v4_server)
    result = _launch(tmp_path, call_home, "opencode", "run", "Say hi.",
                     extra_env={"OPENCODE_CONFIG_CONTENT": json.dumps(trimmed)})
    _ran_against(agents_tiny_v4_server, before, result, call_home, at_least_prompt=10,
                 allowed_hosts=frozenset({"registry.npmjs.org:443"}))
