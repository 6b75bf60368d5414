"""The tiny DeepSeek V4.1-Flash (scripts/make_tiny_mlx.py --model-type deepseek_v41) for tests:
mlx-vlm's own `deepseek_v41` with V4.1's 40-layer structure and its Engram tables, built once per
version of the script and cached (like the tiny V4), with the recipe that serves it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from .tiny_mlx import SCRIPT, make_tiny_mlx

RECIPE_ID = "tiny-dsv41"
VARIANT = f"{RECIPE_ID}:mlx-f32"
REPO = f"localv4-test/{RECIPE_ID}"


def cache_dir() -> Path:
    from localv4.install.cache import cache_root

    return cache_root() / "tiny-v41" / hashlib.sha256(SCRIPT.read_bytes()).hexdigest()[:12]


def tiny_v41() -> tuple[Path, Path]:
    """(the model folder, its recipe), built first if this version of the script has none;
    skips without mlx-vlm."""
    pytest.importorskip("mlx_vlm", reason="the tiny V4.1 is mlx-vlm's deepseek_v41")
    from filelock import FileLock

    root = cache_dir()
    model, recipe = root / "model", root / f"{RECIPE_ID}.toml"
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):  # two sessions at once build it once
        if not recipe.is_file():
            make_tiny_mlx(model, "--model-type", "deepseek_v41", "--recipe-dir", str(root))
    return model, recipe


def table_bytes(model: Path) -> int:
    """The Engram tables' bytes: rows x head_dim float32 per table."""
    config = json.loads((model / "config.json").read_text())
    return sum(config["engram_num_embeddings"]) * config["engram_head_dim"] * 4
