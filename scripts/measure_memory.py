#!/usr/bin/env python3
"""Measure what DeepSeek V4-Flash's runtime memory is, on the real engine: KV, state and compute per context.

Starts the native llama-server on the measurement build of scripts/make_tiny_v4.py (every
dimension that sets memory per token as published) at each context and KV cache type, with the
command line `localv4 up` runs for a CPU plan with that KV type (built by the engine module
itself), and reads what the engine itself reports
(model, KV, DSV4 compressor state, compute and output buffers) and the process's peak RSS. A
context that cannot be allocated here (predicted from the smaller ones to exceed this machine's
available memory, or refused by the engine) is skipped and recorded as such.

    python scripts/measure_memory.py [--server PATH] [--release preview] [--kv f16,q8_0,q4_0]
                                     [--contexts 4096,32768,131072,524288,1048576]
                                     [--out docs/memory.json]

    python scripts/measure_memory.py --engine mlx-vlm [--release preview] [--contexts 128,256,512]

`--engine mlx-vlm` fills mlx-vlm's own deepseek_v4 caches on the test build's MLX counterpart
(the contexts this CPU fills in minutes) and writes docs/memory-mlx.json.

The result (docs/memory.json) is what the recipes' memory constants are fitted from and what
tests/test_memory_model.py holds the planner to; docs/memory.md explains the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
MIB = 1024 * 1024
CONTEXTS = (4096, 32768, 131072, 524288, 1048576)
KV_TYPES = ("f16", "q8_0", "q4_0")
HEADROOM = 3 * 1024 * MIB  # left for the other users of this machine
RECIPES = {"preview": "deepseek-v4-flash", "0731": "deepseek-v4-flash-0731"}

BUFFER = re.compile(r"(?P<buf>\S+) (?P<kind>model|KV|compute|output) buffer size =\s+(?P<mib>[\d.]+) MiB")
STATE = re.compile(r"DSV4 (?P<name>\w+) state buffer size =\s+(?P<mib>[\d.]+) MiB")


@dataclass
class Measurement:
    release: str
    engine: str
    kv_type: str
    context: int
    status: str  # "ok", or why there is no figure
    model_mib: float = 0.0
    kv_mib: float = 0.0  # raw (window) + CSA + HCA + indexer caches
    state_mib: float = 0.0  # DSV4 compressor state
    compute_mib: float = 0.0
    output_mib: float = 0.0
    peak_rss_mib: float = 0.0
    rss_anon_mib: float = 0.0


def parse_log(text: str) -> dict[str, float]:
    """The engine's own buffer figures, MiB, summed over buffers (compute: the last reservation)."""
    totals = {"model": 0.0, "KV": 0.0, "output": 0.0}
    compute: dict[str, float] = {}
    for m in BUFFER.finditer(text):
        if m["kind"] == "compute":
            compute[m["buf"]] = float(m["mib"])
        else:
            totals[m["kind"]] += float(m["mib"])
    state = sum(float(m["mib"]) for m in STATE.finditer(text))
    return {"model_mib": totals["model"], "kv_mib": totals["KV"], "output_mib": totals["output"],
            "state_mib": state, "compute_mib": sum(compute.values())}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "RssAnon"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def server_argv(server: Path, gguf: Path, release: str, context: int, kv_type: str, port: int) -> list[str]:
    """What `localv4 up` runs for a CPU plan of this context and KV type (the engine module's own
    command line, not a copy of it), plus -lv 4 so the engine logs its buffer sizes."""
    import dataclasses

    from localv4.planning import machine as planner
    from localv4.hardware import detect
    from localv4.install.locate import probe_llama_server
    from localv4.recipes import load_catalog
    from localv4.serve.engines import llama_server
    from localv4.serve.engines.base import EngineInputs

    recipe = load_catalog().recipe(RECIPES[release])
    smallest = min((v for v in recipe.variants if v.format == "gguf"), key=lambda v: v.size_bytes)
    roomy = dataclasses.replace(detect(), apple=None, gpus=(), ram_available=1 << 50)  # the run says if it fits
    plan = dataclasses.replace(planner.plan(roomy, recipe, variant=smallest, ctx=context), kv_type=kv_type)
    inputs = EngineInputs(plan, gguf, "127.0.0.1", port, api_key_file=None, reasoning=None)
    return [*llama_server.command_for(probe_llama_server(server), inputs).argv, "-lv", "4"]


def serve_once(argv: list[str], port: int, usage_of, timeout: float = 600,
               env: dict[str, str] | None = None) -> tuple[str, dict, str]:
    """Start llama-server (ARGV, listening on PORT), wait for /health, take USAGE_OF(pid) there,
    stop it: ("ok" or why not, that usage, the whole log)."""
    import httpx

    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        status, usage = "timed out", {}
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    tail = Path(log.name).read_text(errors="replace").strip().splitlines()[-3:]
                    status = "engine refused: " + " | ".join(tail)
                    break
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        status, usage = "ok", usage_of(proc.pid)
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return status, usage, Path(log.name).read_text(errors="replace")


