"""The pinned sdist is used only when its sha256 is the one PyPI published, cached or just fetched.

Real `localv4 install`, real pip: the "download" is pip fetching from a local folder of links that
serves a tampered sdist (a mirror or proxy handing out another file), so no network is used.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from conftest import run_cli
from localv4.install.cache import sdist_dir
from localv4.install.layout import engines_root
from localv4.install.sdist import REJECTED_SUFFIX, SDIST_NAME, sha256_of, verified
from localv4.install.tools import missing_tool
from localv4.pins import LLAMA_CPP_PYTHON_SDIST_SHA256, LLAMA_CPP_PYTHON_VERSION

# An in-tree build backend: enough for pip to read the tampered sdist's metadata, offline.
_BACKEND = f'''
import os
def get_requires_for_build_wheel(config_settings=None):
    return []
def prepare_metadata_for_build_wheel(directory, config_settings=None):
    info = os.path.join(directory, "llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: llama-cpp-python\\nVersion: {LLAMA_CPP_PYTHON_VERSION}\\n")
    return os.path.basename(info)
'''
_PYPROJECT = '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'


@pytest.fixture
def own_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty sdist folder and build cache for this test (the real ones stay untouched)."""
    tool = missing_tool("cpu")  # checked before the sdist is fetched
    if tool:
        pytest.skip(f"a build needs {tool.name}: {tool.hint()}")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))  # the cache folder on macOS
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("LOCALV4_BUILD_CACHE", str(tmp_path / "builds"))
    return sdist_dir()


def tampered_sdist(folder: Path) -> Path:
    """A well-formed llama_cpp_python-<pin>.tar.gz that is not the published one."""
    folder.mkdir(parents=True, exist_ok=True)
    top = SDIST_NAME.removesuffix(".tar.gz")
    with tarfile.open(folder / SDIST_NAME, "w:gz") as archive:
        for name, text in (("pyproject.toml", _PYPROJECT), ("backend.py", _BACKEND),
                           ("PKG-INFO", f"Metadata-Version: 2.1\nName: llama-cpp-python\n"
                                        f"Version: {LLAMA_CPP_PYTHON_VERSION}\n")):
            data = text.encode()
            entry = tarfile.TarInfo(f"{top}/{name}")
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    return folder / SDIST_NAME


def assert_refused(done, sdist_folder: Path, tampered: bytes) -> None:
    """Exit 1, one line with both digests, the file set aside as it was, nothing installed."""
    actual = hashlib.sha256(tampered).hexdigest()
    rejected = sdist_folder / (SDIST_NAME + REJECTED_SUFFIX)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"localv4: {SDIST_NAME} has sha256 {actual}, expected {LLAMA_CPP_PYTHON_SDIST_SHA256}: "
        f"not built from; set aside as {rejected} (the next install downloads it again)"
    ]
    assert rejected.read_bytes() == tampered
    assert not (sdist_folder / SDIST_NAME).exists()
    assert not engines_root().exists() or list(engines_root().iterdir()) == []


def test_a_cached_sdist_with_another_sha256_is_set_aside_and_not_built(own_caches: Path) -> None:
    tampered = tampered_sdist(own_caches).read_bytes()
    done = run_cli("install", "llama.cpp", "--cpu", timeout=300)
    assert_refused(done, own_caches, tampered)


def test_a_downloaded_sdist_with_another_sha256_is_set_aside_and_not_built(own_caches: Path,
                                                                           tmp_path: Path) -> None:
    links = tmp_path / "mirror"
    tampered = tampered_sdist(links).read_bytes()
    pip_from_links = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(links)}
    done = run_cli("install", "llama.cpp", "--cpu", env=pip_from_links, timeout=300)
    assert_refused(done, own_caches, tampered)
    log = Path(os.environ["LOCALV4_HOME"]) / "data" / "logs" / f"install-llama.cpp-{LLAMA_CPP_PYTHON_VERSION}-cpu.log"
    assert f"Saved {own_caches}" in log.read_text()  # pip did fetch it, into the sdist folder


def test_the_pin_is_the_digest_of_the_sdist_pypi_serves() -> None:
    """Checked on the copy a real `localv4 install` downloaded, where this machine has one."""
    real = sdist_dir() / SDIST_NAME
    if not real.is_file():
        pytest.skip(f"no downloaded {SDIST_NAME}: `localv4 install llama.cpp --cpu` fetches it")
    assert sha256_of(real) == LLAMA_CPP_PYTHON_SDIST_SHA256
    assert verified(real) == real
