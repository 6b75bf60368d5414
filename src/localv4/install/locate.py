"""Find a native llama-server and learn what it can do, by running and reading it.

A llama.cpp build made from a source tarball reports "build 1", so its version says little: what
matters is whether it knows the model's architecture (its name is a string in the binary or in
libllama) and which flags its `--help` lists. Probing costs a few process starts, so results are
kept per (path, mtime): `doctor`, `plan` and `up` in one process pay once.
"""

from __future__ import annotations

import json
import mmap
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.install.layout import FIT_PARAMS_NAME, FLAVOURS, MANIFEST, RPC_NAMES, engines_root, server_in
from localv4.pins import LLAMA_CPP_PYTHON_VERSION

_PROBE_TIMEOUT_S = 60
_VERSION_RE = re.compile(r"^version:\s*(?P<version>.+)$", re.MULTILINE)
# "0.5.0-dev (build 1, commit 0c1e570)" (this tree) or "6500 (0c1e570)" (release builds, Homebrew).
_BUILD_RE = re.compile(r"\bbuild (?P<build>\d+)|^(?P<number>\d+) \(")
_COMMIT_RE = re.compile(r"\bcommit (?P<commit>[0-9a-f]{7,40}(?:-dirty)?)|\((?P<short>[0-9a-f]{7,40})\)")
_FLAG_RE = re.compile(r"(?:^|[\s,])(--?[A-Za-z][\w.-]*)")
_DEVICE_RE = re.compile(r"^\s+(?P<name>[A-Za-z]+)\d*: ", re.MULTILINE)
# Device-name prefixes that `--list-devices` prints, mapped to the build flavour they imply.
_DEVICE_FLAVOURS = {"CUDA": "cuda", "MTL": "metal", "Metal": "metal", "Vulkan": "vulkan"}


@dataclass(frozen=True)
class LlamaServerBinary:
    """A llama-server that ran: what it reports and which flags it takes."""

    path: Path
    version: str  # "0.5.0-dev (build 1, commit 0c1e570)", as the binary prints it
    build: int | None
    commit: str | None
    flavour: str | None  # "cuda" | "metal" | "vulkan" | "cpu"; None when neither a manifest nor a device says
    devices: tuple[str, ...]  # GPU devices it sees now, e.g. "CUDA0: NVIDIA H100 80GB HBM3"
    flags: frozenset[str] = field(repr=False)
    rpc_server: Path | None = None  # the RPC worker built alongside, if there is one
    installed_by_localv4: bool = False

    def supports(self, flag: str) -> bool:
        return flag in self.flags

    def knows_arch(self, arch: str) -> bool:
        """True when the binary or its libllama carries the name in its table of architecture names.

        The table is NUL-separated strings, so the name must stand alone: "nope" inside "k_nope" or
        "deepseek4" inside a symbol like "llama_model_deepseek4" does not count.
        """
        needle = b"\0" + arch.encode() + b"\0"
        return any(_file_contains(f, needle) for f in _arch_sources(self.path))

    @property
    def backends(self) -> tuple[str, ...]:
        """Compute backends this build has: its GPU flavour (if any) and always the CPU."""
        gpu = () if self.flavour in (None, "cpu") else (self.flavour,)
        return (*gpu, "cpu")


def flavour_order(gpu_vendor: str = "") -> tuple[str, ...]:
    """The build flavours best first for a plan whose layers go on GPU_VENDOR's GPU ("" for none):
    llama.cpp reaches an AMD GPU through Vulkan, so an AMD plan asks for that build first."""
    if gpu_vendor == "amd":
        return ("vulkan", *(f for f in FLAVOURS if f != "vulkan"))
    return FLAVOURS


def find_llama_server(flavours: tuple[str, ...] = FLAVOURS) -> LlamaServerBinary | None:
    """The best llama-server localv4 installed (pinned version, then FLAVOURS' order), else one on PATH."""
    for candidate in (*installed_servers(flavours), shutil.which("llama-server")):
        if candidate is None:
            continue
        try:
            return probe_llama_server(Path(candidate))
        except RuntimeFailure:
            continue  # a broken copy must not hide a working one further down the list
    return None


def installed_servers(flavours: tuple[str, ...] = FLAVOURS) -> list[Path]:
    """llama-server binaries of verified localv4 installs, the one `up` should prefer first."""
    root = engines_root()
    if not root.is_dir():
        return []
    installs = [d for d in root.iterdir()  # ".staging-*" and ".old-*" are installs in motion
                if not d.name.startswith(".") and (d / MANIFEST).is_file() and server_in(d).is_file()]
    installs.sort(key=lambda d: _preference(d, flavours))
    return [server_in(d) for d in installs]


def _preference(install: Path, flavours: tuple[str, ...]) -> tuple[bool, int, float]:
    version, _, flavour = install.name.rpartition("-")
    rank = flavours.index(flavour) if flavour in flavours else len(flavours)
    return (version != LLAMA_CPP_PYTHON_VERSION, rank, -install.stat().st_mtime)


