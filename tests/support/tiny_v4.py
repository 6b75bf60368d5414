"""The tiny DeepSeek V4-Flash (scripts/make_tiny_v4.py) for tests: built once, cached, as a fixture.

The GGUF is the real `deepseek4` architecture converted by the pinned convert_hf_to_gguf.py, with
the real chat template; the weights are random, so replies are gibberish and tests assert on
structure. Building needs the converter's imports (torch, transformers, numpy); without them the
tests that need the model skip with the command that builds it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAKER = REPO / "scripts" / "make_tiny_v4.py"
CONVERTER_IMPORTS = ("torch", "transformers", "tokenizers", "numpy")

RECIPE_ID = "tiny-v4-test"
SERVED = "tiny-v4"
VARIANT = "Q8_0"
REPO_NAMESPACE = "localv4-test"
# The logprob gap below which llama.cpp's batching alone flipped the random model's top two (0.22
# measured): two runs' greedy tokens are held equal up to the first such near-tie
# (tests/test_serve_speculative.py says why).
NEAR_TIE = 0.3


@cache
def maker():
    """scripts/make_tiny_v4.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_tiny_v4", MAKER)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_tiny_v4"] = module
    spec.loader.exec_module(module)
    return module


def build_command(release: str = "preview", build: str = "test") -> str:
    return (f"pip install torch==2.13.0 transformers && "
            f"PYTHONPATH=src python {MAKER.relative_to(REPO)} --release {release} --build {build}")


def missing_imports() -> list[str]:
    return [name for name in CONVERTER_IMPORTS if importlib.util.find_spec(name) is None]


def tiny_v4_gguf_path(release: str = "preview", build: str = "test") -> Path:
    """The cached GGUF, built first if this pin and script version have none; skips without the deps."""
    module = maker()
    target = module.Build(release, build)
    cached = module.gguf_path(target)
    if cached.is_file():
        return cached
    if missing := missing_imports():
        pytest.skip(f"the tiny V4 GGUF needs {', '.join(missing)} to build: {build_command(release, build)}")
    from filelock import FileLock

    cached.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cached) + ".lock"):  # two sessions at once build it once
        return module.make_gguf(target)


def tiny_v4_dspark_path() -> Path:
    """The 0731 test build's DSpark draft (architecture `dflash`), converted with `--dspark`."""
    tiny_v4_gguf_path("0731")
    return maker().dspark_path(maker().Build("0731", "test"))


@dataclass(frozen=True)
class GreedyMatch:
    """How far a greedy run follows a reference run of the same prompt, token for token."""

    same: int  # tokens equal before the first difference (all of them where none differ)
    total: int
    gap: float | None  # where they first differ: the reference's top-two logprob gap
    other_in_top_two: bool  # ... and whether the other run's token is one of those two

    @property
    def agrees(self) -> bool:
        """Equal throughout, or equal up to a near-tie where the other run took the runner-up."""
        return self.same == self.total or (self.gap is not None and self.gap < NEAR_TIE and self.other_in_top_two)


def compare_greedy(other: dict, reference: dict) -> GreedyMatch:
    """Two llama-server `/completion` replies (`n_probs` >= 2, temperature 0) compared token for token."""
    tokens = [p["id"] for p in other["completion_probabilities"]]
    steps = reference["completion_probabilities"]
    total = min(len(tokens), len(steps))
    for i, (token, step) in enumerate(zip(tokens, steps)):
        if token != step["id"]:
            first, second = step["top_logprobs"][:2]
            return GreedyMatch(i, total, first["logprob"] - second["logprob"], token in (first["id"], second["id"]))
    return GreedyMatch(total, total, None, False)


def eos_token_id(gguf: Path) -> int:
    """The build's end-of-sentence token, from the checkpoint config kept beside its GGUF."""
    import json

    config = gguf.with_name(gguf.stem + ".config.json")
    return int(json.loads(config.read_text())["eos_token_id"])


def tiny_v4_mlx_path(release: str = "preview") -> Path:
    """The MLX counterpart (same config, mlx-vlm layout); skips without mlx-vlm."""
    pytest.importorskip("mlx_vlm")
    module = maker()
    return module.make_mlx(module.Build(release, "test"))


def tiny_v4_checkpoint_path(release: str = "0731") -> Path:
    """The build's Hugging Face checkpoint itself (for 0731: the trunk and the DSpark `mtp.*`
    stages mlx-vlm's drafter reads); skips without the writer's imports."""
    if missing := [name for name in ("transformers", "tokenizers", "numpy") if importlib.util.find_spec(name) is None]:
        pytest.skip(f"the tiny V4 checkpoint needs {', '.join(missing)}")
    module = maker()
    return module.make_checkpoint(module.Build(release, "test"))


@pytest.fixture(scope="session")
def tiny_v4_gguf() -> Path:
    """The preview's test build (6 layers, real per-layer pattern and template)."""
    return tiny_v4_gguf_path("preview")


@pytest.fixture(scope="session")
def tiny_v4_0731_gguf() -> Path:
    """The 0731 test build: the same architecture with 0731's chat template."""
    return tiny_v4_gguf_path("0731")


