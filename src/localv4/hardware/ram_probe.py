"""A short RAM bandwidth probe: decode speed off the GPU is bounded by it, and no tool reports it.

A STREAM-style copy (read one buffer, write another) on every usable CPU at once, with buffers
larger than the last-level cache of ordinary CPUs: the best round's (bytes read + bytes written)
per second. numpy's copy releases the GIL, so threads run in parallel. Bounded by a deadline so
`doctor` stays well under a second; a machine under load measures low, and says when it was taken.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

BUFFER_MIB = 128  # per buffer (two of them): above the L3 one core sees on desktop and server parts
MAX_THREADS = 64
DEADLINE_S = 0.5  # allocation and every round together
MIN_ROUNDS = 2  # the first round faults the pages in; the best of the others counts
MAX_ROUNDS = 8


@dataclass(frozen=True)
class RamBandwidth:
    gbps: float  # decimal GB/s, read + write bytes of a copy
    source: str  # how it was obtained, shown beside the figure


def measure_ram_bandwidth(threads: int, buffer_mib: int = BUFFER_MIB,
                          deadline_s: float = DEADLINE_S) -> RamBandwidth | None:
    """The copy bandwidth of this machine; None when numpy is missing or nothing could be timed."""
    try:
        import numpy as np
    except ImportError:
        return None
    threads = max(1, min(threads, MAX_THREADS))
    start = time.perf_counter()
    n = buffer_mib * 1024 * 1024 // 8
    src = np.ones(n)
    dst = np.empty_like(src)
    bounds = [(i * n // threads, (i + 1) * n // threads) for i in range(threads)]

    def copy(bound: tuple[int, int]) -> None:
        np.copyto(dst[bound[0]:bound[1]], src[bound[0]:bound[1]])

    rounds: list[float] = []
    with ThreadPoolExecutor(threads) as pool:
        while len(rounds) < MAX_ROUNDS and (
            len(rounds) < MIN_ROUNDS or time.perf_counter() - start < deadline_s
        ):
            t = time.perf_counter()
            list(pool.map(copy, bounds))
            rounds.append(time.perf_counter() - t)
    best = min(rounds[1:])
    gbps = round(2 * n * 8 / best / 1e9, 1)
    took = time.perf_counter() - start
    return RamBandwidth(gbps, f"measured: numpy copy, {threads} threads, 2x {buffer_mib} MiB, "
                              f"best of {len(rounds) - 1} round{'s' if len(rounds) > 2 else ''} in {took:.2f} s")
