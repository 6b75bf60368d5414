"""A fake hub holding generated repos laid out like the real V4 variants, and a user recipe pointing at them.

Shared by the pull, Xet and models tests: the `hub_root`, `hub` and `fake_recipe` fixtures, and
checks of what ends up in the Hugging Face cache.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from .hubserver import FakeHub, make_gguf_repo, make_mlx_repo

GGUF_REPO = "fakeorg/Fake-V4-GGUF"
MLX_REPO = "fakeorg/Fake-V4-MLX"
LAYOUT = "{quant}/Fake-V4-{quant}-{part:05d}-of-{parts:05d}.gguf"
PART_SIZE = 300_000
MLX_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "tokenizer*", "*.tiktoken", "*.model"]

# The fake GGUF series' two variants (3 and 2 parts of PART_SIZE), for any recipe over GGUF_REPO.
GGUF_VARIANTS = """
[[series.variants]]
id = "Q4"
size_bytes = 900_006
parts = 3
bits_per_weight = 4.4
quality = 90

[[series.variants]]
id = "IQ1"
size_bytes = 600_003
parts = 2
bits_per_weight = 2.3
quality = 25
"""

RECIPE = f"""
extends = "deepseek-v4-flash"

[model]
id = "fake-v4"
name = "Fake V4 (tests)"

[[series]]
id = "fake"
format = "gguf"
repo = "{GGUF_REPO}"
layout = "{LAYOUT}"

{GGUF_VARIANTS}
[[series]]
id = "fake-badrev"
format = "gguf"
repo = "{GGUF_REPO}"
revision = "no-such-branch"
layout = "{LAYOUT}"

[[series.variants]]
id = "BADREV"
size_bytes = 600_003
parts = 2
bits_per_weight = 2.3
quality = 24

[[series]]
id = "fake-mlx"
format = "mlx"
include = {json.dumps(MLX_PATTERNS)}

[[series.variants]]
id = "mlx"
repo = "{MLX_REPO}"
size_bytes = 600_003
bits_per_weight = 4.3
quality = 88
"""


@pytest.fixture(scope="session")
def hub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake V4 repos (GGUF and MLX), generated once per session."""
    root = tmp_path_factory.mktemp("hubroot")
    make_gguf_repo(root, GGUF_REPO, LAYOUT, {"Q4": 3, "IQ1": 2}, PART_SIZE)
    make_mlx_repo(root, MLX_REPO, shards=3, shard_size=200_000)
    return root


@pytest.fixture
def hub(hub_root: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh fake hub (no faults, empty log), selected with HF_ENDPOINT; short stall and backoff."""
    with FakeHub(hub_root) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("LOCALV4_PULL_STALL_S", "1")
        monkeypatch.setenv("LOCALV4_PULL_BACKOFF_S", "0.05")
        monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        yield server


@pytest.fixture
def fake_recipe(isolated_home: Path) -> Path:
    """RECIPE in the user recipes folder (use it with `pytestmark = pytest.mark.usefixtures("fake_recipe")`)."""
    path = Path(os.environ["LOCALV4_HOME"]) / "config" / "recipes" / "fake.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RECIPE)
    return path


def cache_repo(repo: str) -> Path:
    """REPO's folder in this test's Hugging Face cache."""
    return Path(os.environ["HF_HOME"]) / "hub" / ("models--" + repo.replace("/", "--"))


def hub_file(hub: FakeHub, repo: str, pattern: str):
    """The one file of REPO on the hub whose path matches PATTERN."""
    (f,) = [f for p, f in hub.repos[repo].files.items() if fnmatch.fnmatch(p, pattern)]
    return f


def variant_files(hub: FakeHub, quant: str):
    """The GGUF parts of one quant on the hub."""
    return [f for p, f in hub.repos[GGUF_REPO].files.items() if p.startswith(f"{quant}/")]


def run_hf(*args: str) -> subprocess.CompletedProcess:
    """The real `hf` CLI of huggingface_hub, against the same fake hub and cache."""
    return subprocess.run(["hf", *args], capture_output=True, text=True, env=os.environ)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_complete_in_cache(hub: FakeHub, repo: str, files) -> Path:
    """Every file linked in snapshots/<commit>/ to a blob named by its hash, with the right bytes."""
    commit = hub.repos[repo].commit
    root = cache_repo(repo)
    assert (root / "refs" / "main").read_text() == commit
    for f in files:
        pointer = root / "snapshots" / commit / f.path
        assert pointer.is_symlink(), f.path
        blob = (pointer.parent / os.readlink(pointer)).resolve()
        assert blob.parent == (root / "blobs").resolve()
        assert blob.name == (f.sha256 if f.lfs else f.git_sha1)
        assert sha256_of(pointer) == f.sha256
    assert not list(root.glob("blobs/*.incomplete"))
    return root / "snapshots" / commit


def partial_size(path: Path) -> int:
    """A partial file's size; 0 once it is gone (completed files are renamed into place)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def wait_for_partial(root: Path, at_least: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Return once a `.incomplete` blob under ROOT holds AT_LEAST bytes; fail if the pull ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(partial_size(p) >= at_least for p in root.glob("blobs/*.incomplete")):
            return
        if proc.poll() is not None:
            raise AssertionError(f"pull ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("no partial file appeared")
