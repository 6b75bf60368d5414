"""localv4's own small files, written safely: atomically replaced, and locked across processes;
and the free space a large write (a pull, a build) checks for first.

Every record localv4 keeps (server.json, the API key, the UI's record, hub listings, the login
item, a recorded machine) is read by other processes while it may be rewritten, so it is written
to a temp file beside it and renamed: a reader sees the old file or the new one, never half.
Locks use `filelock`, which works on every platform (fcntl does not exist on Windows).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` (made with `mode`, e.g. 0o600 for a key), all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def symlink_atomic(target: str, link: Path) -> None:
    """Point `link` at `target`, replacing whatever link was there, never leaving none."""
    tmp = _temp_beside(link)
    os.symlink(target, tmp)
    os.replace(tmp, link)


class Busy(Exception):
    """Another process holds the lock (for longer than the caller would wait)."""


@contextlib.contextmanager
def exclusive(lock_path: Path, timeout: float = -1) -> Iterator[None]:
    """Hold the lock file `lock_path`, waiting up to `timeout` s (-1: as long as it takes).

    Raises Busy when the wait runs out."""
    from filelock import FileLock, Timeout

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path), timeout=timeout, mode=0o664)
    try:
        lock.acquire()
    except Timeout:
        raise Busy(str(lock_path)) from None
    try:
        yield
    finally:
        lock.release()


def free_bytes(path: Path) -> int:
    """Free space on the filesystem that holds `path` (or its nearest existing parent)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return shutil.disk_usage(Path.cwd()).free
