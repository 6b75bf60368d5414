"""The engine as an OS process: start it detached, find it again, stop it and all it started.

The engine gets its own session (so a Ctrl-C in the terminal that ran `up` does not reach a
detached engine) and its output goes to the log file. It is identified by pid *and* start time,
so a pid reused by the OS is never mistaken for, or killed as, our engine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from localv4.process_tree import family, stop_family

STOP_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to the engine if the foreground `up` dies (no orphans)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(argv: Sequence[str], env: Mapping[str, str], log: Path, tied_to_parent: bool) -> subprocess.Popen:
    """Start the engine in its own session, output appended to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
            close_fds=True,
            preexec_fn=_die_with_parent if tied_to_parent and sys.platform.startswith("linux") else None,
        )


def create_time(pid: int) -> float:
    import psutil

    return psutil.Process(pid).create_time()


def _reap(pid: int) -> None:
    """Collect the exit status of a dead child of ours, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def find(pid: int, started: float):
    """The live engine process with this pid and start time, or None."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - started) > 0.01:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return None
        return proc
    except psutil.Error:
        return None


def writing_to(log: Path) -> list:
    """Live processes with `log` open: an engine whose record was lost still writes its log there."""
    import psutil

    target = str(log.resolve())
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and any(f.path == target for f in proc.open_files()):
                found.append(proc)
        except psutil.Error:
            pass
    return found


def rss_bytes(proc) -> int:
    import psutil

    total = 0
    for p in family(proc):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def stop_processes(procs: list, timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop these processes and all they started (an engine known only by what it holds open)."""
    stop_family([member for proc in procs for member in family(proc)], timeout)
    for proc in procs:
        _reap(proc.pid)


def stop(pid: int, started: float, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the engine's whole tree, then SIGKILL what is left after `timeout` seconds."""
    proc = find(pid, started)
    if proc is None:
        _reap(pid)
        return
    stop_family(family(proc), timeout)
    _reap(pid)
