"""From nothing to an engine, timed as whole processes: installing localv4 into a fresh virtual
environment, then an engine: the prebuilt one serving a first token (--cold), the native build (--build).

- venv (warm): `pip install REPO` into a new venv after a first, untimed install has filled pip's
  cache: what a second user on a machine, or a reinstall, pays. Then `localv4 doctor` and
  `localv4 plan` must run there, and `llama_cpp` must not be importable (nothing was compiled).
- cold start (--cold), issue 21's newcomer: `pipx install REPO` (pipx from PyPI in a scratch venv;
  PIPX_HOME, PIPX_BIN_DIR and pip's cache new and empty, pip reading no configuration file, so
  every wheel comes from PyPI and localv4's own wheel is built again), then `localv4 up
  gemma3-test --yes` (the Gemma 3 270M test recipe, its GGUF already in a scratch HF cache, pulled
  from a local fake hub) until it is ready, then a first token through the endpoint. PATH holds
  only links to a few tools (TOOLS) and the pipx bin folder: no compiler, no cmake, no make, no
  llama-server. The run fails unless `up` installed the prebuilt engine, built nothing (no build
  cache, no native engine in the home) and downloaded no weights. Goal: under 2 minutes from
  `pipx install` to the first token.
- engine build (--build): `localv4 install llama.cpp --cpu --yes` from that venv into an empty
  home and an empty build cache (the pinned sdist stays cached: its download is not timed), with
  the CPU time of all its children and the peak size of the build cache while it ran; then a
  second empty home installs from the finished cache.

    python -m scripts.bench_install [--cold] [--build] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.gemma_home import GemmaHome, gemma_home
from tests.support.gemma_recipe import RECIPE_ID, SERVED
from tests.support.hubserver import FakeHub

REPO_ROOT = Path(__file__).resolve().parents[1]
COLD_GOAL_S = 120.0
# What the cold start may find on PATH: a shell's basics, git, and the GPU driver's tool where there
# is one. The compilers a build needs must not be found (COMPILERS).
TOOLS = ("sh", "bash", "env", "uname", "git", "nvidia-smi")
COMPILERS = ("cc", "gcc", "g++", "c++", "clang", "clang++", "cmake", "make", "ninja", "nvcc", "llama-server")


def timed(argv: list[str], env: dict[str, str] | None = None, watch: Path | None = None,
          base: dict[str, str] | None = None) -> dict:
    """Run ARGV (environment: BASE, default os.environ, updated with ENV) to the end; wall seconds,
    children's CPU seconds, and WATCH's peak size in bytes."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            peak[0] = max(peak[0], _tree_bytes(watch))

    sampler = threading.Thread(target=sample, daemon=True)
    if watch is not None:
        sampler.start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    finished = subprocess.run(argv, env={**(os.environ if base is None else base), **(env or {})},
                              capture_output=True, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    done.set()
    if finished.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({finished.returncode}):\n{finished.stdout[-2000:]}{finished.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_bytes": peak[0] or None,
            "stdout": finished.stdout}


def _tree_bytes(folder: Path | None) -> int:
    if folder is None or not folder.exists():
        return 0
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def fresh_venv_install(work: Path, name: str, pip_cache: Path | None) -> tuple[Path, dict]:
    venv = work / name
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if pip_cache is not None:
        pip += ["--cache-dir", str(pip_cache)]
    return venv, timed([*pip, str(REPO_ROOT)])


def check_runs_without_bindings(venv: Path) -> None:
    python = str(venv / "bin" / "python")
    if subprocess.run([python, "-c", "import llama_cpp"], capture_output=True).returncode == 0:
        sys.exit("llama_cpp is importable in the fresh venv: the plain install compiled the bindings")
    for command in (["doctor", "--json"], ["plan"]):
        done = subprocess.run([str(venv / "bin" / "localv4"), *command], capture_output=True, text=True)
        if done.returncode not in (0, 1) or "Traceback" in done.stderr:
            sys.exit(f"localv4 {' '.join(command)} failed in the fresh venv:\n{done.stderr[-2000:]}")


def toolbox(folder: Path) -> str:
    """A folder of links to the TOOLS found on this PATH."""
    folder.mkdir(parents=True)
    for name in TOOLS:
        found = shutil.which(name)
        if found:
            (folder / name).symlink_to(found)
    return str(folder)


def check_no_compiler(path: str) -> None:
    """Fail if PATH reaches any of COMPILERS."""
    reachable = [c for c in COMPILERS if shutil.which(c, path=path)]
    if reachable:
        sys.exit(f"the cold start's PATH reaches {reachable}")


@dataclass(frozen=True)
class Pipx:
    """pipx in its own scratch venv, installing into scratch folders with an empty pip cache."""

    work: Path

    @property
    def program(self) -> str:
        return str(self.work / "pipx-venv" / "bin" / "pipx")

    @property
    def bin_dir(self) -> Path:
        return self.work / "pipx-bin"

    @property
    def env(self) -> dict[str, str]:
        return {"PIPX_HOME": str(self.work / "pipx-home"), "PIPX_BIN_DIR": str(self.bin_dir),
                "PIPX_MAN_DIR": str(self.work / "pipx-man"), "PIP_CACHE_DIR": str(self.work / "pip-cache")}

    def install_pipx(self, base: dict[str, str]) -> dict:
        subprocess.run([sys.executable, "-m", "venv", str(self.work / "pipx-venv")], check=True)
        pip = str(self.work / "pipx-venv" / "bin" / "pip")
        return timed([pip, "install", "-q", "--disable-pip-version-check", "pipx"], self.env, base=base)


def pypi_only() -> dict[str, str]:
    """os.environ for a pip that reads no configuration file and no local wheel folder: PyPI alone,
    as a newcomer's pip (this machine's pip.conf adds local indexes and a constraints file)."""
    local = ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT", "PIP_NO_INDEX")
    return {**{k: v for k, v in os.environ.items() if k not in local}, "PIP_CONFIG_FILE": os.devnull}


def cold_start(work: Path) -> dict:
    """pipx install, `up`, the first token; each step's wall seconds and what was checked."""
    home = gemma_home(work / "home")  # the weights are present: the point is the engine
    pipx, base = Pipx(work), pypi_only()
    got_pipx = pipx.install_pipx(base)
    build_cache = work / "build-cache"
    env = {**pipx.env, **home.env, "LOCALV4_BUILD_CACHE": str(build_cache),
           "PATH": os.pathsep.join([str(pipx.bin_dir), toolbox(work / "tools")])}
    check_no_compiler(env["PATH"])
    installed = timed([pipx.program, "install", str(REPO_ROOT)], env, base=base)
    check_no_compiler(env["PATH"])
    localv4 = str(pipx.bin_dir / "localv4")
    with FakeHub(home.hub_root) as hub:
        env["HF_ENDPOINT"] = hub.endpoint
        up = timed([localv4, "up", RECIPE_ID, "--yes", "--port", "auto", "--json"], env, base=base)
        downloaded = hub.served_bytes("*.gguf")
    try:
        ready = ready_event(up["stdout"])
        first = first_token(ready["endpoint"])
    finally:
        subprocess.run([localv4, "down"], env={**os.environ, **env}, capture_output=True)
    check_nothing_built(home, build_cache, ready["backend"], downloaded)
    total = installed["wall_s"] + up["wall_s"] + first
    return {"pipx_install_pipx_s": got_pipx["wall_s"], "pipx_install_s": installed["wall_s"],
            "up_ready_s": up["wall_s"], "first_token_s": round(first, 2), "total_s": round(total, 1),
            "backend": ready["backend"], "tools_on_path": sorted(p.name for p in (work / "tools").iterdir())}


def ready_event(stdout: str) -> dict:
    """The "ready" event of `up --json`."""
    from localv4.events import decode

    events = [e for e in map(decode, stdout.splitlines()) if e]
    ready = [e for e in events if e["event"] == "ready"]
    if not ready:
        sys.exit(f"`localv4 up --json` printed no ready event: {stdout[-2000:]}")
    return ready[-1]


def first_token(endpoint: str) -> float:
    """Seconds for a one-token chat completion through the endpoint `up` printed."""
    body = {"model": SERVED, "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}
    started = time.monotonic()
    reply = httpx.post(f"{endpoint}/chat/completions", json=body, timeout=120)
    reply.raise_for_status()
    if reply.json()["usage"]["completion_tokens"] != 1:
        sys.exit(f"the first token did not come: {reply.text[:500]}")
    return time.monotonic() - started


def check_nothing_built(home: GemmaHome, build_cache: Path, backend: str, downloaded: int) -> None:
    """`up` served with the prebuilt engine, built nothing and pulled no weights."""
    engines = sorted(p.name for p in (home.localv4_home / "data" / "engines").iterdir())
    built = build_cache.exists() and any(build_cache.iterdir())
    if backend != "xllamacpp" or built or not all(e.startswith("xllamacpp-") for e in engines) or downloaded:
        sys.exit(f"the cold start was not the prebuilt engine alone: backend {backend}, engines {engines}, "
                 f"build cache {'used' if built else 'empty'}, {downloaded} GGUF bytes downloaded")


def engine_build(venv: Path, work: Path) -> dict:
    localv4 = str(venv / "bin" / "localv4")
    cache = work / "build-cache"
    env = {"LOCALV4_HOME": str(work / "home-build"), "LOCALV4_BUILD_CACHE": str(cache)}
    built = timed([localv4, "install", "llama.cpp", "--cpu", "--yes"], env, watch=cache)
    env["LOCALV4_HOME"] = str(work / "home-copy")
    copied = timed([localv4, "install", "llama.cpp", "--cpu", "--yes"], env)
    return {"build": built, "from_cache": copied}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", action="store_true",
                        help="also time pipx install, `up` with the prebuilt engine and a first token, no compiler")
    parser.add_argument("--build", action="store_true", help="also time the native llama-server build")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    results: dict = {"cores": os.cpu_count(), "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        work = Path(tmp)
        fresh_venv_install(work, "prime", None)  # fills pip's own cache (and builds localv4's wheel once)
        venv, warm = fresh_venv_install(work, "warm", None)
        check_runs_without_bindings(venv)
        results["venv_warm_s"] = warm["wall_s"]
        print(f"fresh venv, pip install (warm cache): {warm['wall_s']:.1f} s; doctor and plan run; no llama_cpp")
        if args.cold:
            cold = cold_start(work / "cold")
            results["cold"] = cold
            print(f"cold start, no compiler on PATH (only {', '.join(cold['tools_on_path'])}): pipx install . "
                  f"{cold['pipx_install_s']:.1f} s (empty pip cache, PyPI only), localv4 up {RECIPE_ID} --yes "
                  f"{cold['up_ready_s']:.1f} s ({cold['backend']} installed, nothing built), first token "
                  f"{cold['first_token_s']:.2f} s: {cold['total_s']:.1f} s in all (goal < {COLD_GOAL_S:.0f} s); "
                  f"getting pipx itself {cold['pipx_install_pipx_s']:.1f} s")
        if args.build:
            engine = engine_build(venv, work)
            build, copy = engine["build"], engine["from_cache"]
            results.update(build_wall_s=build["wall_s"], build_cpu_s=build["cpu_s"],
                           build_peak_bytes=build["peak_bytes"], from_cache_s=copy["wall_s"])
            print(f"localv4 install llama.cpp --cpu: {build['wall_s']:.0f} s wall, {build['cpu_s']:.0f} s CPU, "
                  f"peak build cache {build['peak_bytes'] / 1e9:.2f} GB")
            print(f"the same from the finished build cache: {copy['wall_s']:.1f} s")
        shutil.rmtree(work / "build-cache", ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
