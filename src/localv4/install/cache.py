"""The download and build cache, kept apart from localv4's data dir on purpose.

The data dir holds what `up` runs; the cache holds what is expensive to make again: the pinned
sdist and every finished, verified build, keyed by version, flavour and a hash of the build
settings. Installing from the cache is a hard-link copy, so a second data dir (a test's temp home,
a reinstall after `--force`, a CI run on the same machine) gets a build in a second instead of ten
minutes. LOCALV4_BUILD_CACHE moves the builds; the default follows the platform's cache folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path

from localv4 import env
from localv4.paths import platform_cache_dir
from localv4.storage import exclusive


def cache_root() -> Path:
    """The platform's cache, even under LOCALV4_HOME: a test's or a second home reuses the builds."""
    return platform_cache_dir()


def builds_dir() -> Path:
    override = env.get(env.BUILD_CACHE)
    return Path(override).expanduser() if override else cache_root() / "builds"


def sdist_dir() -> Path:
    return cache_root() / "sdist"


def build_key(version: str, flavour: str, settings: list[str]) -> str:
    """`0.3.36-cuda-1a2b3c4d5e6f`: a change of cmake arguments is a different build."""
    digest = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:12]
    return f"{version}-{flavour}-{digest}"


def copy_tree_linked(source: Path, destination: Path) -> None:
    """Copy a folder, hard-linking files where the filesystem allows (no extra space, instant)."""
    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, destination, copy_function=link_or_copy, symlinks=True)


def move_into_place(staged: Path, final: Path) -> None:
    """Rename a finished folder to its final name; an older copy there is swapped out, then removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(staged, final)
    shutil.rmtree(old, ignore_errors=True)


def locked(path: Path) -> contextlib.AbstractContextManager[None]:
    """An exclusive lock on PATH.lock: two installs of one build wait instead of both building."""
    return exclusive(path.with_name(path.name + ".lock"))
