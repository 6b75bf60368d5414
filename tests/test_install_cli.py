"""`localv4 install`: bad input, the plan `doctor` shows, the bindings offer, and MLX checks."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from localv4.install import install_plan
from localv4.install.engines import offer_bindings_rebuild
from localv4.install.mlx import missing_model_types
from localv4.install.progress import SilentReporter
from support.machines import machine


def path_without_nvcc(tmp_path: Path) -> dict[str, str]:
    """PATH with only cmake on it: no nvcc, no compiler (python runs by absolute path)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    cmake = shutil.which("cmake")
    if cmake:
        (bin_dir / "cmake").symlink_to(cmake)
    return {"PATH": str(bin_dir), "CUDA_HOME": "", "CUDA_PATH": ""}


@pytest.mark.parametrize(("args", "says"), [
    (("install", "vllm"), "unknown engine 'vllm'; choose one of: all, llama.cpp, xllamacpp, mlx"),
    (("install", "--metal"), "--metal needs an Apple Silicon Mac"),
    (("install", "mlx"), "MLX runs on Apple Silicon Macs only"),
    (("install", "--cpu", "--cuda"), "choose one of --metal, --cuda, --vulkan, --cpu"),
    (("install", "--jobs", "0"), "--jobs must be 1 or more"),
])
@pytest.mark.skipif(sys.platform == "darwin", reason="Metal and MLX are valid on a Mac")
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], says: str) -> None:
    done = run_cli(*args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2
    assert len(lines) == 1 and lines[0].startswith("localv4: ") and says in lines[0]


def test_cuda_without_nvcc_is_exit_2_with_the_way_to_get_it(tmp_path: Path) -> None:
    done = run_cli("install", "--cuda", env=path_without_nvcc(tmp_path))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "--cuda needs nvcc" in done.stderr and "apt-get install nvidia-cuda-toolkit" in done.stderr


def test_dry_run_says_what_would_be_built_and_changes_nothing(tmp_path: Path) -> None:
    done = run_cli("install", "--dry-run", "--cpu", env={"LOCALV4_BUILD_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    assert "build llama-server (llama-cpp-python 0.3.36, CPU only) and its RPC worker from source" in done.stdout
    assert not (Path(os.environ["LOCALV4_HOME"]) / "data" / "engines").exists()


def test_plan_on_a_machine_without_build_tools_names_the_missing_one(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing at all
    monkeypatch.setenv("LOCALV4_BUILD_CACHE", str(tmp_path / "cache"))
    lines = install_plan(machine("cpu-only-24gb"))
    assert lines[0].startswith("build llama-server (llama-cpp-python 0.3.36, CPU only)")
    assert "first install cmake: sudo apt-get install cmake (or: pip install cmake)" in lines
    assert not any("llama-cpp-python 0.3.36 cannot" in line for line in lines)  # no GPU: nothing to offload


def test_plan_on_nvidia_without_nvcc_says_cpu_only_and_how_to_get_cuda(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", path_without_nvcc(tmp_path)["PATH"] + os.pathsep + "/usr/bin:/bin")
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.setenv("LOCALV4_BUILD_CACHE", str(tmp_path / "cache"))
    text = "\n".join(install_plan(machine("rtx4090-64gb")))
    assert "CPU only" in text
    assert "an NVIDIA GPU is here but nvcc is not" in text and "nvidia-cuda-toolkit" in text


def test_plan_on_a_mac_offers_metal_bindings_and_mlx(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The real llama-cpp-python here is a CPU build, so on a (recorded) Mac it would be rebuilt."""
    pytest.importorskip("llama_cpp")
    monkeypatch.setenv("LOCALV4_BUILD_CACHE", str(tmp_path / "cache"))
    lines = install_plan(machine("mac-studio-m4-max-128"))
    assert lines[0].startswith("build llama-server (llama-cpp-python 0.3.36, Metal)")
    assert ("rebuild llama-cpp-python 0.3.36 for the metal GPU (asks first): CMAKE_ARGS='-DGGML_METAL=on' "
            "pip install --force-reinstall --no-deps --no-cache-dir --no-binary llama-cpp-python "
            "llama-cpp-python==0.3.36") in lines
    assert "MLX engines are installed and load deepseek_v4, deepseek_v41" in lines  # mlx-vlm: the test extra


def test_plan_offers_mlx_for_a_model_type_no_installed_engine_loads(tmp_path: Path) -> None:
    from localv4.paths import user_recipes_dir

    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / "future.toml").write_text(
        'extends = "deepseek-v4-flash"\n[model]\nid = "future"\n'
        '[model.architecture]\nllama_cpp = "deepseek4"\nmlx = "deepseek_v9"\n'
        '[[series]]\nid = "mlx"\nformat = "mlx"\ninclude = ["*"]\n[[series.variants]]\nid = "mlx-4bit"\n'
        'repo = "example/Future-MLX-4bit"\nsize_bytes = 150_000_000_000\nbits_per_weight = 4.5\nquality = 80\n')
    lines = install_plan(machine("mac-studio-m4-max-128"))
    assert "install mlx>=0.29, mlx-lm>=0.32,<0.33, mlx-vlm>=0.7.10,<0.8 (to load deepseek_v9)" in lines


def test_bindings_rebuild_is_asked_first_and_declining_changes_nothing(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("llama_cpp")
    toolkit = tmp_path / "cuda"
    (toolkit / "bin").mkdir(parents=True)
    (toolkit / "bin" / "nvcc").write_text("#!/bin/sh\nexit 1\n")  # only looked for, never run here
    (toolkit / "bin" / "nvcc").chmod(0o755)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("CUDA_HOME", str(toolkit))
    questions: list[str] = []
    notes: list[str] = []

    class Notes(SilentReporter):
        def note(self, message: str) -> None:
            notes.append(message)

    rebuilt = offer_bindings_rebuild(machine("rtx4090-64gb"), lambda q: questions.append(q) or False, Notes())
    assert rebuilt is False
    assert len(questions) == 1
    assert "llama-cpp-python 0.3.36 cannot use this machine's GPU (cuda)" in questions[0]
    assert "CMAKE_ARGS='-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=89'" in questions[0]
    assert any("localv4 install --yes" in n for n in notes)


def test_bindings_are_left_alone_on_a_cpu_machine() -> None:
    asked: list[str] = []
    assert offer_bindings_rebuild(machine("cpu-only-24gb"), lambda q: asked.append(q) or True, SilentReporter()) is False
    assert asked == []


def test_mlx_check_finds_model_types_in_the_real_packages() -> None:
    pytest.importorskip("mlx_lm")
    assert missing_model_types(["llama", "gemma3"]) == []
    assert missing_model_types(["no_such_model_type"]) == ["no_such_model_type"]
