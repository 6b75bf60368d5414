"""DeepSeek V4.1-Flash through mlx-vlm's own `deepseek_v41`, as a user runs it: `localv4 up
--backend mlx` on the tiny V4.1 (its 40-layer structure and both Engram tables, random float32
weights; support/tiny_v41.py) pulled from a local fake hub by its recipe -> greedy replies that
repeat -> the tables memory-mapped, not loaded -> status, logs, chat and bench -> `down` -> nothing
left. MLX runs on the CPU here: the tiny V4.1 reads about 8 prompt tokens a second."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil
import pytest

from conftest import run_cli
from localv4.paths import user_recipes_dir
from localv4.serve.state import read_state
from localv4.weights import locate
from support import tiny_v41
from support.process_support import alive, tree_pids
from support.session_checks import chat_then_bench

pytestmark = pytest.mark.engine
openai = pytest.importorskip("openai")
pytest.importorskip("mlx_vlm", reason="needs mlx-vlm (the test extra), which serves deepseek_v41")

CONTEXT = 1280  # room for bench's prompt (about 1000 tokens with the tiny tokenizer)


@pytest.fixture()
def cli(tmp_path: Path):
    """`localv4 ARGS` with the tiny V4.1's recipe installed and a fake hub holding it."""
    from support.hubserver import FakeHub

    model, recipe = tiny_v41.tiny_v41()
    repo = tmp_path / "hub" / tiny_v41.REPO
    repo.mkdir(parents=True)
    for file in model.iterdir():
        os.link(file, repo / file.name)
    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / recipe.name).write_text(recipe.read_text())
    with FakeHub(tmp_path / "hub") as hub:

        def run(*args: str, **kwargs):
            return run_cli(*args, env={"HF_ENDPOINT": hub.endpoint}, timeout=900, **kwargs)

        yield run
        run("down")  # whatever happened above, no engine outlives the test


def test_the_tiny_v41_has_v41s_structure_and_only_mlx_vlm_serves_it() -> None:
    from localv4.serve.engines.mlx import MLX_VLM, model_type, server_for

    model, _ = tiny_v41.tiny_v41()
    config = json.loads((model / "config.json").read_text())
    assert model_type(model) == "deepseek_v41" and server_for("deepseek_v41") == MLX_VLM
    assert config["num_hidden_layers"] == 40 and config["engram_layer_ids"] == [1, 14]
    assert tiny_v41.table_bytes(model) > 100_000_000


def engine_memory(pid: int, weights: Path) -> tuple[int, int]:
    """(the engine's anonymous resident bytes, the bytes of `weights` it has mapped). Mapped pages
    are the page cache's (the kernel drops them under pressure); anonymous ones are the engine's."""
    anonymous = int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                         if line.startswith("RssAnon:"))) * 1024
    maps = psutil.Process(pid).memory_maps(grouped=False)
    return anonymous, sum(m.size for m in maps if Path(m.path) == weights.resolve())


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_up_greedy_tables_mapped_status_logs_bench_down(cli) -> None:
    up = cli("up", "--variant", tiny_v41.VARIANT, "--backend", "mlx", "--port", "auto", "--ctx", str(CONTEXT))
    assert up.returncode == 0, up.stderr
    server = read_state()
    assert server is not None and server.backend == "mlx" and server.model_id == tiny_v41.RECIPE_ID
    assert server.plan.memory.mapped > 0  # the recipe's tables: on disk, outside the working set
    pids = tree_pids(server.pid)

    client = openai.OpenAI(base_url=server.endpoint, api_key="none", max_retries=0, timeout=300)
    hi = [{"role": "user", "content": "Hello there, how are you"}]
    first, again = (client.chat.completions.create(model=tiny_v41.RECIPE_ID, messages=hi, max_tokens=4,
                                                   temperature=0) for _ in range(2))
    assert first.usage.completion_tokens == 4
    assert first.choices[0].message.content == again.choices[0].message.content  # greedy

    # The tables are mapped from the model's own file, not copied into the engine's memory: its
    # anonymous memory (the interpreter, MLX and every other weight included) is below their size.
    model, _ = tiny_v41.tiny_v41()
    tables = tiny_v41.table_bytes(model)
    pulled = locate(server.plan.variant)
    assert pulled is not None
    anonymous, mapped = engine_memory(server.pid, pulled.folder / "model.safetensors")
    assert mapped >= tables, "mlx-vlm maps each Engram table from model.safetensors"
    assert anonymous < tables, f"the engine holds {anonymous / 1e6:.0f} MB, the tables are {tables / 1e6:.0f} MB"

    status = json.loads(cli("status", "--json").stdout)
    assert status["state"] == "running" and status["endpoint"] == server.endpoint
    assert cli("logs", "--lines", "200").stdout.strip()
    chat_then_bench(cli, tiny_v41.RECIPE_ID, server.endpoint, tiny_v41.VARIANT, runs=1)

    down = cli("down")
    assert down.returncode == 0, down.stderr
    assert alive(pids) == [] and read_state() is None
    assert json.loads(cli("status", "--json").stdout)["state"] == "stopped"
