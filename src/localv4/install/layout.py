"""Where installed native engines live: one folder per llama.cpp version and flavour.

`<data_dir>/engines/llama.cpp/<version>-<flavour>/` holds `bin/` and `build.json`. A folder appears
only after its build was verified (it is renamed into place), so anything found here is usable, and
a new pin or flavour installs alongside the old ones instead of over them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from localv4.paths import data_dir

FLAVOURS = ("cuda", "metal", "cpu")  # best first
MANIFEST = "build.json"
_EXE = ".exe" if sys.platform == "win32" else ""
SERVER_NAME = "llama-server" + _EXE
# tools/rpc/CMakeLists.txt names the target ggml-rpc-server; older trees and Homebrew say rpc-server.
RPC_NAMES = ("ggml-rpc-server" + _EXE, "rpc-server" + _EXE)


def engines_root() -> Path:
    return data_dir() / "engines" / "llama.cpp"


def install_name(version: str, flavour: str) -> str:
    return f"{version}-{flavour}"


def install_dir(version: str, flavour: str) -> Path:
    return engines_root() / install_name(version, flavour)


def server_in(install: Path) -> Path:
    return install / "bin" / SERVER_NAME


def logs_dir() -> Path:
    return data_dir() / "logs"
