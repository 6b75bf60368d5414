"""The shipped demo recipe (recipes/qwen2.5-0.5b-instruct.toml): `localv4 up --model qwen2.5-0.5b`
pulls it and serves it, the whole chain a new user sees first.

The fake Hub serves the real Gemma 3 270M GGUF (from its PyPI package) under the demo recipe's repo
and file name: the bytes differ from the real Qwen file, but the pull checks whatever the hub
says, and llama.cpp reads the model's architecture from the file itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_cli
from localv4.recipes import load_catalog
from localv4.serve.state import read_state
from test_serve_engines import gemma_gguf, llama_cpp_server, no_engine_left  # noqa: F401  (fixtures)

DEMO = "qwen2.5-0.5b"


def test_the_demo_recipe_is_shipped_and_small():
    recipe = load_catalog().recipe(DEMO)
    assert recipe.model.served_name == "qwen2.5-0.5b-instruct"
    assert all(v.format == "gguf" and v.size_bytes < 500_000_000 for v in recipe.variants)


@pytest.fixture()
def demo_hub(gemma_gguf: Path, tmp_path: Path):  # noqa: F811
    from hubserver import FakeHub

    variant = load_catalog().recipe(DEMO).variants[0]
    repo = tmp_path / "hub" / variant.repo
    repo.mkdir(parents=True)
    os.link(gemma_gguf, repo / f"Qwen2.5-0.5B-Instruct-{variant.id}.gguf")
    with FakeHub(tmp_path / "hub") as hub:
        yield hub


def test_up_model_demo_pulls_serves_and_answers(demo_hub, llama_cpp_server, no_engine_left):  # noqa: F811
    from openai import OpenAI

    up = run_cli("up", "--model", DEMO, "--port", "auto", env={"HF_ENDPOINT": demo_hub.endpoint}, timeout=600)
    try:
        assert up.returncode == 0, up.stderr
        server = read_state()
        assert server is not None and "model     qwen2.5-0.5b-instruct" in up.stdout
        client = OpenAI(base_url=server.endpoint, api_key="none", max_retries=0, timeout=120)
        reply = client.chat.completions.create(
            model="qwen2.5-0.5b-instruct", messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
        assert reply.choices[0].message.role == "assistant" and reply.usage.completion_tokens <= 4
    finally:
        run_cli("down")
