"""From nothing to an engine, timed as whole processes: installing localv4 into a fresh virtual
environment, then `localv4 install llama.cpp` building the native llama-server.

- venv (warm): `pip install REPO` into a new venv after a first, untimed install has filled pip's
  cache: what a second user on a machine, or a reinstall, pays. Then `localv4 doctor` and
  `localv4 plan` must run there, and `llama_cpp` must not be importable (nothing was compiled).
- venv (cold, --cold): the same with a new, empty pip cache (`--cache-dir`), so every wheel is
  fetched from the package index again and localv4's own wheel is built again.
- engine build (--build): `localv4 install llama.cpp --cpu --yes` from that venv into an empty
  home and an empty build cache (the pinned sdist stays cached: its download is not timed), with
  the CPU time of all its children and the peak size of the build cache while it ran; then a
  second empty home installs from the finished cache.

    python scripts/bench_install.py [--cold] [--build] [--json out.json]
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
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def timed(argv: list[str], env: dict[str, str] | None = None, watch: Path | None = None) -> dict:
    """Run ARGV to the end; wall seconds, children's CPU seconds, and WATCH's peak size in bytes."""
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
    finished = subprocess.run(argv, env={**os.environ, **(env or {})}, capture_output=True, text=True)
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
    parser.add_argument("--cold", action="store_true", help="also time an install with an empty pip cache")
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
            _, cold = fresh_venv_install(work, "cold", work / "empty-pip-cache")
            results["venv_cold_s"] = cold["wall_s"]
            print(f"fresh venv, pip install (empty pip cache): {cold['wall_s']:.1f} s")
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