def run_once(server: Path, gguf: Path, release: str, context: int, kv_type: str, timeout: float = 600) -> Measurement:
    port = free_port()
    status, usage, text = serve_once(server_argv(server, gguf, release, context, kv_type, port), port,
                                     proc_status, timeout)
    figures = parse_log(text) if status == "ok" else {}
    return Measurement(release, "llama-server", kv_type, context, status, **figures,
                       peak_rss_mib=usage.get("VmHWM", 0.0), rss_anon_mib=usage.get("RssAnon", 0.0))


def predicted_runtime_bytes(done: list[Measurement], context: int) -> float | None:
    """A straight line through the two largest measured contexts, extended to `context`."""
    ok = sorted((m for m in done if m.status == "ok"), key=lambda m: m.context)[-2:]
    if len(ok) < 2:
        return None
    (a, b) = ok
    slope = (runtime_bytes(asdict(b)) - runtime_bytes(asdict(a))) / (b.context - a.context)
    return runtime_bytes(asdict(b)) + slope * (context - b.context)


def measure(server: Path, gguf: Path, release: str, contexts, kv_types) -> list[Measurement]:
    results = []
    for kv_type in kv_types:
        done: list[Measurement] = []
        for context in contexts:
            need = predicted_runtime_bytes(done, context)
            room = available_bytes() - HEADROOM
            if need is not None and need > room:
                m = Measurement(release, "llama-server", kv_type, context,
                                f"skipped: needs ~{need / 2**30:.1f} GiB, {room / 2**30:.1f} GiB free here")
            else:
                m = run_once(server, gguf, release, context, kv_type)
            print(json.dumps(asdict(m)), flush=True)
            done.append(m)
        results += done
    return results


@dataclass(frozen=True)
class Fit:
    """What a recipe holds for one release and KV type: caches + state = fixed + per_token x ctx
    (the slope through the smallest and largest contexts, raised until no measured point lies
    above the line), and the compute buffer as measured at each context."""

    release: str
    kv_type: str
    fixed_bytes: int
    per_token_bytes: int
    compute: tuple[tuple[int, int], ...]
    worst_error: float  # of fixed + per_token x ctx + compute(ctx) against the measured runtime


def fit(measurements: list[dict]) -> list[Fit]:
    fits = []
    ok = [m for m in measurements if m["status"] == "ok"]
    for release, kv_type in sorted({(m["release"], m["kv_type"]) for m in ok}):
        rows = sorted((m for m in ok if (m["release"], m["kv_type"]) == (release, kv_type)),
                      key=lambda m: m["context"])
        caches = [(m["context"], (m["kv_mib"] + m["state_mib"] + m["output_mib"]) * MIB) for m in rows]
        (c0, r0), (c1, r1) = caches[0], caches[-1]
        per_token = round((r1 - r0) / (c1 - c0)) if c1 > c0 else 0
        fixed = round(max(r - per_token * c for c, r in caches))
        compute = tuple((m["context"], round(m["compute_mib"] * MIB)) for m in rows)
        worst = max(abs(fixed + per_token * c - r) / (r + b) for (c, r), (_, b) in zip(caches, compute))
        fits.append(Fit(release, kv_type, fixed, per_token, compute, worst))
    return fits


def recipe_lines(f: Fit) -> str:
    """The fit as the recipe writes it."""
    points = ", ".join(f"[{c}, {b}]" for c, b in f.compute)
    return f"fixed_bytes = {f.fixed_bytes}\nper_token_bytes = {f.per_token_bytes}\ncompute_buffer = [{points}]"


def runtime_bytes(m: dict) -> float:
    """Everything beyond the weights: what the recipe's figures predict."""
    return (m["kv_mib"] + m["state_mib"] + m["compute_mib"] + m["output_mib"]) * MIB


