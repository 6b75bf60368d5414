"""scripts/make_tiny_mlx.py writes a model that real mlx-lm loads, templates and serves.

The tiny-model fixtures (`tiny_mlx_model`, `mlx_url`) live in tests/support/tiny_mlx.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from support.tiny_mlx import make_tiny_mlx

pytest.importorskip("mlx_lm", reason="the MLX tests need mlx[cpu] and mlx-lm (the test extra)")


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_writes_a_small_complete_model_folder(tiny_mlx_model: Path) -> None:
    names = {p.name for p in tiny_mlx_model.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert sum(p.stat().st_size for p in tiny_mlx_model.iterdir()) < 20_000_000
    config = json.loads((tiny_mlx_model / "config.json").read_text())
    assert config["model_type"] == "llama"
    tokenizer_config = json.loads((tiny_mlx_model / "tokenizer_config.json").read_text())
    assert "enable_thinking" in tokenizer_config["chat_template"]
    assert tokenizer_config["eos_token"] == "<|im_end|>"


def test_same_seed_same_bytes(tiny_mlx_model: Path, tmp_path: Path) -> None:
    make_tiny_mlx(tmp_path / "again")
    assert _digests(tmp_path / "again") == _digests(tiny_mlx_model)


def test_real_tokenizer_with_a_thinking_switch(tiny_mlx_model: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_mlx_model))
    text = "Paris is the capital of France. Ünïcode works too: 東京"
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    messages = [{"role": "user", "content": "hi"}]
    thinking = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    answering = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                        enable_thinking=False)
    assert thinking.endswith("<|im_start|>assistant\n<think>\n")
    assert answering.endswith("<think>\n\n</think>\n\n")
    assert len(tok) == json.loads((tiny_mlx_model / "config.json").read_text())["vocab_size"]


@pytest.mark.engine
def test_mlx_lm_generates(tiny_mlx_model: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlx_lm", "generate", "--model", str(tiny_mlx_model),
         "--prompt", "Hello", "--max-tokens", "8"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "Generation: 8 tokens" in result.stdout + result.stderr


@pytest.mark.engine
def test_mlx_lm_server_answers_a_chat_completion(mlx_url: str) -> None:
    """With thinking off the reply is content; with it on (the template's default), reasoning."""
    body = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 6}
    off = httpx.post(f"{mlx_url}/chat/completions", timeout=60,
                     json={**body, "chat_template_kwargs": {"enable_thinking": False}}).json()
    on = httpx.post(f"{mlx_url}/chat/completions", timeout=60, json=body).json()
    assert off["choices"][0]["message"]["content"]
    assert on["choices"][0]["message"]["reasoning"]
    assert off["usage"]["completion_tokens"] == 6


def test_writes_a_recipe_localv4_loads(tmp_path: Path) -> None:
    from localv4.recipes import load_recipes

    make_tiny_mlx(tmp_path / "model", "--recipe-dir", str(tmp_path / "recipes"))
    recipe = load_recipes([tmp_path / "recipes"])["tiny-mlx"]
    (variant,) = recipe.variants
    assert variant.format == "mlx"
    assert variant.size_bytes == sum(p.stat().st_size for p in (tmp_path / "model").iterdir())
    assert recipe.model.arch_mlx == "llama"
