"""A build that cannot work fails in one clear line and leaves nothing `up` would pick."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from localv4.install import find_llama_server
from localv4.install.cache import sdist_dir
from localv4.install.layout import engines_root


@pytest.fixture
def empty_build_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A build cache with nothing in it, so a real earlier build cannot stand in for this one."""
    cache = tmp_path / "build-cache"
    monkeypatch.setenv("LOCALV4_BUILD_CACHE", str(cache))
    return cache


def only_cmake_on_path(tmp_path: Path) -> str:
    bin_dir = tmp_path / "only-cmake"
    bin_dir.mkdir()
    cmake = shutil.which("cmake")
    assert cmake, "these tests need cmake installed"
    (bin_dir / "cmake").symlink_to(cmake)
    return str(bin_dir)


def assert_nothing_installed(cache: Path) -> None:
    root = engines_root()
    assert not root.exists() or list(root.iterdir()) == []
    assert find_llama_server() is None
    assert not cache.exists() or not [p for p in cache.iterdir() if not p.name.endswith(".lock")]


def test_no_compiler_on_path_names_it_and_the_command(tmp_path: Path, empty_build_cache: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = only_cmake_on_path(tmp_path)
    done = run_cli("install", "llama.cpp", "--cpu", env={"PATH": path})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "localv4: building llama.cpp needs a C/C++ compiler, which is not installed: "
        "sudo apt-get install build-essential"
    ]
    monkeypatch.setenv("PATH", path)  # find_llama_server also looks on PATH
    assert_nothing_installed(empty_build_cache)


def test_cxx_pointing_nowhere_is_a_missing_compiler(empty_build_cache: Path) -> None:
    done = run_cli("install", "llama.cpp", "--cpu", env={"CXX": "/nonexistent/c++"})
    assert done.returncode == 1
    assert "needs a C/C++ compiler" in done.stderr and "build-essential" in done.stderr
    assert_nothing_installed(empty_build_cache)


def test_no_cmake_names_cmake(tmp_path: Path, empty_build_cache: Path) -> None:
    done = run_cli("install", "llama.cpp", "--cpu", env={"PATH": str(tmp_path)})
    assert done.returncode == 1
    assert "needs cmake, which is not installed: sudo apt-get install cmake (or: pip install cmake)" in done.stderr


@pytest.mark.skipif(os.name != "posix", reason="uses /bin/false as a compiler that exists but cannot compile")
def test_a_compiler_that_cannot_compile_fails_configure_and_cleans_up(empty_build_cache: Path) -> None:
    """Real sdist, real cmake: configure fails, the log says why, no temp build is left behind."""
    done = run_cli("install", "llama.cpp", "--cpu", env={"CC": "/bin/false", "CXX": "/bin/false"},
                   timeout=1800)
    assert done.returncode == 1
    line = done.stderr.strip()
    assert line.startswith("localv4: llama.cpp configure failed: a C/C++ compiler is missing or broken: ")
    log = Path(line.rsplit("full log: ", 1)[1])
    assert log.parent == Path(os.environ["LOCALV4_HOME"]) / "data" / "logs"
    assert "-DGGML_RPC=ON" in log.read_text()
    assert (sdist_dir() / "llama_cpp_python-0.3.36.tar.gz").is_file()  # kept for the next attempt
    assert_nothing_installed(empty_build_cache)
