"""What to build for this machine, and the cmake arguments that build it: pure functions.

The build target is a small value made from the hardware profile and whether nvcc (or the Vulkan
build tools) are here, so the arguments for an Apple, NVIDIA, AMD or CPU machine can be checked
anywhere without building.
"""

from __future__ import annotations

from dataclasses import dataclass

from localv4.errors import UsageError
from localv4.hardware.amd import planned_vulkan_gpu
from localv4.hardware.profile import Hardware
from localv4.install.tools import CUDA_TOOLKIT_HINT

NOT_LOOKED_FOR = "the Vulkan build tools (not looked for)"  # a target made without tools.vulkan_problem()
# When --cuda is asked for on a machine with no visible GPU there is nothing to target, so build
# what llama.cpp ships for CUDA 12+ (PTX for the rest is JIT-compiled on first use).
PORTABLE_CUDA_ARCHITECTURES = ("75-virtual", "80-virtual", "86-real", "89-real", "90-virtual")

COMMON_CMAKE_ARGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained binary: the install folder can be moved
    "-DGGML_RPC=ON",  # the RPC worker and `--rpc`: spread a model over several machines
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # else the build downloads llama.cpp's web UI from Hugging Face
)


@dataclass(frozen=True)
class BuildTarget:
    """The facts a build depends on."""

    os: str  # "linux" | "darwin" | "windows"
    arch: str  # "x86_64" | "arm64"
    apple_silicon: bool
    has_nvcc: bool
    compute_capabilities: tuple[str, ...]  # one per NVIDIA GPU, e.g. ("8.9", "8.9"); "" if unknown
    requested: str | None = None  # "cuda" | "metal" | "vulkan" | "cpu" from --cuda/--metal/--vulkan/--cpu
    vulkan_gpu: bool = False  # the planner's GPU here is an AMD one that a Vulkan driver runs
    # What a Vulkan build lacks here, with the command that gets it (tools.vulkan_problem); "": nothing
    vulkan_missing: str = NOT_LOOKED_FOR

    @classmethod
    def for_machine(cls, hardware: Hardware, has_nvcc: bool, requested: str | None = None,
                    vulkan_missing: str = NOT_LOOKED_FOR) -> BuildTarget:
        return cls(
            os=hardware.os,
            arch=hardware.arch,
            apple_silicon=hardware.apple is not None,
            has_nvcc=has_nvcc,
            compute_capabilities=tuple(g.compute_capability or "" for g in hardware.gpus),
            requested=requested,
            vulkan_gpu=planned_vulkan_gpu(hardware),
            vulkan_missing=vulkan_missing,
        )

    @property
    def has_vulkan(self) -> bool:
        return not self.vulkan_missing

    @property
    def flavour(self) -> str:
        """Metal on Apple Silicon; CUDA for NVIDIA GPUs with nvcc; Vulkan for the AMD GPU the planner
        uses, where its build tools are here (llama.cpp's CPU build would leave that GPU idle);
        otherwise CPU. Checks the request, before anything is downloaded."""
        if self.requested == "metal" and not self.apple_silicon:
            raise UsageError("--metal needs an Apple Silicon Mac; use --cpu (or --cuda with an NVIDIA GPU)")
        if self.requested == "cuda" and not self.has_nvcc:
            raise UsageError(f"--cuda needs nvcc (the CUDA toolkit), which is not on PATH: {CUDA_TOOLKIT_HINT}")
        if self.requested == "vulkan" and not self.has_vulkan:
            raise UsageError(f"--vulkan needs {self.vulkan_missing}")
        if self.requested:
            return self.requested
        if self.apple_silicon:
            return "metal"
        if self.has_nvcc and self.compute_capabilities:
            return "cuda"
        return "vulkan" if self.vulkan_gpu and self.has_vulkan else "cpu"


def cuda_architectures(compute_capabilities: tuple[str, ...]) -> tuple[str, ...]:
    """CMAKE_CUDA_ARCHITECTURES for these GPUs: "8.9" -> "89", each once, oldest first.

    llama.cpp itself turns Blackwell's plain 120/121 into the arch-specific 120a/121a.
    """
    known = {cc.replace(".", "") for cc in compute_capabilities if cc}
    if not known:
        return PORTABLE_CUDA_ARCHITECTURES
    return tuple(sorted(known, key=int))


def cmake_args(target: BuildTarget) -> list[str]:
    """The configure arguments for this target (after `-S src -B build`)."""
    flavour = target.flavour
    args = [
        *COMMON_CMAKE_ARGS,
        f"-DGGML_METAL={'ON' if flavour == 'metal' else 'OFF'}",
        f"-DGGML_CUDA={'ON' if flavour == 'cuda' else 'OFF'}",
    ]
    if flavour == "cuda":
        args.append("-DCMAKE_CUDA_ARCHITECTURES=" + ";".join(cuda_architectures(target.compute_capabilities)))
    if flavour == "vulkan":  # appended, not OFF elsewhere: the other flavours keep their build-cache keys
        args.append("-DGGML_VULKAN=ON")
    return args
