"""A short RAM bandwidth probe: decode speed off the GPU is bounded by it, and no tool reports it.

A STREAM-style copy (read one buffer, write another) on every usable CPU at once, with buffers
larger than the last-level cache of ordinary CPUs: the best round's (bytes read + bytes written)
per second. The copy is libc's memmove through ctypes, which needs nothing beyond the standard
library (numpy is not a dependency) and releases the GIL as any ctypes foreign call does, so the
threads copy in parallel (a `memoryview` slice copy holds the GIL: one core at a time). Bounded by
a deadline so `doctor` stays well under a second; a machine under load measures low, and says when
it was taken.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from localv4.paths import state_dir
from localv4.storage import NotWritable, write_atomic

BUFFER_MIB = 128  # per buffer (two of them): above the L3 one core sees on desktop and server parts
MAX_THREADS = 64
DEADLINE_S = 0.5  # allocation and every round together
KEPT_FILE = "ram-bandwidth.json"  # in the state dir: measured once per machine, `doctor` measures again
MIN_ROUNDS = 2  # the first round faults the pages in; the best of the others counts
MAX_ROUNDS = 8


@dataclass(frozen=True)
class RamBandwidth:
    gbps: float  # decimal GB/s, read + write bytes of a copy
    source: str  # how it was obtained, shown beside the figure


def measure_ram_bandwidth(threads: int, buffer_mib: int = BUFFER_MIB,
                          deadline_s: float = DEADLINE_S) -> RamBandwidth | None:
    """The copy bandwidth of this machine; None where ctypes is missing or nothing could be timed."""
    try:
        import ctypes
    except ImportError:  # a Python built without libffi
        return None
    threads = max(1, min(threads, MAX_THREADS))
    start = time.perf_counter()
    n = buffer_mib * 1024 * 1024
    try:
        src, dst = _buffer(ctypes, n), _buffer(ctypes, n)
    except (OSError, ValueError):  # no memory to map
        return None
    ctypes.memset(src, 1, n)  # written pages: untouched ones would all read the kernel's one zero page
    src_at, dst_at = ctypes.addressof(src), ctypes.addressof(dst)
    bounds = [(i * n // threads, (i + 1) * n // threads) for i in range(threads)]

    def copy(bound: tuple[int, int]) -> None:
        ctypes.memmove(dst_at + bound[0], src_at + bound[0], bound[1] - bound[0])

    from concurrent.futures import ThreadPoolExecutor  # here: a kept figure needs no threads

    rounds: list[float] = []
    with ThreadPoolExecutor(threads) as pool:
        while len(rounds) < MAX_ROUNDS and (
            len(rounds) < MIN_ROUNDS or time.perf_counter() - start < deadline_s
        ):
            t = time.perf_counter()
            list(pool.map(copy, bounds))
            rounds.append(time.perf_counter() - t)
    best = min(rounds[1:])
    gbps = round(2 * n / best / 1e9, 1)
    took = time.perf_counter() - start
    return RamBandwidth(gbps, f"measured: memmove copy, {threads} threads, 2x {buffer_mib} MiB, "
                              f"best of {len(rounds) - 1} round{'s' if len(rounds) > 2 else ''} in {took:.2f} s")


def _buffer(ctypes: Any, n: int) -> Any:
    """N bytes of private anonymous memory, in huge pages where Linux offers them: faulting in
    4 KiB pages alone took 0.2 s of the deadline on a VM (ctypes' own arrays are zeroed that way)."""
    import mmap

    if hasattr(mmap, "MAP_PRIVATE"):  # Unix; -1 maps anonymous memory
        region = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE)
        if hasattr(mmap, "MADV_HUGEPAGE"):
            region.madvise(mmap.MADV_HUGEPAGE)
    else:  # Windows: backed by the paging file, private to this process
        region = mmap.mmap(-1, n)
    return (ctypes.c_char * n).from_buffer(region)  # keeps the mapping alive as long as it lives


def kept_ram_bandwidth(threads: int, machine: str, remeasure: bool = False) -> RamBandwidth | None:
    """The figure measured before on this `machine` (a key naming the CPU, threads and RAM), else
    a new measurement, kept for the next time: `plan` and `up` must not spend half a second and
    every core on it each time. `remeasure`: measure now regardless (`doctor`)."""
    path = state_dir() / KEPT_FILE
    if not remeasure:
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
            if kept.get("machine") == machine:
                return RamBandwidth(float(kept["gbps"]), str(kept["source"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    measured = measure_ram_bandwidth(threads)
    if measured is not None:
        taken = time.strftime("%Y-%m-%d")
        measured = RamBandwidth(measured.gbps, f"{measured.source}, on {taken}")
        try:
            write_atomic(path, json.dumps({"machine": machine, **asdict(measured)}) + "\n")
        except (OSError, NotWritable):  # a read-only state dir: measured, just not kept
            pass
    return measured
