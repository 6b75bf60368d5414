"""Checking that serving leaves no process behind: a server's process tree, and which of it lives."""

from __future__ import annotations

import signal

import psutil


def takes_ctrl_c() -> None:
    """A child's `preexec_fn`: SIGINT as a terminal's foreground process gets it. A test run started
    as a background job (`cmd &` in a script) ignores SIGINT, its children inherit that, and a
    Python child then never raises KeyboardInterrupt: a test's Ctrl-C would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def tree_pids(pid: int) -> list[int]:
    """The process and all its descendants, now."""
    root = psutil.Process(pid)
    return [pid, *(c.pid for c in root.children(recursive=True))]


def alive(pids: list[int]) -> list[int]:
    """Those of `pids` still running (a zombie waiting for its parent counts as gone)."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            pass
    return running
