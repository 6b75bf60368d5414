"""Speculative decoding on MLX through `localv4 up --backend mlx`, with the tiny V4 0731
(scripts/make_tiny_v4.py): the recipe's MLX series names DeepSeek's own checkpoint as its DSpark
draft, `up` pulls from that repo only the config, the index, the tokenizer and the shards the
index maps `mtp.*` to (not the trunk's), and mlx-vlm's DSpark drafter (`--draft-model DIR
--draft-kind dflash`) splits the stages out in memory. The engine's own counters
(`timings.draft_n`) say the draft ran; greedy output is the same with and without it (mlx-vlm
verifies each drafted block against the model; measured identical at 12 and 40 tokens). The
draft's weights are random, so its acceptance is near zero: the test asserts that it ran, not
that it helped."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from conftest import run_cli
from localv4.paths import user_recipes_dir
from localv4.serve.state import read_state
from support import tiny_v4

pytestmark = pytest.mark.engine  # mlx-vlm's server (MLX on the CPU), with and without the drafter
pytest.importorskip("mlx_vlm", reason="needs mlx-vlm (the test extra), which serves deepseek_v4")

MLX_VARIANT = "mlx-f32"
MLX_REPO = f"{tiny_v4.REPO_NAMESPACE}/DeepSeek-V4-Flash-0731-tiny-MLX"
DRAFT_REPO = f"{tiny_v4.REPO_NAMESPACE}/DeepSeek-V4-Flash-0731-tiny"  # the checkpoint, trunk and all
BODY = {"model": tiny_v4.SERVED, "messages": [{"role": "user", "content": "The capital of France is"}],
        "max_tokens": 12, "temperature": 0, "stream": False}


def recipe_with_mlx_draft(mlx_size: int, draft_size: int) -> str:
    """The tiny 0731 recipe with an MLX series whose draft is the checkpoint, as the real recipe has."""
    draft = f"""
[series.draft]
kind = "dspark"
repo = "{DRAFT_REPO}"
include = ["config.json", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
           "generation_config.json", "*.jinja"]
tensors = "mtp."
size_bytes = {draft_size}
size_verified = true
layers = 3
source = "scripts/make_tiny_v4.py --release 0731 (the checkpoint's mtp.* stages)"
"""
    return tiny_v4.recipe_text(40_000_000, release="0731") + tiny_v4.mlx_series_text(
        MLX_REPO, MLX_VARIANT, mlx_size, draft)


def _mtp_shards(checkpoint: Path) -> set[str]:
    weight_map = json.loads((checkpoint / "model.safetensors.index.json").read_text())["weight_map"]
    return {shard for name, shard in weight_map.items() if name.startswith("mtp.")}


@pytest.fixture()
def cli(tmp_path: Path, isolated_home, no_engine_left) -> Iterator:  # noqa: F811
    from support.hubserver import FakeHub

    model, checkpoint = tiny_v4.tiny_v4_mlx_path("0731"), tiny_v4.tiny_v4_checkpoint_path("0731")
    for source, repo in ((model, tmp_path / "hub" / MLX_REPO), (checkpoint, tmp_path / "hub" / DRAFT_REPO)):
        repo.mkdir(parents=True)
        for file in source.iterdir():
            os.link(file, repo / file.name)
    mlx_size = sum(f.stat().st_size for f in model.iterdir())
    draft_size = sum((checkpoint / s).stat().st_size for s in _mtp_shards(checkpoint))
    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{tiny_v4.RECIPE_ID}.toml").write_text(recipe_with_mlx_draft(mlx_size, draft_size))
    with FakeHub(tmp_path / "hub") as hub:

        def run(*args: str):
            return run_cli(*args, env={"HF_ENDPOINT": hub.endpoint}, timeout=600)

        yield run
        run("down")


def _greedy(cli, speculative: str) -> tuple[dict, object, str, list[str]]:
    """The greedy reply, the engine's record, `status` and the engine's command line."""
    done = cli("up", "--variant", f"{tiny_v4.RECIPE_ID}:{MLX_VARIANT}", "--backend", "mlx", "--port", "auto",
               "--ctx", "1024", "--speculative", speculative)
    assert done.returncode == 0, done.stderr
    server = read_state()
    argv = psutil.Process(server.pid).cmdline()
    reply = httpx.post(f"{server.endpoint}/chat/completions", json=BODY, timeout=300).json()
    status = cli("status")
    assert cli("down").returncode == 0
    return reply, server, status.stdout, argv


def test_greedy_output_is_the_same_with_and_without_mlx_vlms_dspark_drafter(cli):
    with_draft, server, status, argv = _greedy(cli, "auto")
    assert server.backend == "mlx" and server.draft == f"dspark: {DRAFT_REPO}"
    assert f"draft     dspark: {DRAFT_REPO} (speculative decoding)" in status
    folder = Path(argv[argv.index("--draft-model") + 1])
    assert argv[argv.index("--draft-kind") + 1] == "dflash"
    # Only what the drafter reads came down: not one of the trunk's shards.
    checkpoint = tiny_v4.tiny_v4_checkpoint_path("0731")
    shards = {p.name for p in folder.glob("*.safetensors")}
    assert shards == _mtp_shards(checkpoint) and len(list(checkpoint.glob("*.safetensors"))) > len(shards)
    assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()
    assert "drafting with" in Path(server.log).read_text()
    assert with_draft["timings"]["draft_n"] > 0  # the draft proposed tokens the model checked
    assert 0 <= with_draft["timings"]["draft_n_accepted"] <= with_draft["timings"]["draft_n"]

    without, plain, status, argv = _greedy(cli, "off")
    assert plain.draft is None and "draft     none" in status and "--draft-model" not in argv
    assert not (without.get("timings") or {}).get("draft_n")

    assert with_draft["usage"]["completion_tokens"] == without["usage"]["completion_tokens"] == 12
    assert with_draft["choices"][0]["message"]["content"] == without["choices"][0]["message"]["content"]
