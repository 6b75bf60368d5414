"""DeepSeek V4's own architecture through the native llama-server, as a user runs it.

The tiny V4 GGUF (scripts/make_tiny_v4.py: `deepseek4`, the real chat template, random weights) is
pulled from a local fake hub by its test recipe and served with `localv4 up`: a greedy completion
comes back the same twice; the reasoning modes and tools change what the real template renders
(read back from the server's /apply-template); a hybrid plan's --n-cpu-moe puts the experts of
exactly that many layers in the CPU buffer; `down` leaves nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import run_cli
from localv4.paths import user_recipes_dir
from localv4.serve.state import read_state
from support.process_support import alive, tree_pids
from support import tiny_v4

pytestmark = pytest.mark.engine

VARIANT = f"{tiny_v4.RECIPE_ID}:{tiny_v4.VARIANT}"
USER = [{"role": "user", "content": "What is 2 + 2?"}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture()
def cli(no_engine_left, tiny_v4_hub_root: Path, native_server) -> Iterator:  # noqa: F811  (checked after `down`)
    """`localv4 ARGS` with the tiny V4 recipe installed and the fake hub holding its GGUF."""
    from support.hubserver import FakeHub

    gguf = next(tiny_v4_hub_root.rglob("*.gguf"))
    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{tiny_v4.RECIPE_ID}.toml").write_text(tiny_v4.recipe_text(gguf.stat().st_size))
    with FakeHub(tiny_v4_hub_root) as hub:

        def run(*args: str, **kwargs):
            return run_cli(*args, env={"HF_ENDPOINT": hub.endpoint, **kwargs.pop("env", {})}, timeout=600, **kwargs)

        yield run
        run("down")


def _up(cli, *extra: str, env: dict[str, str] | None = None):
    done = cli("up", "--variant", VARIANT, "--backend", "llama-server", "--port", "auto", "--ctx", "4096",
               *extra, env=env or {})
    assert done.returncode == 0, done.stderr
    server = read_state()
    assert server is not None and server.ready_at
    return server


def _base(server) -> str:
    return server.endpoint.removesuffix("/v1")


def _rendered(server, **body) -> str:
    reply = httpx.post(f"{_base(server)}/apply-template", json={"messages": USER, **body}, timeout=60)
    reply.raise_for_status()
    return reply.json()["prompt"]


def test_up_serves_a_greedy_completion_and_down_leaves_nothing(cli):
    server = _up(cli)
    pids = tree_pids(server.pid)
    body = {"model": tiny_v4.SERVED, "prompt": "The capital of France is", "max_tokens": 8, "temperature": 0}
    first = httpx.post(f"{server.endpoint}/completions", json=body, timeout=120).json()
    second = httpx.post(f"{server.endpoint}/completions", json=body, timeout=120).json()
    text = first["choices"][0]["text"]
    assert text and text == second["choices"][0]["text"]  # greedy: the same tokens every time
    assert first["usage"]["completion_tokens"] == 8
    assert first["model"] == tiny_v4.SERVED
    down = cli("down")
    assert down.returncode == 0 and f"pid {server.pid}" in down.stdout
    assert alive(pids) == [] and read_state() is None


@pytest.mark.parametrize("mode", ["off", "high", "max"])
def test_reasoning_modes_change_what_the_real_template_renders(cli, mode):
    server = _up(cli, "--reasoning", mode)
    prompt = _rendered(server)
    assert "<｜User｜>What is 2 + 2?<｜Assistant｜>" in prompt
    if mode == "off":
        assert prompt.endswith("<｜Assistant｜></think>")
    else:
        assert prompt.endswith("<｜Assistant｜><think>")
    assert ("Reasoning Effort: Absolute maximum" in prompt) is (mode == "max")


def test_tools_are_rendered_by_the_real_template(cli):
    server = _up(cli)
    plain, with_tools = _rendered(server), _rendered(server, tools=[WEATHER])
    assert "## Tools" not in plain
    assert "## Tools" in with_tools and '"name": "get_weather"' in with_tools.replace('"name":"', '"name": "')
    assert "｜DSML｜tool_calls" in with_tools


def test_a_hybrid_plan_keeps_the_experts_of_n_layers_in_the_cpu_buffer(no_engine_left, native_server,  # noqa: F811
                                                                     monkeypatch):
    from localv4.flow import UpOptions, make_plan
    from localv4.serve import api

    gguf = tiny_v4.tiny_v4_gguf_path("preview")
    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{tiny_v4.RECIPE_ID}.toml").write_text(tiny_v4.recipe_text(gguf.stat().st_size))
    plan = make_plan(UpOptions(model=tiny_v4.RECIPE_ID, variant=tiny_v4.VARIANT, ctx=4096))
    hybrid = dataclasses.replace(plan, placement="hybrid", n_cpu_moe=2)
    monkeypatch.setenv("LLAMA_ARG_LOG_VERBOSITY", "5")  # the loader names each overridden tensor at debug level
    info = api.up(hybrid, gguf, api.ServeOptions(backend="llama-server", port="auto"))
    try:
        log = Path(info.server.log).read_text(errors="replace")
    finally:
        api.down()
    moved = sorted({int(m[1]) for m in re.finditer(r"tensor blk\.(\d+)\.ffn_(?:gate|up|down)_exps\.weight .*"
                                                     r"buffer type overridden to CPU", log)})
    assert moved == [0, 1], log[-2000:]
