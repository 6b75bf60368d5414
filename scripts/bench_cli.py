#!/usr/bin/env python3
"""Time `localv4 --help` and `localv4 plan` as whole processes (median of several runs).

Target: `--help` under 0.3 s. Usage: python -m scripts.bench_cli [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "localv4 --help": ["--help"],
    "localv4 plan": ["plan"],
    "localv4 plan --json": ["plan", "--json"],
}
HELP_TARGET_S = 0.3


def time_command(args: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "localv4", *args], capture_output=True, check=False)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    time_command(["--help"], 1)  # warm the bytecode cache
    results = {name: time_command(args, runs) for name, args in COMMANDS.items()}
    for name, seconds in results.items():
        print(f"{name:24} median {seconds * 1000:7.1f} ms over {runs} runs")
    ok = results["localv4 --help"] < HELP_TARGET_S
    print(f"--help target < {HELP_TARGET_S} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
