"""The build tools a native build needs, and the one command that gets each on this platform.

Checked before anything is downloaded, so a missing compiler costs a second, not a failed
ten-minute build; a build log is also read for the same failures, in case a tool was present but
unusable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.storage import free_bytes
from localv4.units import format_gb

CUDA_TOOLKIT_HINT = (
    "install the CUDA toolkit (Debian/Ubuntu: sudo apt-get install nvidia-cuda-toolkit; "
    "or https://developer.nvidia.com/cuda-downloads) and put its bin/ on PATH"
)
_XCODE_HINT = "xcode-select --install"
# Everything a Vulkan build needs, in one command: ggml-vulkan's CMakeLists asks for
# find_package(Vulkan COMPONENTS glslc) and find_package(SPIRV-Headers CONFIG).
VULKAN_HINT = ("sudo apt-get install glslc libvulkan-dev spirv-headers "
               "(Fedora: sudo dnf install glslc vulkan-loader-devel spirv-headers-devel; "
               "or the LunarG Vulkan SDK, with VULKAN_SDK set)")
_VULKAN_MAC_HINT = "brew install shaderc vulkan-headers vulkan-loader spirv-headers molten-vk"
# The pinned tree creates its Vulkan instance with VK_EXT_layer_settings, in the public headers
# from 1.3.272 on (KhronosGroup/Vulkan-Utility-Libraries#167); Debian 12's libvulkan-dev is 1.3.239,
# Ubuntu 24.04's 1.3.275, Debian 13's 1.4.309.
MIN_VULKAN_HEADERS = (1, 3, 272)
_NEWER_HEADERS_HINT = ("Debian 12 and Ubuntu 22.04 ship older ones: install the LunarG Vulkan SDK and set VULKAN_SDK, "
                       "or unpack newer headers (Debian 13's libvulkan-dev) into a folder named in CMAKE_PREFIX_PATH")


@dataclass(frozen=True)
class Tool:
    name: str  # what the user is told is missing
    linux_hint: str
    mac_hint: str

    def hint(self) -> str:
        return self.mac_hint if sys.platform == "darwin" else self.linux_hint


CMAKE = Tool("cmake", "sudo apt-get install cmake (or: pip install cmake)", "brew install cmake (or: pip install cmake)")
COMPILER = Tool("a C/C++ compiler", "sudo apt-get install build-essential", _XCODE_HINT)
XCODE = Tool("the Xcode command line tools", _XCODE_HINT, _XCODE_HINT)
NVCC = Tool("nvcc (the CUDA toolkit)", CUDA_TOOLKIT_HINT, CUDA_TOOLKIT_HINT)
GLSLC = Tool("glslc (the Vulkan shader compiler)", VULKAN_HINT, _VULKAN_MAC_HINT)
VULKAN_DEV = Tool("the Vulkan headers and loader", VULKAN_HINT, _VULKAN_MAC_HINT)
SPIRV_HEADERS = Tool("the SPIR-V headers", VULKAN_HINT, _VULKAN_MAC_HINT)
OLD_VULKAN_HEADERS = Tool("Vulkan headers {}.{}.{} or newer".format(*MIN_VULKAN_HEADERS), _NEWER_HEADERS_HINT,
                          _VULKAN_MAC_HINT)

# Lines a failed cmake run prints when a tool is missing or broken, and the tool each names.
_LOG_SIGNS = (
    (re.compile(r"No CMAKE_CUDA_COMPILER could be found|Failed to find nvcc|CUDA Toolkit not found"), NVCC),
    (re.compile(r"No CMAKE_C(XX)? COMPILER could be found|CMAKE_C(XX)?_COMPILER.*not a full path|"
                r"is not able to compile a simple test program"), COMPILER),
    (re.compile(r"xcrun: error: invalid active developer path"), XCODE),
    (re.compile(r"Could NOT find Vulkan \(missing:[^)]*Vulkan_(LIBRARY|INCLUDE_DIR)"), VULKAN_DEV),
    (re.compile(r"Could NOT find Vulkan \(missing:[^)]*glslc"), GLSLC),
    (re.compile(r"package configuration file provided by\s+\"SPIRV-Headers\""), SPIRV_HEADERS),
    (re.compile(r"LayerSetting\w*EXT.{0,8} is not a member of .{0,8}vk"), OLD_VULKAN_HEADERS),
)


def has_nvcc() -> bool:
    return find_nvcc() is not None


def find_nvcc() -> str | None:
    """nvcc on PATH, or in the toolkit that CUDA_HOME / CUDA_PATH names."""
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")):
        if root and os.access(os.path.join(root, "bin", "nvcc"), os.X_OK):
            return os.path.join(root, "bin", "nvcc")
    return None


def missing_tool(flavour: str) -> Tool | None:
    """The first tool this build needs that is not here, or None."""
    if not shutil.which("cmake"):
        return CMAKE
    if sys.platform == "darwin" and not _xcode_tools_installed():
        return XCODE
    if not (_compiler("CC", ("cc", "gcc", "clang")) and _compiler("CXX", ("c++", "g++", "clang++"))):
        return COMPILER
    if flavour == "cuda" and not has_nvcc():
        return NVCC
    if flavour == "vulkan":
        return missing_vulkan_tool()
    return None


def vulkan_problem() -> str:
    """What a Vulkan build lacks here and the command that gets it; "" when nothing."""
    tool = missing_vulkan_tool()
    return f"{tool.name}: {tool.hint()}" if tool else ""


# What a Vulkan build finds under a prefix: the headers, the loader to link against (the
# unversioned name comes with the -dev package; `*` is a Debian multiarch folder) and the SPIR-V
# headers' CMake config.
_VULKAN_HEADERS = ("include/vulkan/vulkan.h",)
_VULKAN_LOADERS = ("lib/libvulkan.so", "lib/*/libvulkan.so", "lib64/libvulkan.so", "lib/libvulkan.dylib",
                   "Lib/vulkan-1.lib")
_SPIRV_CONFIGS = tuple(f"{d}/cmake/SPIRV-Headers/SPIRV-HeadersConfig.cmake"
                       for d in ("share", "lib", "lib/*", "lib64"))
SYSTEM_PREFIXES = ("/usr", "/usr/local", "/opt/homebrew")


def missing_vulkan_tool() -> Tool | None:
    """The first of a Vulkan build's tools not here (or too old), looked for where CMake looks, in
    its order: glslc on PATH or in VULKAN_SDK; the rest under CMAKE_PREFIX_PATH, VULKAN_SDK, then
    the system prefixes."""
    sdk = os.environ.get("VULKAN_SDK", "")
    prefixes = [Path(p) for p in (*os.environ.get("CMAKE_PREFIX_PATH", "").split(os.pathsep), sdk,
                                  *SYSTEM_PREFIXES) if p]
    if not (shutil.which("glslc") or (sdk and _found([Path(sdk)], ("bin/glslc", "Bin/glslc.exe")))):
        return GLSLC
    if not (_found(prefixes, _VULKAN_HEADERS) and _found(prefixes, _VULKAN_LOADERS)):
        return VULKAN_DEV
    if (vulkan_headers_version(prefixes) or MIN_VULKAN_HEADERS) < MIN_VULKAN_HEADERS:
        return OLD_VULKAN_HEADERS
    if not _found(prefixes, _SPIRV_CONFIGS):
        return SPIRV_HEADERS
    return None


_HEADER_VERSION = re.compile(r"#define VK_HEADER_VERSION (\d+)")
_HEADER_API = re.compile(r"#define VK_HEADER_VERSION_COMPLETE VK_MAKE_API_VERSION\(\s*\d+,\s*(\d+),\s*(\d+),")


def vulkan_headers_version(prefixes: list[Path]) -> tuple[int, int, int] | None:
    """(1, 3, 239) from the first vulkan_core.h under PREFIXES (the one CMake finds); None where it
    says no version."""
    for prefix in prefixes:
        try:
            text = (prefix / "include" / "vulkan" / "vulkan_core.h").read_text(errors="replace")
        except OSError:
            continue
        patch, api = _HEADER_VERSION.search(text), _HEADER_API.search(text)
        return (int(api.group(1)), int(api.group(2)), int(patch.group(1))) if patch and api else None
    return None


def _found(prefixes: list[Path], patterns: tuple[str, ...]) -> bool:
    return any(next(prefix.glob(pattern), None) is not None for prefix in prefixes for pattern in patterns)


def require_tools(flavour: str) -> None:
    """Raise, naming the missing tool and the command that gets it."""
    tool = missing_tool(flavour)
    if tool:
        raise RuntimeFailure(f"building llama.cpp needs {tool.name}, which is not installed: {tool.hint()}")


def require_disk(folder: Path, need: int) -> None:
    """Raise when FOLDER's disk has less than NEED bytes free: a build that fills the disk fails late."""
    free = free_bytes(folder)
    if free < need:
        raise RuntimeFailure(
            f"building llama.cpp needs {format_gb(need)} free in {folder}, only {format_gb(free)} is: "
            "free some space, or set LOCALV4_BUILD_CACHE to a folder on a bigger disk"
        )


def diagnose_log(log_text: str) -> Tool | None:
    """The missing or broken tool a failed build's log points at, if it names one."""
    for sign, tool in _LOG_SIGNS:
        if sign.search(log_text):
            return tool
    return None


def _compiler(env_var: str, names: tuple[str, ...]) -> bool:
    """A compiler named by CC/CXX must exist; otherwise any of the usual names will do."""
    chosen = os.environ.get(env_var, "").split()
    if chosen:
        return shutil.which(chosen[0]) is not None
    return any(shutil.which(n) for n in names)


def _xcode_tools_installed() -> bool:
    try:
        return subprocess.run(["xcode-select", "-p"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
