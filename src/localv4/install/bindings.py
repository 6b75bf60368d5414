"""The llama-cpp-python bindings: can they use this machine's GPU, and rebuilding them so they can.

The wheel pip picks is often CPU-only; on a Mac or an NVIDIA machine that silently costs most of
the speed. The check runs in a child interpreter so a broken or huge native library never loads
into localv4 itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.hardware.profile import Hardware
from localv4.install.progress import Reporter, progress_lines, run_logged
from localv4.install.target import cuda_architectures
from localv4.install.tools import CUDA_TOOLKIT_HINT, has_nvcc
from localv4.pins import LLAMA_CPP_PYTHON_VERSION

_CHECK = (
    "import json, llama_cpp; "
    "print(json.dumps([llama_cpp.__version__, bool(llama_cpp.llama_supports_gpu_offload())]))"
)


@dataclass(frozen=True)
class BindingsCheck:
    version: str | None  # None: llama-cpp-python is not importable here
    gpu_offload: bool
    gpu: str | None  # "cuda" | "metal": the GPU this machine has; None on a CPU-only machine

    @property
    def needs_rebuild(self) -> bool:
        return self.version is not None and self.gpu is not None and not self.gpu_offload


def check_bindings(hardware: Hardware) -> BindingsCheck:
    """Whether the installed llama-cpp-python can offload to the GPU that HARDWARE has."""
    gpu = "metal" if hardware.apple else ("cuda" if hardware.gpus else None)
    if gpu is None:
        return BindingsCheck(version=None, gpu_offload=False, gpu=None)
    try:
        done = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True, timeout=120)
        version, offload = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return BindingsCheck(version=None, gpu_offload=False, gpu=gpu)
    return BindingsCheck(version=version, gpu_offload=offload, gpu=gpu)


@dataclass(frozen=True)
class BindingsRebuild:
    """The pip command that rebuilds llama-cpp-python for a GPU, ready to show and to run."""

    pip_args: tuple[str, ...]
    cmake_args: str

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "pip", "--verbose", *self.pip_args]

    def describe(self) -> str:
        return f"CMAKE_ARGS='{self.cmake_args}' pip {' '.join(self.pip_args)}"


def rebuild_plan(hardware: Hardware, check: BindingsCheck) -> BindingsRebuild:
    """How to rebuild the bindings for this machine's GPU; raises when the toolkit is missing."""
    if check.gpu == "cuda" and not has_nvcc():
        raise RuntimeFailure(f"rebuilding llama-cpp-python for the GPU needs nvcc: {CUDA_TOOLKIT_HINT}")
    if check.gpu == "cuda":
        caps = tuple(g.compute_capability or "" for g in hardware.gpus)
        cmake = f"-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES={';'.join(cuda_architectures(caps))}"
    else:
        cmake = "-DGGML_METAL=on"
    version = check.version or LLAMA_CPP_PYTHON_VERSION
    pip_args = ("install", "--force-reinstall", "--no-deps", "--no-cache-dir",
                "--no-binary", "llama-cpp-python", f"llama-cpp-python=={version}")
    return BindingsRebuild(pip_args=pip_args, cmake_args=cmake)


def rebuild_bindings(plan: BindingsRebuild, log: Path, reporter: Reporter) -> None:
    """Run the rebuild, its output in LOG; the old build stays if pip fails (pip installs atomically)."""
    reporter.stage("compile")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"localv4 install: rebuild llama-cpp-python with CMAKE_ARGS={plan.cmake_args}\n")
    env = {**os.environ, "CMAKE_ARGS": plan.cmake_args}
    if run_logged(plan.command, log, progress_lines(reporter), env=env) != 0:
        raise RuntimeFailure(f"rebuilding llama-cpp-python failed; the previous install is unchanged; full log: {log}")