@pytest.fixture(scope="session")
def tiny_v4_dspark_gguf() -> Path:
    """The DSpark draft for tiny_v4_0731_gguf (llama-server -md FILE --spec-type draft-dspark)."""
    return tiny_v4_dspark_path()


SPLIT_MAX_TENSORS = 64  # the tiny V4's 178 tensors in 3 parts


def tiny_v4_split_paths(release: str = "preview") -> list[Path]:
    """The tiny V4 as split GGUF parts (`-00001-of-00003.gguf`, ...), written by the pinned
    converter's own `--split-max-tensors` from the build's checkpoint; cached beside the GGUF."""
    module = maker()
    build = module.Build(release, "test")
    folder = module.cache_root() / f"{build.name}-split"
    parts = sorted(folder.glob("*.gguf"))
    if parts:
        return parts
    if missing := missing_imports():
        pytest.skip(f"the split tiny V4 needs {', '.join(missing)} to build: {build_command(release)}")
    from filelock import FileLock

    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if not any(folder.glob("*.gguf")):
            staged = folder.with_name(folder.name + ".partial")
            shutil.rmtree(staged, ignore_errors=True)
            staged.mkdir()
            module.convert(module.make_checkpoint(build), staged / f"{build.name}.gguf",
                           module.converter_tree(module.cache_root()), "--split-max-tensors", str(SPLIT_MAX_TENSORS))
            os.replace(staged, folder)
    return sorted(folder.glob("*.gguf"))


def recipe_text(size_bytes: int, release: str = "preview", recipe_id: str = RECIPE_ID,
                served: str = SERVED, namespace: str = REPO_NAMESPACE) -> str:
    """A recipe whose one GGUF variant is the tiny V4 on the (fake) hub under `namespace`.

    Its constants are the tiny build's own: 6 layers; KV per token from the same layout as the
    real model (2 CSA layers x (512 + 128) / 4 + 2 HCA layers x 512 / 128, f16)."""
    file_name = maker().Build(release, "test").name
    return f"""
[model]
id = "{recipe_id}"
name = "Tiny DeepSeek V4 ({release}, {namespace})"
served_name = "{served}"
hf_repo = "{namespace}/{file_name}"
total_params = 40_000_000
active_params = 40_000_000
dense_params = 40_000_000
dense_bits_per_weight = 8.5
layers = 6
hash_layers = 3
max_context = 1_048_576
min_context = 1_024
preferred_min_context = 4_096
kv_bytes_per_token = 656
kv_source = "tiny test build: 2 x (512 + 128) / 4 x 2 + 2 x 512 / 128 x 2 bytes"
runtime_overhead_bytes = 400_000_000
reasoning_modes = ["off", "high", "max"]
default_reasoning = "off"

[model.sampling]
temperature = 1.0
top_p = 1.0

[model.architecture]
llama_cpp = "deepseek4"
mlx = "deepseek_v4"

[[series]]
id = "gguf"
format = "gguf"
repo = "{namespace}/{file_name}-GGUF"
revision = "main"
layout = "{file_name}.gguf"
status = "confirmed"

[[series.variants]]
id = "{VARIANT}"
size_bytes = {size_bytes}
parts = 1
bits_per_weight = 8.5
quality = 50
"""


@pytest.fixture(scope="session")
def tiny_v4_hub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny V4 GGUF as the recipe's repo under a fake hub root."""
    gguf = tiny_v4_gguf_path("preview")
    root = tmp_path_factory.mktemp("hub")
    repo = root / REPO_NAMESPACE / f"{gguf.stem}-GGUF"
    repo.mkdir(parents=True)
    os.link(gguf, repo / gguf.name)
    return root


def mlx_series_text(repo: str, variant: str, size_bytes: int, draft: str = "") -> str:
    """A recipe's MLX series with one float32 variant in `repo` (the tiny V4's MLX build), and
    `draft`'s `[series.draft]` table when given, as the real 0731 recipe has."""
    return f"""
[[series]]
id = "mlx"
format = "mlx"
repo = "{repo}"
revision = "main"
include = ["*.json", "*.safetensors", "*.jinja", "tokenizer*"]
status = "confirmed"
{draft}
[[series.variants]]
id = "{variant}"
size_bytes = {size_bytes}
bits_per_weight = 32
quality = 1
"""


DRAFT_REPO = f"{REPO_NAMESPACE}/tiny-v4-0731-DSpark-GGUF"  # the DSpark draft GGUF's own repo


def recipe_with_draft(size_bytes: int, draft_size: int) -> str:
    """The tiny 0731 recipe, its GGUF series naming the DSpark draft as the real recipe does."""
    return recipe_text(size_bytes, release="0731") + f"""
[series.draft]
kind = "dspark"
repo = "{DRAFT_REPO}"
file = "*DSpark*.gguf"
size_bytes = {draft_size}
size_verified = true
layers = 3
source = "scripts/make_tiny_v4.py --release 0731 (the converter's --dspark)"
"""
