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

# Lines a failed cmake run prints when a tool is missing or broken, and the tool each names.
_LOG_SIGNS = (
    (re.compile(r"No CMAKE_CUDA_COMPILER could be found|Failed to find nvcc|CUDA Toolkit not found"), NVCC),
    (re.compile(r"No CMAKE_C(XX)? COMPILER could be found|CMAKE_C(XX)?_COMPILER.*not a full path|"
                r"is not able to compile a simple test program"), COMPILER),
    (re.compile(r"xcrun: error: invalid active developer path"), XCODE),
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
    return None


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
