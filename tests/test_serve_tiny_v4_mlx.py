"""The tiny V4's MLX build (scripts/make_tiny_v4.py --mlx: V4-Flash's own config, random float32
weights) served by mlx-vlm through `localv4 up --backend mlx`, with the recipe's settings: the
plan's context cap, the recipe's served name, greedy when asked. The heavier MLX serving checks
(keys, sampling defaults, replies to the cap, chat and bench) stay on make_tiny_mlx's smaller
`deepseek_v4` (tests/test_serve_mlx_vlm.py): the true-width build reads about 3 prompt tokens a
second on this 2-core CPU (512 tokens took 162 s, docs/memory.md), so a 1,000-token prompt there
is minutes per request."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_cli
from localv4.paths import user_recipes_dir
from localv4.serve.state import read_state
from support import tiny_v4
from support.cli_output import one_line_error
from support.process_support import alive, tree_pids

pytestmark = pytest.mark.engine
openai = pytest.importorskip("openai")
pytest.importorskip("mlx_vlm", reason="needs mlx-vlm (the test extra), which serves deepseek_v4")

MLX_VARIANT = "mlx-f32"
MLX_REPO = f"{tiny_v4.REPO_NAMESPACE}/DeepSeek-V4-Flash-tiny-MLX"
CONTEXT = 1024


def recipe_with_mlx(gguf_size: int, mlx_size: int) -> str:
    """The tiny V4 recipe with its MLX build as a second series, as the real recipe has both."""
    return tiny_v4.recipe_text(gguf_size) + tiny_v4.mlx_series_text(MLX_REPO, MLX_VARIANT, mlx_size)


@pytest.fixture()
def cli(tmp_path: Path, isolated_home):
    from support.hubserver import FakeHub

    model = tiny_v4.tiny_v4_mlx_path("preview")
    repo = tmp_path / "hub" / MLX_REPO
    repo.mkdir(parents=True)
    for file in model.iterdir():
        os.link(file, repo / file.name)
    size = sum(f.stat().st_size for f in model.iterdir())
    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{tiny_v4.RECIPE_ID}.toml").write_text(recipe_with_mlx(40_000_000, size))
    with FakeHub(tmp_path / "hub") as hub:

        def run(*args: str):
            return run_cli(*args, env={"HF_ENDPOINT": hub.endpoint}, timeout=600)

        yield run
        run("down")


def test_mlx_vlm_serves_the_tiny_v4_mlx_build_with_the_recipes_settings(cli):
    up = cli("up", "--variant", f"{tiny_v4.RECIPE_ID}:{MLX_VARIANT}", "--backend", "mlx", "--port", "auto",
             "--ctx", str(CONTEXT))
    assert up.returncode == 0, up.stderr
    server = read_state()
    assert server.backend == "mlx" and server.model_id == tiny_v4.SERVED and server.context == CONTEXT
    # mlx-vlm leaves DeepSeek's DSML tool calls as text: up says so, and launch refuses the agents
    # that call tools, with the same line, before running them.
    tools_line = "mlx does not turn DeepSeek's DSML tool calls into the API's tool calls"
    assert tools_line in up.stdout and "tool calls need the llama.cpp engine" in up.stdout
    refused = cli("launch", "codex", "--config")
    assert refused.returncode == 1 and tools_line in one_line_error(refused)
    pids = tree_pids(server.pid)

    client = openai.OpenAI(base_url=server.endpoint, api_key="none", max_retries=0, timeout=300)
    assert [m.id for m in client.models.list().data] == [tiny_v4.SERVED]
    hi = [{"role": "user", "content": "Hi"}]
    first, again = (client.chat.completions.create(model=tiny_v4.SERVED, messages=hi, max_tokens=3,
                                                   temperature=0) for _ in range(2))
    assert first.usage.completion_tokens == 3 and first.model == tiny_v4.SERVED
    assert first.choices[0].message.content == again.choices[0].message.content  # greedy

    too_long = [{"role": "user", "content": " ".join(["word"] * 1200)}]  # refused before any prefill
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=tiny_v4.SERVED, messages=too_long, max_tokens=2)
    assert f"context is {CONTEXT} tokens" in refused.value.response.text

    assert cli("down").returncode == 0
    assert alive(pids) == [] and read_state() is None
