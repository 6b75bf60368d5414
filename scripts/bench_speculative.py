#!/usr/bin/env python3
"""Speculative decoding on and off, through `localv4 up` and `localv4 bench`, same engine and model.

Serves the tiny V4-Flash 0731 (scripts/make_tiny_v4.py) with its DSpark draft, pulled from a local
fake hub by a recipe that names the draft as the real 0731 recipe does, on the native llama-server:
`up --speculative auto` then `up --speculative off`, `bench` after each (median of the runs,
llama-server's own timings and draft counters). The tiny model's weights and draft are random, so
the draft's acceptance is near zero and the "on" figure shows the draft's cost, not its gain: the
gain needs a trained draft (published: +45-100%, llama.cpp PR #25784).

Usage, from the repository root: python -m scripts.bench_speculative [--runs 3] [--tokens 64] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

def localv4(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "localv4", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, check=False, timeout=900)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from tests.support import tiny_v4
    from tests.support.hubserver import FakeHub
    from tests.support.tiny_v4 import DRAFT_REPO, recipe_with_draft

    variant = f"{tiny_v4.RECIPE_ID}:{tiny_v4.VARIANT}"

    gguf, draft = tiny_v4.tiny_v4_gguf_path("0731"), tiny_v4.tiny_v4_dspark_path()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ.update(LOCALV4_HOME=str(base / "localv4"), HF_HOME=str(base / "hf"), NO_COLOR="1")
        recipes = base / "localv4" / "config" / "recipes"
        recipes.mkdir(parents=True)
        (recipes / f"{tiny_v4.RECIPE_ID}.toml").write_text(
            recipe_with_draft(gguf.stat().st_size, draft.stat().st_size))
        for repo, path in ((f"{tiny_v4.REPO_NAMESPACE}/{gguf.stem}-GGUF", gguf), (DRAFT_REPO, draft)):
            (base / "hub" / repo).mkdir(parents=True)
            os.link(path, base / "hub" / repo / path.name)
        subprocess.run([sys.executable, "-m", "localv4", "install", "llama.cpp", "--cpu", "--yes"],
                       check=True, capture_output=True)
        results = {}
        with FakeHub(base / "hub") as hub:
            env = {"HF_ENDPOINT": hub.endpoint}
            for mode in ("auto", "off"):
                up = localv4("up", "--variant", variant, "--backend", "llama-server", "--port", "auto",
                             "--ctx", "4096", "--speculative", mode, env=env)
                if up.returncode != 0:
                    sys.exit(f"up --speculative {mode} failed: {up.stderr.strip()}")
                bench = localv4("bench", "--json", "--runs", str(args.runs), "--tokens", str(args.tokens), env=env)
                localv4("down", env=env)
                if bench.returncode != 0:
                    sys.exit(f"bench failed: {bench.stderr.strip()}")
                results[mode] = json.loads(bench.stdout)
    on, off = results["auto"], results["off"]
    ratio = on["generation_tok_s"] / off["generation_tok_s"]
    acceptance = (on["draft_accepted"] / on["draft_tokens"]) if on.get("draft_tokens") else None
    print(f"draft in use (on):     {on['draft']}")
    print(f"generation tok/s on:   {on['generation_tok_s']:.1f}  (median of {args.runs}, {on['source']})")
    print(f"generation tok/s off:  {off['generation_tok_s']:.1f}")
    print(f"ratio on/off:          {ratio:.2f}")
    print(f"draft acceptance:      {acceptance:.1%} of {on['draft_tokens']} drafted tokens"
          if acceptance is not None else "draft acceptance:      no counters")
    if args.json:
        args.json.write_text(json.dumps({"on": on, "off": off, "ratio": ratio, "acceptance": acceptance}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
