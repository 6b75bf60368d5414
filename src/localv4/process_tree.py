"""Stopping a process and everything it started: the engine and the native UI both need it."""

from __future__ import annotations


def family(proc) -> list:
    """The process and everything it started (just the process when its children can't be read)."""
    import psutil

    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return [proc]


def stop_family(procs: list, timeout: float) -> None:
    """SIGTERM them all, then SIGKILL what is left after `timeout` seconds; never raises."""
    import psutil

    for p in procs:
        try:
            p.terminate()
            p.resume()  # a stopped (SIGSTOP) process acts on SIGTERM only once it runs again
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
