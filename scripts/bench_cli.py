#!/usr/bin/env python3
"""Time `localv4 --help` and `localv4 plan` as whole processes, side by side in one run.

The runs alternate (help, plan, plan --json, help, ...) so a busy machine slows them alike; each
figure is the median of N runs. Targets: `--help` under 0.3 s, and `plan` at most 2x `--help`
(a plan probes the hardware, but keeps the RAM bandwidth it measured once per machine).
A warm-up round first writes the bytecode, as a user's install has it (pip compiles it at install
time), and the kept bandwidth. The children run without PYTHONDONTWRITEBYTECODE, which some shells
and sandboxes set: with it every run compiles every module from source again, which no installed
tool pays and which weighs on `plan` (more modules) more than on `--help`.

Usage: python -m scripts.bench_cli [--runs N]
"""

from __future__ import annotations

import argparse
import os
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
PLAN_TARGET_RATIO = 2.0


AS_INSTALLED = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def run_once(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "localv4", *args], capture_output=True, check=False, env=AS_INSTALLED)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    for args in COMMANDS.values():  # warm-up: bytecode, and the RAM bandwidth kept for this machine
        run_once(args)
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):
        for name, args in COMMANDS.items():
            samples[name].append(run_once(args))
    medians = {name: statistics.median(times) for name, times in samples.items()}
    help_s = medians["localv4 --help"]
    for name, seconds in medians.items():
        print(f"{name:24} median {seconds * 1000:7.1f} ms over {runs} runs  ({seconds / help_s:.2f}x --help)")
    help_ok = help_s < HELP_TARGET_S
    plan_ok = medians["localv4 plan"] <= PLAN_TARGET_RATIO * help_s
    print(f"--help target < {HELP_TARGET_S} s: {'met' if help_ok else 'MISSED'}")
    print(f"plan target <= {PLAN_TARGET_RATIO:g}x --help: {'met' if plan_ok else 'MISSED'}")
    return 0 if help_ok and plan_ok else 1


if __name__ == "__main__":
    sys.exit(main())