def probe_llama_server(path: Path) -> LlamaServerBinary:
    """Run the binary (`--version`, `--help`, `--list-devices`); raises RuntimeFailure if it won't."""
    resolved = Path(path).expanduser().resolve()
    try:
        stat = resolved.stat()
    except OSError as err:
        raise RuntimeFailure(f"llama-server not found at {path}: {err.strerror}") from err
    return _probe(resolved, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _probe(path: Path, mtime_ns: int, size: int) -> LlamaServerBinary:
    reported = parse_version(_run(path, "--version"))
    if reported is None:
        raise RuntimeFailure(f"{path} did not report a llama.cpp version; is it a llama-server?")
    version, build, commit = reported
    devices = tuple(line.strip() for line in _run(path, "--list-devices").splitlines()
                    if _DEVICE_RE.match(line))
    manifest = _manifest_of(path)
    return LlamaServerBinary(
        path=path,
        version=version,
        build=build,
        commit=commit,
        flavour=manifest.get("flavour") or _flavour_from_devices(devices),
        devices=devices,
        flags=parse_help_flags(_run(path, "--help")),
        rpc_server=next((path.parent / n for n in RPC_NAMES if (path.parent / n).is_file()), None),
        installed_by_localv4=bool(manifest),
    )


@dataclass(frozen=True)
class FitParamsBinary:
    """llama-fit-params, built beside a llama-server: projects a model's memory per device from the
    GGUF headers alone, for the flags it lists (a subset of the server's)."""

    path: Path
    version: str
    flags: frozenset[str] = field(repr=False)


def fit_params_beside(server: LlamaServerBinary) -> FitParamsBinary | None:
    """The projection tool of the same build as SERVER, or None (an install from before it was built)."""
    path = server.path.parent / FIT_PARAMS_NAME
    if not path.is_file():
        return None
    return FitParamsBinary(path, server.version, parse_help_flags(_run(path, "--help")))


def rpc_server_flags(path: Path) -> frozenset[str]:
    """The options an rpc-server's `--help` lists (`-c`: its tensor cache, in newer builds)."""
    return parse_help_flags(_run(path, "--help"))


def parse_version(text: str) -> tuple[str, int | None, str | None] | None:
    """(version, build number, commit) from `--version` output; None if it has no version line."""
    match = _VERSION_RE.search(text)
    if not match:
        return None
    version = match.group("version").strip()
    build = _BUILD_RE.search(version)
    commit = _COMMIT_RE.search(version)
    return (
        version,
        int(build.group("build") or build.group("number")) if build else None,
        (commit.group("commit") or commit.group("short")) if commit else None,
    )


def parse_help_flags(help_text: str) -> frozenset[str]:
    """Every option named in the flag column of llama.cpp's `--help` (descriptions are skipped).

    Option lines are the least indented lines that start with a dash: column 0 in llama-server's
    help, column 2 in rpc-server's; wrapped descriptions sit further right, some starting with a dash."""
    dashed = [line for line in help_text.splitlines() if line.lstrip().startswith("-")]
    indent = min((len(line) - len(line.lstrip()) for line in dashed), default=0)
    flags: set[str] = set()
    for line in dashed:
        if len(line) - len(line.lstrip()) != indent:
            continue
        # The flag column ends at the first wide gap that is not followed by another flag.
        column = re.split(r"\s{2,}(?=[^-\s])", line.strip(), maxsplit=1)[0]
        flags.update(_FLAG_RE.findall(column))
    return frozenset(flags)


def _run(path: Path, arg: str) -> str:
    try:
        done = subprocess.run(
            [str(path), arg], capture_output=True, text=True, errors="replace",
            timeout=_PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RuntimeFailure(f"could not run {path} {arg}: {err}") from err
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeFailure(f"{path} {arg} failed (exit {done.returncode}): {last}")
    return done.stdout + done.stderr


def _manifest_of(server: Path) -> dict:
    """The build.json of a localv4 install (bin/llama-server -> ../build.json); {} for others."""
    try:
        return json.loads((server.parent.parent / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def _flavour_from_devices(devices: tuple[str, ...]) -> str | None:
    for line in devices:
        name = _DEVICE_RE.match("  " + line)
        if name and name.group("name") in _DEVICE_FLAVOURS:
            return _DEVICE_FLAVOURS[name.group("name")]
    return None


def _arch_sources(server: Path) -> list[Path]:
    """The binary and any libllama next to it or in ../lib (the Homebrew and shared-lib layouts)."""
    libs = [p for d in (server.parent, server.parent.parent / "lib") if d.is_dir()
            for p in d.glob("libllama*") if p.is_file()]
    return [server, *sorted(libs)]


def _file_contains(path: Path, needle: bytes) -> bool:
    stat = path.stat()
    return _file_contains_cached(path, stat.st_mtime_ns, stat.st_size, needle)


@lru_cache(maxsize=64)
def _file_contains_cached(path: Path, mtime_ns: int, size: int, needle: bytes) -> bool:
    if size == 0:
        return False
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(needle) != -1

