"""The prebuilt llama.cpp engine: xllamacpp's wheel from PyPI, in localv4's own engine environment.

`<data_dir>/engines/xllamacpp-<pin>/` is a venv made by `python -m venv` from localv4's own
interpreter (so it has a pip even where localv4's environment has none); pip installs the pinned
wheel into it, in a staging folder renamed into place once the wheel is there, so a failed or
interrupted install leaves nothing `up` would pick. The user's Python is never touched. The
launcher runs in localv4's interpreter with that environment's site-packages first on its path
(the wheel is abi3 and has no dependencies).

An xllamacpp at the pin that localv4's own interpreter already imports (the `test` extra) is used
as it is: tests and CI never pip-install an engine. Nothing here imports xllamacpp: its library
is 100 MB, and `plan` asks whether it is installed every time.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.install.cache import locked, move_into_place
from localv4.install.layout import logs_dir
from localv4.install.progress import Reporter, run_logged
from localv4.paths import data_dir
from localv4.pins import XLLAMACPP_LLAMA_CPP_BUILD, XLLAMACPP_REQUIREMENT, XLLAMACPP_VERSION

PACKAGE = "xllamacpp"
MANIFEST = "engine.json"
# Measured: `localv4 install xllamacpp` (venv, then pip fetching the 33.8 MB wheel at ~200 MB/s)
# took 10.3 s wall on the 2-core machine of docs/benchmarks.md; a slower link adds the download.
INSTALL_TIME = "about 10 s and a 34 MB download"
# What the wheel gives up against a build, measured (scripts/bench_serve.py --engines, docs/benchmarks.md):
# `doctor` quotes it. The wheel is built without -march=native; that machine has AVX-512.
MEASURED_VS_NATIVE = ("measured at about 0.9x the native build's tok/s (0.83x and 0.93x in two runs; "
                      "Gemma 3 270M on a 2-core AVX-512 EPYC, docs/benchmarks.md)")
_PROBE_TIMEOUT_S = 120
_DEVICES = ("import json, sys\nsys.path[:0] = sys.argv[1:]\nimport xllamacpp\n"
            "print(json.dumps([[d['name'], d['description'], d['type'].name] for d in xllamacpp.get_device_info()]))")


@dataclass(frozen=True)
class PrebuiltEngine:
    """An xllamacpp localv4 can run: its release, the wheel's flavour, and where it is imported from."""

    version: str
    flavour: str  # "cpu" | "metal": what PyPI's wheel for this platform computes on
    site: Path | None  # the engine environment's site-packages; None: localv4's own interpreter's

    @property
    def llama_cpp_build(self) -> int:
        return XLLAMACPP_LLAMA_CPP_BUILD

    @property
    def where(self) -> str:
        return str(env_dir()) if self.site else f"{sys.executable} (its own site-packages)"


def wheel_flavour(os_name: str | None = None, arch: str | None = None) -> str | None:
    """The flavour of PyPI's wheel for an OS and CPU (as `Hardware` names them; default: this
    machine's), or None where PyPI holds none. Its GPU wheels (CUDA, ROCm, Vulkan) are on the
    publisher's own index, not reachable from here: not tried."""
    os_name = (os_name or platform.system()).lower()
    arch = (arch or platform.machine()).lower()
    if os_name == "darwin":
        return "metal" if arch == "arm64" else "cpu"
    if os_name == "linux" and arch in ("x86_64", "amd64", "aarch64", "arm64"):
        return "cpu"
    if os_name == "windows" and arch in ("amd64", "x86_64"):
        return "cpu"
    return None


def env_dir() -> Path:
    return data_dir() / "engines" / f"{PACKAGE}-{XLLAMACPP_VERSION}"


def find_prebuilt() -> PrebuiltEngine | None:
    """The pinned xllamacpp: localv4's engine environment first, else this interpreter's own copy."""
    manifest = env_dir() / MANIFEST
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))
        site = env_dir() / record["site"]
        if record["version"] == XLLAMACPP_VERSION and (site / PACKAGE).is_dir():
            return PrebuiltEngine(XLLAMACPP_VERSION, record["flavour"], site)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    flavour = wheel_flavour()
    return PrebuiltEngine(version, flavour, None) if version == XLLAMACPP_VERSION and flavour else None


def other_version() -> str | None:
    """An xllamacpp in this interpreter that is not the pin (named in the way out), else None."""
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    return None if version == XLLAMACPP_VERSION else version


def devices(engine: PrebuiltEngine) -> list[tuple[str, str, str]]:
    """What the engine sees: (name, description, type) per device, asked in a child interpreter
    (loading the library takes a second and must not happen in the CLI)."""
    paths = [str(engine.site)] if engine.site else []
    try:
        done = subprocess.run([sys.executable, "-c", _DEVICES, *paths], capture_output=True, text=True,
                              timeout=_PROBE_TIMEOUT_S)
        return [tuple(d) for d in json.loads(done.stdout)]
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []


def install_prebuilt(reporter: Reporter) -> PrebuiltEngine:
    """Put the pinned xllamacpp into localv4's engine environment (reused when it is there)."""
    flavour = wheel_flavour()
    if flavour is None:
        raise RuntimeFailure(f"PyPI has no {PACKAGE} wheel for {platform.system()} {platform.machine()}: "
                             "`localv4 install llama.cpp` builds llama-server here from source")
    final = env_dir()
    with locked(final):
        found = find_prebuilt()
        if found is not None and found.site is not None:
            return found
        log = logs_dir() / f"install-{PACKAGE}-{XLLAMACPP_VERSION}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"localv4 install {PACKAGE}\n", encoding="utf-8")
        reporter.note(f"installing the prebuilt llama.cpp engine ({XLLAMACPP_REQUIREMENT}, PyPI's "
                      f"{flavour} wheel) into {final} ({INSTALL_TIME}); log: {log}")
        staged = final.with_name(f".staging-{final.name}-{os.getpid()}")
        shutil.rmtree(staged, ignore_errors=True)
        try:
            site = _make_env(staged, log, reporter)
            relative = site.resolve().relative_to(staged.resolve())
            (staged / MANIFEST).write_text(json.dumps(
                {"version": XLLAMACPP_VERSION, "flavour": flavour, "site": str(relative)}), encoding="utf-8")
            move_into_place(staged, final)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    engine = find_prebuilt()
    assert engine is not None and engine.site is not None
    return engine


def _make_env(folder: Path, log: Path, reporter: Reporter) -> Path:
    """A venv in `folder` holding the pinned wheel; its site-packages."""
    reporter.stage("environment")
    if run_logged([sys.executable, "-m", "venv", str(folder)], log) != 0:
        raise RuntimeFailure(f"could not make a Python environment at {folder} (`python -m venv`; on Debian "
                             f"and Ubuntu: `apt install python3-venv`); log: {log}")
    python = folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    reporter.stage("download")
    pip = [str(python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
           "--only-binary", PACKAGE, XLLAMACPP_REQUIREMENT]
    if run_logged(pip, log) != 0:
        raise RuntimeFailure(f"pip could not install {XLLAMACPP_REQUIREMENT} (offline? on a connected machine: "
                             f"`pip download --no-deps {XLLAMACPP_REQUIREMENT}`); full log: {log}")
    done = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S)
    return Path(done.stdout.strip())
