"""Homebrew's llama.cpp on macOS: a minute's install instead of a ten-minute build, when it is new enough.

"New enough" is judged the only reliable way: the installed binary must know `deepseek4`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.install.layout import SERVER_NAME
from localv4.install.locate import LlamaServerBinary, probe_llama_server
from localv4.install.progress import Reporter, run_logged
from localv4.install.versions import REQUIRED_ARCH

def brew_available() -> bool:
    return shutil.which("brew") is not None


def homebrew_server() -> LlamaServerBinary | None:
    """Homebrew's llama-server, if it is installed and knows the model's architecture."""
    brew = shutil.which("brew")
    if brew is None:
        return None
    try:
        prefix = subprocess.run([brew, "--prefix"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    server = Path(prefix) / "bin" / SERVER_NAME
    if not prefix or not server.is_file():
        return None
    try:
        binary = probe_llama_server(server)
    except RuntimeFailure:
        return None
    return binary if binary.knows_arch(REQUIRED_ARCH) else None


def brew_install(log: Path, reporter: Reporter) -> LlamaServerBinary | None:
    """`brew install llama.cpp` (or upgrade it); the result if it knows the architecture."""
    reporter.stage("download")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("localv4 install: Homebrew llama.cpp\n")
    command = ["brew", "upgrade" if _brew_has_llama() else "install", "llama.cpp"]
    if run_logged(command, log) != 0:
        reporter.note(f"{' '.join(command)} failed (log: {log}); building from source instead")
        return None
    return homebrew_server()


def _brew_has_llama() -> bool:
    try:
        return subprocess.run(["brew", "list", "llama.cpp"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
