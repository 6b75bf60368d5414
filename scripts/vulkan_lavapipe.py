#!/usr/bin/env python3
"""The tiny DeepSeek V4 through llama.cpp's Vulkan build on Mesa's software Vulkan driver
(lavapipe), against the CPU build: the same greedy tokens, and what each decodes per second.

What it shows: the Vulkan flavour `localv4 install llama.cpp --vulkan` builds from the pinned tree
runs the `deepseek4` graph on a Vulkan device with every layer there, and `up` picks that build for
a plan whose layers go on an AMD GPU. This machine has no AMD GPU, so the AMD plan is the CPU plan
localv4 makes here with the placement an APU gets (Strix Halo: "unified", `Plan.gpu_vendor` "amd");
lavapipe stands in for the GPU (named by GGML_VK_VISIBLE_DEVICES=0: llama.cpp skips a CPU-type
Vulkan device otherwise). Each plan is served by localv4's own serving stage (`serve.api.up`,
in a private home whose engines are this user's), asked for greedy tokens with their top two
logprobs, and stopped. The two runs must agree token for token up to the first near-tie the suite
already allows (tests/support/tiny_v4.py: NEAR_TIE); lavapipe's tok/s says nothing about a real
GPU's.

Needs: sudo apt-get install mesa-vulkan-drivers glslc libvulkan-dev spirv-headers, with Vulkan
headers 1.3.272 or newer (Debian 12's are 1.3.239: unpack Debian 13's libvulkan-dev headers into a
folder and name it in CMAKE_PREFIX_PATH, as docs/benchmarks.md does); the CPU build
(`localv4 install llama.cpp --cpu`); the tiny V4 GGUF (scripts/make_tiny_v4.py). The Vulkan build
took 804 s on two shared cores here (862 CPU-seconds; docs/benchmarks.md).

Usage, from the repository root: python scripts/vulkan_lavapipe.py [--jobs N] [--tokens 24]
       [--cpu-server PATH] [--gguf PATH] [--json OUT]
(on Debian 12: CMAKE_PREFIX_PATH=/opt/vulkan-headers-1.4.309 python scripts/vulkan_lavapipe.py)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

import httpx  # noqa: E402

from localv4.errors import LocalV4Error, UsageError  # noqa: E402
from localv4.install.layout import engines_root, install_dir, server_in  # noqa: E402
from localv4.install.locate import LlamaServerBinary, probe_llama_server  # noqa: E402
from localv4.pins import LLAMA_CPP_PYTHON_VERSION  # noqa: E402
from localv4.planning.values import Plan  # noqa: E402
from tests.support import tiny_v4  # noqa: E402

PROMPT = "The capital of France is"
# llama.cpp's Vulkan backend passes over a device of the CPU type (lavapipe) unless it is named by
# index (ggml-vulkan.cpp: "If only CPU devices are available, return without devices"); a real GPU
# needs no such line. Lavapipe is the only Vulkan device here.
VISIBLE_DEVICES = {"GGML_VK_VISIBLE_DEVICES": "0"}
CONTEXT = 4096
# The engine's log level that prints where the layers and buffers went and the graph's splits
# (`up -- -lv 4`: it changes nothing else), and what is read back from that log.
LOG_LEVEL = ("-lv", "4")
_LOG_FACTS = {
    "layers on the GPU": re.compile(r"offloaded (\d+/\d+) layers to GPU"),
    "graph": re.compile(r"graph: (nodes = \d+, splits = \d+)"),
    "model buffers": re.compile(r"(\S+ model buffer size = +[\d.]+ MiB)"),
    "fused ops off": re.compile(r"fused (.+?) not supported, set to disabled"),
}


@dataclass(frozen=True)
class Run:
    """One plan served and asked once: which binary ran it, what it answered, what its log says."""

    label: str
    binary: str
    argv: tuple[str, ...]
    reply: dict
    log_facts: dict[str, list[str]]

    @property
    def decode_tok_s(self) -> float:
        return float(self.reply["timings"]["predicted_per_second"])

    @property
    def prompt_tok_s(self) -> float:
        return float(self.reply["timings"]["prompt_per_second"])


def fail(message: str, code: int = 1) -> None:
    print(f"vulkan_lavapipe: {message}", file=sys.stderr)
    raise SystemExit(code)


def vulkan_build(jobs: int | None) -> tuple[LlamaServerBinary, str, float]:
    """The Vulkan flavour through localv4's own install code: reused, copied from the build cache,
    or built (printing its progress notes); with how it got here and the seconds that took."""
    from localv4.hardware import detect
    from localv4.install.native import install_llama_server
    from localv4.install.progress import SilentReporter
    from localv4.install.target import BuildTarget
    from localv4.install.tools import has_nvcc, vulkan_problem

    class Notes(SilentReporter):
        def note(self, message: str) -> None:
            print(f"  {message}", flush=True)

    target = BuildTarget.for_machine(detect(), has_nvcc(), "vulkan", vulkan_problem())
    started = time.monotonic()
    done = install_llama_server(target, jobs, reporter=Notes())
    return done.server, done.how, time.monotonic() - started


def vulkan_device(binary: LlamaServerBinary) -> str:
    """The first Vulkan device the build lists (`--list-devices`), or a failure naming the driver."""
    found = [d for d in binary.devices if d.startswith("Vulkan")]
    if not found:
        fail(f"{binary.path} sees no Vulkan device: sudo apt-get install mesa-vulkan-drivers (lavapipe)")
    return found[0]


def cpu_build(path: Path | None) -> LlamaServerBinary:
    server = path or server_in(install_dir(LLAMA_CPP_PYTHON_VERSION, "cpu"))
    if not server.is_file():
        fail(f"no CPU build at {server}: run `localv4 install llama.cpp --cpu` (or pass --cpu-server)")
    return probe_llama_server(server)


def tiny_gguf(path: Path | None) -> Path:
    if path is not None:
        if not path.is_file():
            fail(f"--gguf {path}: no such file", code=2)
        return path
    cached = tiny_v4.maker().gguf_path(tiny_v4.maker().Build("preview", "test"))
    if not cached.is_file():
        fail(f"the tiny V4 GGUF is not built yet: {tiny_v4.build_command()}")
    return cached


def private_home(base: Path, gguf: Path) -> None:
    """A localv4 home of its own (its server record and logs apart from the user's), whose engines
    are this user's installs, with the tiny V4 recipe."""
    engines = engines_root()
    os.environ["LOCALV4_HOME"] = str(base)
    (base / "data" / "engines").mkdir(parents=True)
    (base / "data" / "engines" / "llama.cpp").symlink_to(engines)
    recipes = base / "config" / "recipes"
    recipes.mkdir(parents=True)
    (recipes / f"{tiny_v4.RECIPE_ID}.toml").write_text(tiny_v4.recipe_text(gguf.stat().st_size))


def plans() -> tuple[Plan, Plan]:
    """This machine's plan for the tiny V4, and the same with an AMD APU's placement."""
    from localv4.flow import UpOptions, make_plan

    here = make_plan(UpOptions(model=tiny_v4.RECIPE_ID, variant=tiny_v4.VARIANT, ctx=CONTEXT, parallel=1))
    return here, dataclasses.replace(here, placement="unified", gpu_vendor="amd")


def serve_and_ask(label: str, plan: Plan, gguf: Path, tokens: int) -> Run:
    """`up` the plan on llama-server, one greedy completion with the top two logprobs, `down`."""
    import psutil

    from localv4.serve import api

    server = api.up(plan, gguf, api.ServeOptions(backend="llama-server", port="auto", engine_args=LOG_LEVEL)).server
    try:
        argv = tuple(psutil.Process(server.pid).cmdline())
        reply = httpx.post(f"{server.base_url}/completion", timeout=600, json={
            "prompt": PROMPT, "n_predict": tokens, "temperature": 0, "n_probs": 2, "cache_prompt": False}).json()
    finally:
        api.down()
    log = Path(server.log).read_text(errors="replace")
    facts = {name: list(dict.fromkeys(re.sub(r"\s+", " ", m.group(1)) for m in rx.finditer(log)))
             for name, rx in _LOG_FACTS.items()}
    return Run(label, argv[0], argv, reply, facts)


def describe_match(vulkan: Run, cpu: Run) -> tuple[str, bool]:
    """The suite's verdict in words, with how far apart the two backends put the equal tokens'
    logprobs (the numbers behind "equal")."""
    match = tiny_v4.compare_greedy(vulkan.reply, cpu.reply)
    pairs = zip(vulkan.reply["completion_probabilities"][:match.same], cpu.reply["completion_probabilities"])
    drift = max((abs(a["logprob"] - b["logprob"]) for a, b in pairs), default=0.0)
    equal = f"{match.same}/{match.total} equal (their logprobs at most {drift:.3f} apart)"
    if match.same == match.total:
        return equal, True
    where = (f"first {equal}, then the CPU's top two {match.gap:.3f} apart (near-tie bound "
             f"{tiny_v4.NEAR_TIE}); Vulkan's token is {'one of them' if match.other_in_top_two else 'neither'}")
    return where, match.agrees


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, help="parallel compile jobs for a build (default: all cores)")
    parser.add_argument("--tokens", type=int, default=24, help="greedy tokens to compare (default 24)")
    parser.add_argument("--cpu-server", type=Path, help="the CPU build's llama-server (default: localv4's)")
    parser.add_argument("--gguf", type=Path, help="the tiny V4 GGUF (default: scripts/make_tiny_v4.py's cache)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    if (args.jobs is not None and args.jobs < 1) or args.tokens < 1:
        fail("--jobs and --tokens must be 1 or more", code=2)
    gguf = tiny_gguf(args.gguf)
    for name, value in VISIBLE_DEVICES.items():  # before any probe: the engine and `up` inherit it
        os.environ.setdefault(name, value)
    try:
        cpu = cpu_build(args.cpu_server)
        print("Vulkan build (localv4 install llama.cpp --vulkan):", flush=True)
        vulkan, how, seconds = vulkan_build(args.jobs)
        print(f"  {vulkan.version}, {how} in {seconds:.0f} s: {vulkan.path}", flush=True)
        device = vulkan_device(vulkan)
        with tempfile.TemporaryDirectory(prefix="vulkan-lavapipe-") as tmp:
            private_home(Path(tmp), gguf)
            here, amd = plans()
            runs = [serve_and_ask("Vulkan (AMD plan)", amd, gguf, args.tokens),
                    serve_and_ask("CPU (plan here)", here, gguf, args.tokens)]
    except UsageError as err:  # --vulkan without its build tools, say
        fail(str(err), code=2)
    except LocalV4Error as err:
        fail(str(err))
    on_vulkan, on_cpu = runs
    if Path(on_vulkan.binary).resolve() != vulkan.path or Path(on_cpu.binary).resolve() != cpu.path:
        fail(f"up ran {on_vulkan.binary} for the AMD plan and {on_cpu.binary} for the CPU plan; "
             f"expected {vulkan.path} and {cpu.path}")
    tokens, agrees = describe_match(on_vulkan, on_cpu)
    print(f"Vulkan device:        {device}")
    print(f"CPU build:            {cpu.version}: {cpu.path}")
    print(f"model:                {gguf.name} ({gguf.stat().st_size / 1e6:.0f} MB), prompt {PROMPT!r}")
    for run, plan in ((on_vulkan, amd), (on_cpu, here)):
        print(f"{run.label + ':':<22}placement {plan.placement}, GPU {plan.gpu_vendor or 'none'} -> {run.binary}")
        print(f"  {'engine flags:':<20}{' '.join(run.argv[3:])}")  # after `-m GGUF`, localv4's first two
        for name, found in run.log_facts.items():
            print(f"  {name + ':':<20}{'; '.join(found) or '-'}")
    print(f"greedy tokens:        {tokens}")
    print(f"decode tok/s:         Vulkan on lavapipe {on_vulkan.decode_tok_s:.1f}, CPU {on_cpu.decode_tok_s:.1f}")
    print(f"prompt tok/s:         Vulkan on lavapipe {on_vulkan.prompt_tok_s:.1f}, CPU {on_cpu.prompt_tok_s:.1f}")
    if args.json:
        args.json.write_text(json.dumps({
            "device": device, "vulkan_build": {"how": how, "seconds": round(seconds), "path": str(vulkan.path)},
            "tokens": tokens, "agrees": agrees,
            "runs": [{"label": r.label, "binary": r.binary, "argv": list(r.argv), "log": r.log_facts,
                      "decode_tok_s": r.decode_tok_s, "prompt_tok_s": r.prompt_tok_s,
                      "content": r.reply["content"]} for r in runs]}, indent=2) + "\n")
    if not agrees:
        fail("the Vulkan build's greedy tokens differ from the CPU build's beyond the near-tie bound")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