def report(data: dict) -> str:
    """The measurements as a markdown table, then the fitted constants."""
    lines = ["| release | KV type | context | KV MiB | state MiB | compute MiB | runtime MiB | peak RSS MiB | status |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for m in data["measurements"]:
        figures = (f"{m['kv_mib']:.1f} | {m['state_mib']:.2f} | {m['compute_mib']:.1f} | "
                   f"{runtime_bytes(m) / MIB:.1f} | {m['peak_rss_mib']:.0f}") if m["status"] == "ok" else "| | | |"
        lines.append(f"| {m['release']} | {m['kv_type']} | {m['context']:,} | {figures} | {m['status']} |")
    lines += ["", "| release | KV type | caches + state: fixed bytes | bytes per token | worst error |",
              "|---|---|---:|---:|---:|"]
    fits = fit(data["measurements"])
    for f in fits:
        lines.append(f"| {f.release} | {f.kv_type} | {f.fixed_bytes:_} | {f.per_token_bytes:_} | {f.worst_error:.1%} |")
    for f in fits:
        lines += ["", f"{f.release} {f.kv_type}, as the recipe holds it:", "```toml", recipe_lines(f), "```"]
    return "\n".join(lines)


MLX_CONTEXTS = (128, 256, 512)  # what this CPU fills in minutes: ~3 prompt tokens/s on the MLX build


def _mlx_cache_bytes(cache) -> int:
    """Bytes an mlx-lm/mlx-vlm cache object holds now (a CacheList sums its members)."""
    if hasattr(cache, "caches"):
        return sum(_mlx_cache_bytes(c) for c in cache.caches)
    if hasattr(cache, "nbytes"):
        return int(cache.nbytes)
    arrays = cache.state if isinstance(cache.state, (list, tuple)) else [cache.state]
    return sum(a.nbytes for a in arrays if a is not None)


def measure_mlx(model_dir: Path, release: str, contexts) -> list[Measurement]:
    """mlx-vlm's deepseek_v4 on the MLX build: the caches its own `make_cache` makes, filled with
    `context` prompt tokens in one forward pass and one decode step, and MLX's peak memory
    (weights included).

    MLX allocates its caches as tokens arrive (no up-front reservation like llama-server's), so
    a figure needs the context really filled; the test build is the one this CPU can fill."""
    import mlx.core as mx
    from mlx_vlm import load

    model, _ = load(str(model_dir))
    weights = mx.get_active_memory()
    results = []
    for context in contexts:
        cache = model.make_cache()
        mx.reset_peak_memory()
        tokens = mx.array([[8 + i % 400 for i in range(context)]])  # ordinary tokens, no specials
        out = model.language_model(tokens, cache=cache)
        mx.eval(getattr(out, "logits", out))
        # One decode step, as generation goes on: a one-pass prefill leaves the whole prompt in
        # the window caches, which the next token trims back to the sliding window.
        out = model.language_model(mx.array([[9]]), cache=cache)
        mx.eval(getattr(out, "logits", out))
        results.append(Measurement(
            release, "mlx-vlm", "f32", context, "ok", model_mib=weights / MIB,
            kv_mib=sum(_mlx_cache_bytes(c) for c in cache) / MIB,
            compute_mib=(mx.get_peak_memory() - weights) / MIB, peak_rss_mib=mx.get_peak_memory() / MIB))
        print(f"mlx-vlm {context} tokens: cache {results[-1].kv_mib:.2f} MiB, peak {results[-1].peak_rss_mib:.0f} MiB",
              flush=True)
        del cache, out
    return results


def find_server() -> Path:
    from localv4.install.locate import find_llama_server

    binary = find_llama_server()
    if binary is None:
        raise SystemExit("no native llama-server: run `localv4 install llama.cpp --cpu --yes` first")
    return Path(binary.path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", type=Path, help="llama-server to run (default: the one localv4 runs)")
    parser.add_argument("--release", default="preview", choices=("preview", "0731"))
    parser.add_argument("--kv", default=",".join(KV_TYPES), help="KV cache types, comma-separated")
    parser.add_argument("--contexts", default=",".join(map(str, CONTEXTS)))
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "memory.json")
    parser.add_argument("--report", action="store_true", help="print the table and fitted constants of --out and exit")
    parser.add_argument("--engine", default="llama-server", choices=("llama-server", "mlx-vlm"),
                        help="mlx-vlm: the test build's MLX counterpart at --contexts (default 128,256,512), "
                             "written to docs/memory-mlx.json unless --out says otherwise")
    args = parser.parse_args(argv)
    if args.report:
        print(report(json.loads(args.out.read_text())))
        return 0
    sys.path.insert(0, str(HERE))
    import make_tiny_v4

    if args.engine == "mlx-vlm":
        return main_mlx(args, argv, make_tiny_v4)

    server = args.server or find_server()
    gguf = make_tiny_v4.make_gguf(make_tiny_v4.Build(args.release, "measure"))
    results = measure(server, gguf, args.release, [int(c) for c in args.contexts.split(",")], args.kv.split(","))
    previous = json.loads(args.out.read_text())["measurements"] if args.out.is_file() else []
    kept = [m for m in previous if (m["release"], m["engine"]) != (args.release, "llama-server")]
    args.out.write_text(json.dumps({
        "command": "python scripts/measure_memory.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "gguf": gguf.name,
        "machine": f"{os.cpu_count()} CPUs, {available_bytes() / 2**30:.0f} GiB available at the end",
        "measurements": kept + [asdict(m) for m in results],
    }, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


def main_mlx(args, argv, make_tiny_v4) -> int:
    model_dir = make_tiny_v4.make_mlx(make_tiny_v4.Build(args.release, "test"))
    contexts = MLX_CONTEXTS if args.contexts == ",".join(map(str, CONTEXTS)) else [int(c) for c in args.contexts.split(",")]
    out = args.out if args.out != HERE.parent / "docs" / "memory.json" else HERE.parent / "docs" / "memory-mlx.json"
    results = measure_mlx(model_dir, args.release, contexts)
    out.write_text(json.dumps({
        "command": "python scripts/measure_memory.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": model_dir.name,
        "machine": f"{os.cpu_count()} CPUs, {available_bytes() / 2**30:.0f} GiB available at the end",
        "measurements": [asdict(m) for m in results],
    }, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
