"""The pinned llama-cpp-python sdist: downloaded once into the cache, and only ever used whole.

Everything the native build compiles comes from this one file, so it must be the file PyPI
published: its sha256 is pinned next to its version, and checked after each download and before
each use of a cached copy. A file that does not match is set aside (kept, to look at), never built.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.install.cache import sdist_dir
from localv4.install.progress import Reporter, run_logged
from localv4.pins import LLAMA_CPP_PYTHON_SDIST_SHA256, LLAMA_CPP_PYTHON_VERSION

PACKAGE = "llama-cpp-python"
SDIST_NAME = f"{PACKAGE.replace('-', '_')}-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
REJECTED_SUFFIX = ".sha256-mismatch"
_CHUNK = 1 << 20


def fetch_sdist(log: Path, reporter: Reporter) -> Path:
    """The pinned sdist from PyPI, downloaded once into the cache; its sha256 checked every time."""
    folder = sdist_dir()
    cached = folder / SDIST_NAME
    if cached.is_file():
        return verified(cached)
    reporter.stage("download")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as incoming:
        command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                   "--progress-bar", "off", "-d", incoming, f"{PACKAGE}=={LLAMA_CPP_PYTHON_VERSION}"]
        downloaded = Path(incoming) / SDIST_NAME
        if run_logged(command, log) != 0 or not downloaded.is_file():
            raise RuntimeFailure(f"could not download the {PACKAGE} {LLAMA_CPP_PYTHON_VERSION} source from "
                                 f"PyPI; check the network, full log: {log}")
        os.replace(downloaded, cached)
    return verified(cached)


def verified(sdist: Path) -> Path:
    """SDIST if its sha256 is the pinned one; else it is set aside and the run fails in one line."""
    actual = sha256_of(sdist)
    if actual == LLAMA_CPP_PYTHON_SDIST_SHA256:
        return sdist
    rejected = sdist.with_name(sdist.name + REJECTED_SUFFIX)
    os.replace(sdist, rejected)
    raise RuntimeFailure(f"{sdist.name} has sha256 {actual}, expected {LLAMA_CPP_PYTHON_SDIST_SHA256}: "
                         f"not built from; set aside as {rejected} (the next install downloads it again)")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
