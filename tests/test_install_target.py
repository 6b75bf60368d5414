"""The cmake arguments `localv4 install` chooses for recorded Apple, NVIDIA and CPU machines."""

from __future__ import annotations

import dataclasses

import pytest

from localv4.errors import UsageError
from localv4.install.target import PORTABLE_CUDA_ARCHITECTURES, BuildTarget, cmake_args
from support.machines import machine

ALWAYS = {"-DGGML_RPC=ON", "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF",
          "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF"}


def args_for(name: str, has_nvcc: bool = True, requested: str | None = None, **changes) -> list[str]:
    hardware = dataclasses.replace(machine(name), **changes)
    return cmake_args(BuildTarget.for_machine(hardware, has_nvcc, requested))


def cuda_archs(args: list[str]) -> str | None:
    found = [a.split("=", 1)[1] for a in args if a.startswith("-DCMAKE_CUDA_ARCHITECTURES=")]
    return found[0] if found else None


@pytest.mark.parametrize("name", ["mac-studio-m4-max-128", "mac-mini-m4-16", "mac-studio-m3-ultra-512"])
def test_apple_silicon_builds_metal(name: str) -> None:
    args = args_for(name, has_nvcc=False)
    assert ALWAYS <= set(args)
    assert "-DGGML_METAL=ON" in args and "-DGGML_CUDA=OFF" in args
    assert cuda_archs(args) is None


@pytest.mark.parametrize(("name", "archs"), [
    ("rtx4090-64gb", "89"),
    ("h200-141gb", "90"),
    ("2x-h100-80gb", "90"),  # two GPUs of one kind: the architecture once
    ("rtx5090-192gb", "120"),  # llama.cpp itself makes this the arch-specific 120a
])
def test_nvidia_with_nvcc_builds_cuda_for_the_gpus_here(name: str, archs: str) -> None:
    args = args_for(name)
    assert ALWAYS <= set(args)
    assert "-DGGML_CUDA=ON" in args and "-DGGML_METAL=OFF" in args
    assert cuda_archs(args) == archs


def test_mixed_gpus_get_every_architecture_oldest_first() -> None:
    h100 = machine("2x-h100-80gb").gpus[0]
    gpus = (h100, dataclasses.replace(h100, index=1, compute_capability="8.6"),
            dataclasses.replace(h100, index=2, compute_capability="8.9"),
            dataclasses.replace(h100, index=3, compute_capability=None))
    assert cuda_archs(args_for("2x-h100-80gb", gpus=gpus)) == "86;89;90"


def test_gpus_with_unknown_capability_get_the_portable_set() -> None:
    gpu = dataclasses.replace(machine("rtx4090-64gb").gpus[0], compute_capability=None)
    assert cuda_archs(args_for("rtx4090-64gb", gpus=(gpu,))) == ";".join(PORTABLE_CUDA_ARCHITECTURES)


def test_nvidia_without_nvcc_falls_back_to_cpu() -> None:
    args = args_for("rtx4090-64gb", has_nvcc=False)
    assert "-DGGML_CUDA=OFF" in args and "-DGGML_METAL=OFF" in args


def test_cpu_machine_builds_for_the_cpu_even_with_nvcc_installed() -> None:
    for has_nvcc in (False, True):
        args = args_for("cpu-only-24gb", has_nvcc=has_nvcc)
        assert ALWAYS <= set(args)
        assert "-DGGML_CUDA=OFF" in args and "-DGGML_METAL=OFF" in args
        assert cuda_archs(args) is None


def test_cuda_requested_without_a_visible_gpu_builds_the_portable_set() -> None:
    args = args_for("cpu-only-24gb", requested="cuda")
    assert "-DGGML_CUDA=ON" in args
    assert cuda_archs(args) == "75-virtual;80-virtual;86-real;89-real;90-virtual"


def test_cpu_requested_on_a_gpu_machine_is_honoured() -> None:
    assert "-DGGML_CUDA=OFF" in args_for("rtx4090-64gb", requested="cpu")
    assert "-DGGML_METAL=OFF" in args_for("mac-studio-m4-max-128", requested="cpu")


@pytest.mark.parametrize(("name", "has_nvcc", "requested", "says"), [
    ("rtx4090-64gb", False, "cuda", "--cuda needs nvcc"),
    ("mac-studio-m4-max-128", False, "cuda", "--cuda needs nvcc"),
    ("rtx4090-64gb", True, "metal", "--metal needs an Apple Silicon Mac"),
    ("cpu-only-24gb", False, "metal", "--metal needs an Apple Silicon Mac"),
])
def test_impossible_requests_are_usage_errors(name: str, has_nvcc: bool, requested: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        args_for(name, has_nvcc=has_nvcc, requested=requested)
