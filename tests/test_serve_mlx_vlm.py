"""DeepSeek V4 through mlx-vlm's server, as a user runs it: `localv4 up --backend mlx` on a tiny
random-weight `deepseek_v4` model (pulled from a local fake hub by its test recipe) -> the OpenAI
SDK, streamed and not, with the key a wider host requires -> the context cap refuses a prompt
too long -> `down` -> nothing left.

mlx-lm has no `deepseek_v4`, so this is the only path that serves V4-Flash's MLX variants.
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

pytestmark = pytest.mark.engine
openai = pytest.importorskip("openai")
pytest.importorskip("mlx_vlm", reason="needs mlx-vlm (the test extra), which serves deepseek_v4")
from support.tiny_mlx import make_tiny_mlx  # noqa: E402

VARIANT = "tiny-dsv4:mlx-f32"
SERVED = "tiny-dsv4"
CONTEXT = 1280  # room for bench's prompt (about 1000 tokens with the tiny tokenizer)


@pytest.fixture(scope="module")
def tiny_dsv4(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny model as repo localv4-test/tiny-dsv4 under a hub root, and its recipe file."""
    root = tmp_path_factory.mktemp("hub")
    recipes = tmp_path_factory.mktemp("recipes")
    make_tiny_mlx(root / "localv4-test" / "tiny-dsv4", "--model-type", "deepseek_v4",
                  "--recipe-dir", str(recipes))
    return root, recipes / "tiny-dsv4.toml"


@pytest.fixture()
def cli(tiny_dsv4: tuple[Path, Path]) -> Iterator:
    """`localv4 ARGS` with the test recipe installed and a fake hub holding the model."""
    from support.hubserver import FakeHub

    root, recipe = tiny_dsv4
    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / recipe.name).write_text(recipe.read_text())
    with FakeHub(root) as hub:

        def run(*args: str, **kwargs):
            return run_cli(*args, env={"HF_ENDPOINT": hub.endpoint}, timeout=300, **kwargs)

        yield run
        run("down")  # whatever happened above, no engine outlives the test


def test_the_tiny_model_is_deepseek_v4_and_mlx_vlm_serves_it(tiny_dsv4: tuple[Path, Path]) -> None:
    from localv4.serve.engines.mlx import MLX_VLM, model_type, server_for

    model = tiny_dsv4[0] / "localv4-test" / "tiny-dsv4"
    assert model_type(model) == "deepseek_v4"
    assert server_for("deepseek_v4") == MLX_VLM


def test_up_sdk_context_cap_down(cli) -> None:
    up = cli("up", "--variant", VARIANT, "--backend", "mlx", "--port", "auto", "--host", "0.0.0.0",
             "--ctx", str(CONTEXT))
    assert up.returncode == 0, up.stderr
    server = read_state()
    assert server is not None and server.backend == "mlx" and server.model_id == SERVED
    assert server.context == CONTEXT
    pids = tree_pids(server.pid)
    key = Path(server.api_key_file).read_text().strip()

    anonymous = openai.OpenAI(base_url=server.endpoint, api_key="wrong", max_retries=0, timeout=60)
    with pytest.raises(openai.AuthenticationError):
        anonymous.chat.completions.create(model=SERVED, max_tokens=2,
                                          messages=[{"role": "user", "content": "hi"}])

    client = openai.OpenAI(base_url=server.endpoint, api_key=key, max_retries=0, timeout=120)
    assert [m.id for m in client.models.list().data] == [SERVED]
    question = [{"role": "user", "content": "Say hello."}]
    reply = client.chat.completions.create(model=SERVED, messages=question, max_tokens=6)
    assert reply.model == SERVED
    assert reply.choices[0].message.content and reply.usage.completion_tokens == 6
    chunks = list(client.chat.completions.create(
        model=SERVED, messages=question, max_tokens=6, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert any(c.choices and c.choices[0].finish_reason == "length" for c in chunks)

    # The recipe's sampling (temperature 1.0) when the request names none; greedy when it asks.
    # (mlx-vlm samples from a fixed seed per request: the seeds differ here.)
    def answers(**sampling) -> set[str]:
        return {client.chat.completions.create(model=SERVED, messages=question, max_tokens=8, seed=seed,
                                               **sampling).choices[0].message.content for seed in (1, 2, 3)}

    assert len(answers()) > 1  # sampled: a random-weight model almost never repeats 8 tokens
    assert len(answers(temperature=0)) == 1

    # Any model name gets the served model (mlx-vlm would try to download the one named).
    other = client.chat.completions.create(model="deepseek-ai/DeepSeek-V4-Flash", messages=question,
                                           max_tokens=2)
    assert other.usage.completion_tokens == 2
    # Thinking on, per request: the tiny model's reply is all reasoning.
    thought = client.chat.completions.create(model=SERVED, messages=question, max_tokens=6,
                                             reasoning_effort="high")
    assert (thought.choices[0].message.model_extra or {}).get("reasoning")
    # A prompt near the cap and no max_tokens (mlx-vlm's default is 2048): the reply is not
    # refused, and stops at the cap.
    near_the_cap = [{"role": "user", "content": " ".join(["word"] * 560)}]  # about 1140 tokens
    to_the_cap = client.chat.completions.create(model=SERVED, messages=near_the_cap)
    assert to_the_cap.choices[0].finish_reason == "length"
    assert to_the_cap.usage.prompt_tokens + to_the_cap.usage.completion_tokens == CONTEXT

    too_long = [{"role": "user", "content": " ".join(["word"] * 1500)}]
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model=SERVED, messages=too_long, max_tokens=4, stream=stream)
        assert f"context is {CONTEXT} tokens" in refused.value.response.text

    chat, measured = chat_then_bench(cli, SERVED, server.endpoint, VARIANT, runs=1)
    for shown in (up.stdout, up.stderr, chat.stdout, json.dumps(measured)):
        assert key not in shown

    status = json.loads(cli("status", "--json").stdout)
    assert status["state"] == "running" and status["endpoint"] == server.endpoint

    down = cli("down")
    assert down.returncode == 0, down.stderr
    assert alive(pids) == [] and read_state() is None
    assert json.loads(cli("status", "--json").stdout)["state"] == "stopped"


def test_up_reasoning_is_the_default_a_request_can_still_override(cli) -> None:
    up = cli("up", "--variant", VARIANT, "--backend", "mlx", "--port", "auto", "--ctx", str(CONTEXT),
             "--reasoning", "max")
    assert up.returncode == 0, up.stderr
    server = read_state()
    client = openai.OpenAI(base_url=server.endpoint, api_key="none", max_retries=0, timeout=120)
    question = [{"role": "user", "content": "Say hello."}]

    def ask(**reasoning):
        return client.chat.completions.create(model=SERVED, messages=question, max_tokens=6, **reasoning)

    default, high, off = ask(), ask(reasoning_effort="high"), ask(reasoning_effort="none")
    assert (default.choices[0].message.model_extra or {}).get("reasoning")  # thinking, unasked
    # "max" reached the chat template (the tiny one adds an instruction for it, as V4-Flash's does).
    assert default.usage.prompt_tokens > high.usage.prompt_tokens
    assert off.choices[0].message.content and not (off.choices[0].message.model_extra or {}).get("reasoning")
    assert cli("down").returncode == 0
