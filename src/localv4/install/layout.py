"""Where installed native engines live: one folder per llama.cpp version and flavour.

`<data_dir>/engines/llama.cpp/<version>-<flavour>/` holds `bin/` and `build.json`. A folder appears
only after its build was verified (it is renamed into place), so anything found here is usable, and
a new pin or flavour installs alongside the old ones instead of over them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from localv4.paths import data_dir

# Best first. Vulkan sits after the CPU: on a machine whose GPU is not AMD (or has none) a Vulkan
# build only adds a device that the plan did not count (lavapipe, say); an AMD plan asks for it
# first (`flavour_order`).
FLAVOURS = ("cuda", "metal", "cpu", "vulkan")
MANIFEST = "build.json"
_EXE = ".exe" if sys.platform == "win32" else ""
SERVER_NAME = "llama-server" + _EXE
# tools/rpc/CMakeLists.txt names the target ggml-rpc-server; older trees and Homebrew say rpc-server.
RPC_NAMES = ("ggml-rpc-server" + _EXE, "rpc-server" + _EXE)
# tools/fit-params: projects the memory a model and its flags take per device, from the GGUF
# headers alone (nothing allocated): the engine's own word on a plan before the download.
FIT_PARAMS_NAME = "llama-fit-params" + _EXE


def engines_root() -> Path:
    return data_dir() / "engines" / "llama.cpp"


def install_name(version: str, flavour: str) -> str:
    return f"{version}-{flavour}"


def install_dir(version: str, flavour: str) -> Path:
    return engines_root() / install_name(version, flavour)


def server_in(install: Path) -> Path:
    return install / "bin" / SERVER_NAME


def fit_params_in(install: Path) -> Path:
    return install / "bin" / FIT_PARAMS_NAME


def logs_dir() -> Path:
    return data_dir() / "logs"
