"""The prebuilt llama.cpp engine: xllamacpp's wheel (PyPI's, or a GPU one from its publisher's index,
chosen from the hardware by `install.wheels`), in localv4's own engine environment.

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
from localv4.hardware.profile import Hardware
from localv4.install.cache import locked, move_into_place
from localv4.install.layout import logs_dir
from localv4.install.progress import Reporter, run_logged
from localv4.install.wheels import SOURCE_BUILD, NoWheel, WheelChoice, choose_wheel, pypi_flavour
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
ROCM_VERSION_FILE = "/opt/rocm/.info/version"  # "7.2.0-43" where ROCm is installed
_DEVICES = ("import json, sys\nsys.path[:0] = sys.argv[1:]\nimport xllamacpp\n"
            "print(json.dumps([[d['name'], d['description'], d['type'].name] for d in xllamacpp.get_device_info()]))")


@dataclass(frozen=True)
class PrebuiltEngine:
    """An xllamacpp localv4 can run: its release, the wheel's flavour, and where it is imported from."""

    version: str
    flavour: str  # the wheel's: "cpu" | "metal" | "cu128" | "cu132" | "rocm-7.2.4" | "rocm-6.4.1" | "vulkan"
    site: Path | None  # the engine environment's site-packages; None: localv4's own interpreter's

    @property
    def llama_cpp_build(self) -> int:
        return XLLAMACPP_LLAMA_CPP_BUILD

    @property
    def where(self) -> str:
        return str(env_dir()) if self.site else f"{sys.executable} (its own site-packages)"


def wheel_flavour(os_name: str | None = None, arch: str | None = None) -> str | None:
    """The flavour of PyPI's wheel for an OS and CPU (as `Hardware` names them; default: this
    machine's), or None where PyPI holds none. The GPU wheels are chosen by `install.wheels`."""
    return pypi_flavour(os_name or platform.system(), arch or platform.machine())


def machine_glibc() -> tuple[int, int] | None:
    """This machine's glibc (the GPU wheels' Linux floor), or None where the C library is not glibc."""
    name, version = platform.libc_ver()
    parts = version.split(".")[:2]
    return (int(parts[0]), int(parts[1])) if name == "glibc" and len(parts) == 2 and all(
        p.isdigit() for p in parts) else None


def rocm_runtime() -> tuple[int, int] | None:
    """The installed ROCm runtime's version (its own record of it), or None where none is installed."""
    try:
        major, minor = Path(ROCM_VERSION_FILE).read_text(encoding="utf-8").strip().split(".")[:2]
        return int(major), int(minor.split("-")[0])
    except (OSError, ValueError):
        return None


def wheel_here(hardware: Hardware) -> WheelChoice | NoWheel:
    """The wheel `localv4 install xllamacpp` would put on this machine."""
    return choose_wheel(hardware, machine_glibc(), rocm_runtime())


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


def install_prebuilt(hardware: Hardware, reporter: Reporter) -> PrebuiltEngine:
    """Put the pinned xllamacpp wheel this machine's hardware calls for into localv4's engine environment."""
    choice = wheel_here(hardware)
    if isinstance(choice, NoWheel):
        raise RuntimeFailure(choice.why)
    return install_wheel(choice, reporter)


def install_wheel(choice: WheelChoice, reporter: Reporter) -> PrebuiltEngine:
    """Put CHOICE into localv4's engine environment (reused when an engine is there)."""
    final = env_dir()
    with locked(final):
        found = find_prebuilt()
        if found is not None and found.site is not None:
            return found
        log = logs_dir() / f"install-{PACKAGE}-{XLLAMACPP_VERSION}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"localv4 install {PACKAGE}\n", encoding="utf-8")
        reporter.note(f"installing the prebuilt llama.cpp engine ({choice.describe()}) into {final} "
                      f"({INSTALL_TIME}); log: {log}")
        staged = final.with_name(f".staging-{final.name}-{os.getpid()}")
        shutil.rmtree(staged, ignore_errors=True)
        try:
            site = _make_env(staged, choice, log, reporter)
            relative = site.resolve().relative_to(staged.resolve())
            record = {"version": XLLAMACPP_VERSION, "flavour": choice.flavour, "index_url": choice.index_url,
                      "site": str(relative)}
            (staged / MANIFEST).write_text(json.dumps(record), encoding="utf-8")
            move_into_place(staged, final)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    engine = find_prebuilt()
    assert engine is not None and engine.site is not None
    return engine


def _make_env(folder: Path, choice: WheelChoice, log: Path, reporter: Reporter) -> Path:
    """A venv in `folder` holding the chosen wheel; its site-packages."""
    reporter.stage("environment")
    if run_logged([sys.executable, "-m", "venv", str(folder)], log) != 0:
        raise RuntimeFailure(f"could not make a Python environment at {folder} (`python -m venv`; on Debian "
                             f"and Ubuntu: `apt install python3-venv`); log: {log}")
    python = folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    reporter.stage("download")
    pip = [str(python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
           "--only-binary", PACKAGE, *choice.pip_args, XLLAMACPP_REQUIREMENT]
    if run_logged(pip, log) != 0:
        raise RuntimeFailure(
            f"pip could not install {XLLAMACPP_REQUIREMENT} from {choice.source} (offline, or no {choice.flavour} "
            f"wheel for this platform): on a connected machine of the same kind run `{choice.download_command()}`, "
            f"copy the folder here and run `PIP_NO_INDEX=1 PIP_FIND_LINKS=xllamacpp-wheels localv4 install "
            f"{PACKAGE}`, or {SOURCE_BUILD}; full log: {log}")
    done = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S)
    return Path(done.stdout.strip())
