"""Throughput of `localv4 pull` against `hf download` of the same files from the same local fake hub.

Generates a split-GGUF repo of --gb gigabytes, serves it with tests/support/hubserver.py (a separate
process), then times each client into its own empty HF cache, alternating, --runs times each.
Reports MB/s per run and the ratio of the best runs (localv4 / hf; the target is >= 0.95).
localv4's time includes its sha256 check of every byte; `hf download` checks nothing.
`--xet`: the fake hub offers the files through its Xet CAS too, so both clients go through hf_xet.

    python -m scripts.bench_pull --gb 1.5 --parts 3 --runs 2 [--xet]    # from the repository root
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.hubserver import make_gguf_repo

REPO_ROOT = Path(__file__).resolve().parents[1]

HUB_REPO = "bench-org/Bench-V4-GGUF"
LAYOUT = "{quant}/Bench-V4-{quant}-{part:05d}-of-{parts:05d}.gguf"
QUANT = "Q4_BENCH"

RECIPE = """\
extends = "deepseek-v4-flash"

[model]
id = "bench-v4"
name = "Bench V4"

[[series]]
id = "bench"
format = "gguf"
repo = "{repo}"
layout = "{layout}"

[[series.variants]]
id = "{quant}"
size_bytes = {size}
parts = {parts}
bits_per_weight = 4.0
quality = 50
"""


def start_hub(root: Path, xet: bool) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "tests.support.hubserver", "--root", str(root)]
    proc = subprocess.Popen(command + (["--xet"] if xet else []), stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    line = proc.stdout.readline()
    m = re.search(r"HF_ENDPOINT=(\S+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"the fake hub did not start: {line!r}")
    return proc, m.group(1)


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({result.returncode}): {result.stderr[-500:]}")
    return elapsed


def blob_bytes(hf_home: Path) -> int:
    """What a repo's blobs hold (huggingface_hub's Xet downloads link them to shared blobs)."""
    return sum(p.stat().st_size for p in hf_home.glob("hub/models--*/blobs/*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=1.5, help="total size of the generated variant")
    parser.add_argument("--parts", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--xet", action="store_true", help="serve through the fake Xet CAS as well")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp dir (removed after)")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_pull_"))
    root, home = work / "hub", work / "localv4"
    part_size = int(args.gb * 1e9 / args.parts)
    print(f"generating {args.parts} x {part_size / 1e9:.2f} GB in {root} ...", flush=True)
    if not (root / HUB_REPO).exists():
        make_gguf_repo(root, HUB_REPO, LAYOUT, {QUANT: args.parts}, part_size)
    total = sum(p.stat().st_size for p in (root / HUB_REPO).rglob("*.gguf"))
    (home / "config" / "recipes").mkdir(parents=True, exist_ok=True)
    (home / "config" / "recipes" / "bench.toml").write_text(RECIPE.format(
        repo=HUB_REPO, layout=LAYOUT, quant=QUANT, size=total, parts=args.parts))

    hub, endpoint = start_hub(root, args.xet)
    clients = {
        "localv4 pull": [sys.executable, "-m", "localv4", "pull", f"bench-v4:{QUANT}", "--json"],
        "hf download": [shutil.which("hf") or "hf", "download", HUB_REPO, "--include", f"{QUANT}/*"],
    }
    times: dict[str, list[float]] = {name: [] for name in clients}
    try:
        for run in range(args.runs):
            order = list(clients) if run % 2 == 0 else list(reversed(clients))
            for name in order:
                hf_home = work / "hf"
                shutil.rmtree(hf_home, ignore_errors=True)
                env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(hf_home),
                       "LOCALV4_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1",
                       "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
                seconds = timed(clients[name], env)
                got = blob_bytes(hf_home)
                if got != total:
                    raise SystemExit(f"{name} left {got} bytes of blobs, expected {total}")
                times[name].append(seconds)
                rate = total / seconds / 1e6
                print(f"run {run + 1}: {name:13s} {seconds:6.2f} s  {rate:7.1f} MB/s", flush=True)
    finally:
        hub.terminate()
        hub.wait()
        shutil.rmtree(work / "hf", ignore_errors=True)
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    best = {name: min(ts) for name, ts in times.items()}
    ratio = best["hf download"] / best["localv4 pull"]
    print(json.dumps({"bytes": total, "files": args.parts, "runs": args.runs,
                      "best_seconds": {k: round(v, 3) for k, v in best.items()},
                      "best_mb_per_s": {k: round(total / v / 1e6, 1) for k, v in best.items()},
                      "transport": "xet" if args.xet else "http",
                      "ratio_localv4_over_hf": round(ratio, 3), "target": 0.95}, indent=2))


if __name__ == "__main__":
    main()
