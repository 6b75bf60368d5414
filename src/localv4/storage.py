"""localv4's own small files, written safely: atomically replaced, and locked across processes;
and the free space a large write (a pull, a build) checks for first.

Every record localv4 keeps (server.json, the API key, the UI's record, hub listings, the login
item, a recorded machine) is read by other processes while it may be rewritten, so it is written
to a temp file beside it and renamed: a reader sees the old file or the new one, never half.
Locks use `filelock`, which works on every platform (fcntl does not exist on Windows).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from localv4.errors import RuntimeFailure


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


class NotWritable(RuntimeFailure):
    """A folder localv4 keeps its records in cannot be written: read-only, full, or not a folder."""

    def __init__(self, path: Path, err: OSError) -> None:
        # "Not a directory" names no path: say which file is in the way, as `doctor` does.
        why = why_unwritable(path) if err.errno == errno.ENOTDIR else None
        super().__init__(
            f"cannot write {path}: {why or err.strerror or err}; make that folder writable, or set "
            "LOCALV4_HOME to a folder that is."
        )


def ensure_folder(path: Path, mode: int = 0o777) -> Path:
    """Create `path` (and its parents) if needed; NotWritable when it cannot exist there."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=mode)
    except OSError as err:
        raise NotWritable(path, err) from None
    if not os.access(path, os.W_OK):  # a read-only filesystem: mkdir of an existing folder succeeds
        raise NotWritable(path, OSError(30, os.strerror(30)))
    return path


def why_unwritable(path: Path) -> str | None:
    """Why `path` could not be made or written (a file in its way, no permission), found without
    making anything; None when it could. For commands that only read, and `doctor`, to say so."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK):
        return f"{existing} is not writable"
    return None


def require_writable(path: Path) -> Path:
    """`path`, or NotWritable (with the fix) where it could not be made or written."""
    why = why_unwritable(path)
    if why:
        raise NotWritable(path, OSError(why))
    return path


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` (made with `mode`, e.g. 0o600 for a key), all or nothing."""
    ensure_folder(path.parent)
    try:
        _replace_with(path, data, mode)
    except OSError as err:
        raise NotWritable(path, err) from None


def _replace_with(path: Path, data: str | bytes, mode: int) -> None:
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

    Raises Busy when the wait runs out; NotWritable when the lock cannot be made there."""
    from filelock import FileLock, Timeout

    ensure_folder(lock_path.parent)
    lock = FileLock(str(lock_path), timeout=timeout, mode=0o664)
    try:
        lock.acquire()
    except Timeout:  # a TimeoutError, so an OSError too: caught first
        raise Busy(str(lock_path)) from None
    except OSError as err:
        raise NotWritable(lock_path, err) from None
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
