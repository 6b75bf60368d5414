"""The MLX round trip through the CLI, as a user runs it: `localv4 up` on the tiny MLX model
(pulled from a local fake hub by the test recipe, the same path real variants take) -> the
OpenAI Python SDK, streamed and not -> `chat` and `bench` -> `status` -> `down` -> nothing left.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_cli
from localv4.paths import user_recipes_dir
from localv4.serve.state import read_state
from support.process_support import alive, tree_pids
from support.session_checks import chat_then_bench
from support.tiny_mlx import make_tiny_mlx

pytestmark = pytest.mark.engine
openai = pytest.importorskip("openai")
pytest.importorskip("mlx_lm", reason="needs mlx[cpu] and mlx-lm (the test extra)")

VARIANT = "tiny-mlx:mlx-f16"
SERVED = "tiny-mlx"


@pytest.fixture(scope="module")
def hub_and_recipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The tiny model as repo localv4-test/tiny-mlx on a fake hub, and its recipe file."""
    from support.hubserver import FakeHub

    root = tmp_path_factory.mktemp("hub")
    recipes = tmp_path_factory.mktemp("recipes")
    make_tiny_mlx(root / "localv4-test" / "tiny-mlx", "--recipe-dir", str(recipes))
    with FakeHub(root) as hub:
        yield hub.endpoint, recipes / "tiny-mlx.toml"


@pytest.fixture()
def cli(hub_and_recipe: tuple[str, Path]):
    """`localv4 ARGS` with the test recipe installed and the fake hub as the Hub."""
    endpoint, recipe = hub_and_recipe
    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / recipe.name).write_text(recipe.read_text())

    def run(*args: str, **kwargs):
        return run_cli(*args, env={"HF_ENDPOINT": endpoint}, timeout=300, **kwargs)

    yield run
    run("down")  # whatever happened above, no engine outlives the test


def test_up_sdk_chat_bench_status_down(cli) -> None:
    up = cli("up", "--variant", VARIANT, "--port", "auto")
    assert up.returncode == 0, up.stderr
    server = read_state()
    assert server is not None and server.backend == "mlx" and server.model_id == SERVED
    assert f"endpoint  {server.endpoint}" in up.stdout
    pids = tree_pids(server.pid)

    client = openai.OpenAI(base_url=server.endpoint, api_key="not-needed", max_retries=0, timeout=120)
    question = [{"role": "user", "content": "Say hello."}]
    # The recipe's default reasoning is off: the reply is the answer.
    reply = client.chat.completions.create(model=SERVED, messages=question, max_tokens=6)
    assert reply.choices[0].message.content and reply.usage.completion_tokens == 6
    # Thinking on, per request: the tiny model's reply is all reasoning.
    thought = client.chat.completions.create(
        model=SERVED, messages=question, max_tokens=6,
        extra_body={"chat_template_kwargs": {"enable_thinking": True}})
    assert (thought.choices[0].message.model_extra or {}).get("reasoning")
    chunks = list(client.chat.completions.create(
        model=SERVED, messages=question, max_tokens=6, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert any(c.choices and c.choices[0].finish_reason == "length" for c in chunks)

    _, measured = chat_then_bench(cli, SERVED, server.endpoint, VARIANT, runs=2)
    assert measured["engine"] == "mlx"
    assert measured["estimate_high"] >= measured["estimate_low"] > 0  # the plan's, for this machine

    status = json.loads(cli("status", "--json").stdout)
    assert status["state"] == "running" and status["endpoint"] == server.endpoint
    assert status["bench_tok_s"] == pytest.approx(measured["generation_tok_s"])

    down = cli("down")
    assert down.returncode == 0, down.stderr
    assert alive(pids) == [] and read_state() is None
    assert json.loads(cli("status", "--json").stdout)["state"] == "stopped"


def test_chat_and_bench_say_when_nothing_is_up(cli) -> None:
    for command in (["chat"], ["bench"]):
        done = cli(*command, input="")
        assert done.returncode == 1
        assert done.stderr.strip() == "localv4: no model is running. Start one with `localv4 up`."


def test_chat_and_bench_send_the_key_a_wider_host_requires(cli) -> None:
    import httpx

    up = cli("up", "--variant", VARIANT, "--port", "auto", "--host", "0.0.0.0")
    assert up.returncode == 0, up.stderr
    server = read_state()
    key = Path(server.api_key_file).read_text().strip()
    question = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    assert httpx.post(f"{server.endpoint}/chat/completions", json=question, timeout=60).status_code == 401

    chat = cli("chat", "--max-tokens", "3", input="hello\n")
    bench = cli("bench", "--runs", "1", "--tokens", "4", "--json")
    assert chat.returncode == 0 and bench.returncode == 0, chat.stderr + bench.stderr
    assert "refused" not in chat.stdout and json.loads(bench.stdout)["generation_tok_s"] > 0
    for shown in (chat.stdout, chat.stderr, bench.stdout, bench.stderr,
                  (Path(server.api_key_file).parent / "bench.json").read_text()):
        assert key not in shown
