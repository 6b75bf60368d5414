"""Build the native llama-server and RPC worker from the pinned llama-cpp-python sdist.

Building from the sdist (rather than a llama.cpp git checkout) means the native server and the
Python bindings run the same llama.cpp, and PyPI is the only place anything comes from. The build
happens in a temp folder inside the build cache; only a build whose binary runs and knows
`deepseek4` is moved into the cache and then into the data dir, so a failed or interrupted build
leaves nothing that `up` would pick.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.install.cache import build_key, builds_dir, copy_tree_linked, locked, move_into_place
from localv4.install.estimates import BUILD_DISK_BYTES, describe_build_time
from localv4.install.layout import FIT_PARAMS_NAME, MANIFEST, RPC_NAMES, SERVER_NAME, install_dir, logs_dir, server_in
from localv4.install.locate import LlamaServerBinary, probe_llama_server
from localv4.install.progress import Reporter, SilentReporter, progress_lines, run_logged
from localv4.install.sdist import PACKAGE, fetch_sdist
from localv4.install.target import BuildTarget, cmake_args
from localv4.install.tools import diagnose_log, find_nvcc, require_disk, require_tools
from localv4.pins import LLAMA_CPP_PYTHON_VERSION, REQUIRED_ARCH

BUILT = (SERVER_NAME, RPC_NAMES[0], FIT_PARAMS_NAME)
BUILD_TARGETS = tuple(name.removesuffix(".exe") for name in BUILT)


@dataclass(frozen=True)
class NativeInstall:
    """What `install llama.cpp` left in place, and how it got there."""

    server: LlamaServerBinary
    install_dir: Path
    flavour: str
    how: str  # "reused" (already installed) | "cache" (copied from the build cache) | "built"
    log: Path | None


def install_llama_server(target: BuildTarget, jobs: int | None = None, force: bool = False,
                         reporter: Reporter | None = None) -> NativeInstall:
    """Leave a verified llama-server for TARGET in the data dir; build only when nothing reusable exists."""
    reporter = reporter or SilentReporter()
    flavour = target.flavour
    final = install_dir(LLAMA_CPP_PYTHON_VERSION, flavour)
    if not force and is_complete(final):
        return NativeInstall(verify(server_in(final)), final, flavour, "reused", None)

    args = cmake_args(target)
    cached = cached_build_dir(target)
    log: Path | None = None
    with locked(cached):
        how = "cache"
        if force or not is_complete(cached):
            require_tools(flavour)
            require_disk(cached.parent, BUILD_DISK_BYTES)
            log = logs_dir() / f"install-llama.cpp-{LLAMA_CPP_PYTHON_VERSION}-{flavour}.log"
            reporter.note(f"building llama.cpp for {flavour} ({describe_build_time(flavour, jobs)}); log: {log}")
            _build_into(cached, flavour, args, jobs or os.cpu_count() or 1, log, reporter)
            how = "built"
        reporter.stage("install")
        staged = final.with_name(f".staging-{final.name}-{os.getpid()}")
        shutil.rmtree(staged, ignore_errors=True)
        try:
            copy_tree_linked(cached, staged)
            verify(server_in(staged))
            move_into_place(staged, final)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    return NativeInstall(probe_llama_server(server_in(final)), final, flavour, how, log)


def installed_dir(target: BuildTarget) -> Path | None:
    """The data-dir install for TARGET's flavour at the pinned version, if there is one."""
    final = install_dir(LLAMA_CPP_PYTHON_VERSION, target.flavour)
    return final if is_complete(final) else None


def cached_build_dir(target: BuildTarget) -> Path:
    """Where TARGET's finished build is (or would be) kept in the build cache."""
    return builds_dir() / build_key(LLAMA_CPP_PYTHON_VERSION, target.flavour, [*cmake_args(target), *BUILD_TARGETS])


def is_complete(folder: Path) -> bool:
    """A build folder with its manifest and every built tool: only verified builds are ever given a
    manifest, and an install from before a tool joined the build is made again from the cache."""
    return (folder / MANIFEST).is_file() and all((folder / "bin" / name).is_file() for name in BUILT)


def verify(server: Path) -> LlamaServerBinary:
    """The binary runs, reports its version, and knows the model's architecture; else refuse it."""
    binary = probe_llama_server(server)
    if not binary.knows_arch(REQUIRED_ARCH):
        raise RuntimeFailure(
            f"{server} ({binary.version}) does not know the {REQUIRED_ARCH} architecture; "
            f"refusing it: run `localv4 install llama.cpp --force` to build llama.cpp from "
            f"{PACKAGE} {LLAMA_CPP_PYTHON_VERSION}"
        )
    return binary


def _build_into(cached: Path, flavour: str, args: list[str], jobs: int, log: Path, reporter: Reporter) -> None:
    """Download, configure, compile and verify in a temp folder; then rename it to CACHED."""
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"localv4 install llama.cpp: {PACKAGE} {LLAMA_CPP_PYTHON_VERSION}, {flavour}\n")
    cached.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=cached.parent))
    try:
        source = _unpack(fetch_sdist(log, reporter), work)
        build = work / "build"
        reporter.stage("configure")
        configure = ["cmake", "-S", str(source), "-B", str(build), *args]
        if flavour == "cuda":
            configure.append(f"-DCMAKE_CUDA_COMPILER={find_nvcc()}")
        _run_step("configure", configure, log, reporter)
        reporter.stage("compile")
        _run_step("compile", ["cmake", "--build", str(build), "--config", "Release", "-j", str(jobs),
                              "--target", *BUILD_TARGETS], log, reporter)
        reporter.stage("verify")
        out = work / "out"
        (out / "bin").mkdir(parents=True)
        for name in BUILT:
            shutil.copy2(_built(build, name), out / "bin" / name)
        binary = verify(out / "bin" / SERVER_NAME)
        _write_manifest(out, binary, flavour, args)
        move_into_place(out, cached)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _unpack(sdist: Path, work: Path) -> Path:
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(work, filter="data")
        else:  # Python < 3.10.12 / 3.11.4
            archive.extractall(work)
    source = work / sdist.name.removesuffix(".tar.gz") / "vendor" / "llama.cpp"
    if not (source / "CMakeLists.txt").is_file():
        raise RuntimeFailure(f"{sdist} has no vendor/llama.cpp; delete it and run install again")
    return source


def _run_step(step: str, command: list[str], log: Path, reporter: Reporter) -> None:
    if run_logged(command, log, progress_lines(reporter)) == 0:
        return
    tool = diagnose_log(log.read_text(errors="replace"))
    cause = f": {tool.name} is missing or broken: {tool.hint()}" if tool else ""
    raise RuntimeFailure(f"llama.cpp {step} failed{cause}; full log: {log}")


def _built(build: Path, name: str) -> Path:
    """Where cmake put a target: bin/ for single-config generators, bin/Release/ for the others."""
    for candidate in (build / "bin" / name, build / "bin" / "Release" / name):
        if candidate.is_file():
            return candidate
    raise RuntimeFailure(f"the build finished but {name} is not in {build / 'bin'}")


def _write_manifest(out: Path, binary: LlamaServerBinary, flavour: str, args: list[str]) -> None:
    manifest = {
        "package": PACKAGE,
        "version": LLAMA_CPP_PYTHON_VERSION,
        "flavour": flavour,
        "llama_cpp_version": binary.version,
        "llama_cpp_commit": binary.commit,
        "architectures_checked": [REQUIRED_ARCH],
        "cmake_args": args,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")

