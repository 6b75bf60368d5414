"""What `localv4 install` would do on this machine, in words, without doing any of it.

`doctor` shows these lines and `install --dry-run` prints them. Cheap checks only: no build, no
download, no probe of a binary; one child Python when the machine has a GPU (the bindings check)
and one on a Mac (the MLX check).
"""

from __future__ import annotations

from localv4.errors import RuntimeFailure, UsageError
from localv4.hardware.profile import Hardware
from localv4.install.bindings import check_bindings, rebuild_plan
from localv4.install.mlx import missing_model_types, recipe_model_types
from localv4.install.cache import builds_dir
from localv4.install.estimates import BUILD_DISK_BYTES, describe_build_time
from localv4.install.native import cached_build_dir, installed_dir, is_complete
from localv4.install.prebuilt import find_prebuilt, wheel_here
from localv4.install.target import PORTABLE_CUDA_ARCHITECTURES, BuildTarget, cuda_architectures
from localv4.install.tools import CUDA_TOOLKIT_HINT, has_nvcc, missing_tool, require_disk, vulkan_problem
from localv4.install.wheels import describe_wheel
from localv4.pins import LLAMA_CPP_PYTHON_VERSION, MLX_REQUIREMENTS


def install_plan(hardware: Hardware, flavour: str | None = None) -> list[str]:
    """One line per action `install` would take (or has already taken) here."""
    nvcc = has_nvcc()
    target = BuildTarget.for_machine(hardware, nvcc, flavour, vulkan_problem())
    try:
        lines = _llama_server_lines(target)
    except UsageError as err:
        lines = [str(err)]
    if hardware.gpus and not nvcc:
        lines.append(f"an NVIDIA GPU is here but nvcc is not, so llama-server would run on the CPU: {CUDA_TOOLKIT_HINT}")
    if nvcc and not hardware.gpus and flavour is None and target.flavour == "cpu":
        lines.append("nvcc is here but no NVIDIA GPU was detected: building for the CPU (--cuda builds for CUDA anyway)")
    if target.vulkan_gpu and not target.has_vulkan and flavour is None:
        lines.append(f"an AMD GPU is here but a Vulkan build needs {target.vulkan_missing}; until then llama-server "
                     "would run on the CPU (then: `localv4 install llama.cpp --vulkan`)")
    return lines + _prebuilt_lines(hardware) + _bindings_lines(hardware) + _mlx_lines(hardware)


def _prebuilt_lines(hardware: Hardware) -> list[str]:
    """The no-compile engine: installed, else the wheel that would be installed and from where."""
    engine = find_prebuilt()
    if engine is not None and engine.site is not None:
        return [f"the prebuilt llama.cpp engine (xllamacpp {engine.version}, {engine.flavour}) is installed in "
                f"{engine.where}"]
    return [describe_wheel(wheel_here(hardware))]


def _llama_server_lines(target: BuildTarget) -> list[str]:
    name = f"llama-server (llama-cpp-python {LLAMA_CPP_PYTHON_VERSION}, {_describe(target)})"
    installed = installed_dir(target)
    if installed:
        return [f"{name} is installed in {installed}"]
    if is_complete(cached_build_dir(target)):
        return [f"copy the finished build of {name} from the build cache"]
    lines = [f"build {name} and its RPC worker from source ({describe_build_time(target.flavour)})"]
    tool = missing_tool(target.flavour)
    if tool:
        lines.append(f"first install {tool.name}: {tool.hint()}")
    try:
        require_disk(builds_dir(), BUILD_DISK_BYTES)
    except RuntimeFailure as err:
        lines.append(f"first {err}")
    return lines


def _describe(target: BuildTarget) -> str:
    if target.flavour == "cuda":
        archs = cuda_architectures(target.compute_capabilities)
        if archs == PORTABLE_CUDA_ARCHITECTURES:
            return "CUDA for the common GPU generations"
        return "CUDA for " + ", ".join(f"sm_{a}" for a in archs)
    return {"metal": "Metal", "vulkan": "Vulkan"}.get(target.flavour, "CPU only")


def _bindings_lines(hardware: Hardware) -> list[str]:
    check = check_bindings(hardware)
    if check.version is None:
        return []
    if not check.needs_rebuild:
        return [f"llama-cpp-python {check.version} already uses the {check.gpu} GPU"]
    try:
        how = rebuild_plan(hardware, check).describe()
    except RuntimeFailure as err:
        return [f"llama-cpp-python {check.version} cannot use the GPU, and cannot be rebuilt yet: {err}"]
    return [f"rebuild llama-cpp-python {check.version} for the {check.gpu} GPU (asks first): {how}"]


def _mlx_lines(hardware: Hardware) -> list[str]:
    if hardware.apple is None:
        return []
    wanted = recipe_model_types()
    missing = missing_model_types(wanted)
    if not missing:
        return ["MLX engines are installed and load " + ", ".join(wanted)]
    return [f"install {', '.join(MLX_REQUIREMENTS)} (to load {', '.join(missing)})"]
