#!/usr/bin/env python3
"""The planner's decode estimate beside every published V4-Flash run (tests/published_runs.toml),
as the markdown table in docs/benchmarks.md. tests/test_published_runs.py asserts the same rows.

Usage: python scripts/estimates_vs_published.py
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def main() -> int:
    from test_published_runs import RUNS, estimate

    print("| machine (tests/machines) | engine | weights | ctx | published tok/s | estimate tok/s | |")
    print("|---|---|---|---|---|---|---|")
    for run in RUNS:
        weights = run.published_as or run.variant or "not published"
        if run.machine and run.variant:
            p = estimate(run)
            est = f"{p.speed.low:.1f}-{p.speed.high:.1f} ({p.placement})"
            verdict = "inside" if p.speed.low <= run.tok_s <= p.speed.high else f"outside: {run.not_estimated}"
        else:
            est, verdict = "-", f"not estimated: {run.not_estimated}"
        print(f"| {run.machine or '-'} | {run.engine} | {weights} | {run.context} | {run.tok_s:g} | {est} | {verdict} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
