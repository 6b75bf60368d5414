"""A recorded Homebrew for the macOS install path, which cannot run here.

`brew` is a script on PATH that answers the calls localv4 makes (`brew --prefix`, `brew install
llama.cpp`, `brew upgrade llama.cpp`) with brew 4's output, and pours a "bottle" the way brew does:
Cellar/llama.cpp/<build>/{bin/llama-server,lib/libllama.dylib}, linked from <prefix>/bin. The
llama-server in a bottle prints what a Homebrew build prints (`version: 6500 (0c1e570)`, the
Metal device); its libllama holds the architecture-name table, with or without `deepseek4`.
Every call is recorded, so a test can say which brew commands ran.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

COMMIT = {"6500": "0c1e570", "9100": "7b3f2a1"}
BREW_SCRIPT = """#!/bin/bash
# brew 4.x, as localv4 calls it
echo "$*" >> {calls}
case "$1 $2" in
  "--prefix ") echo {prefix} ;;
  "install llama.cpp"|"upgrade llama.cpp")
    bottle=$(< {bottle_file}) || exit 1
    if [ "$1" = upgrade ]; then
      echo "==> Upgrading 1 outdated package:"
      echo "llama.cpp $(< {installed_file}) -> $bottle"
    fi
    echo "==> Fetching downloads for: llama.cpp"
    echo "==> Pouring llama.cpp--$bottle.arm64_sequoia.bottle.tar.gz"
    /bin/mv {bottles}/$bottle {cellar}/$bottle
    /bin/ln -sfn ../Cellar/llama.cpp/$bottle/bin/llama-server {prefix}/bin/llama-server
    echo "$bottle" > {installed_file}
    echo "🍺  {cellar}/$bottle: 412 files, 38.9MB"
    ;;
  *) echo "Error: Unknown command: $1" >&2; exit 1 ;;
esac
"""
SERVER_SCRIPT = """#!/bin/bash
# llama-server from Homebrew's llama.cpp {build} (Apple M4 Pro)
case "$1" in
  --version)
    echo "version: {build} ({commit})" >&2
    echo "built with Apple clang version 17.0.0 (clang-1700.0.13.5) for arm64-apple-darwin24.6.0" >&2 ;;
  --list-devices)
    echo "Available devices:"
    echo "  MTL0: Apple M4 Pro (36864 MiB, 36863 MiB free)" ;;
  --help)
    echo "-h,    --help, --usage                  print usage and exit"
    echo "--version                               show version and build info"
    echo "-m,    --model FNAME                    model path to load"
    echo "-c,    --ctx-size N                     size of the prompt context" ;;
esac
"""
# A Mach-O header, then the NUL-separated architecture names llama.cpp keeps in libllama.
_MACHO = b"\xcf\xfa\xed\xfe\x0c\x00\x00\x01" + b"\0" * 24
_ARCHS = ("llama", "qwen3", "deepseek", "deepseek2")


@dataclass(frozen=True)
class FakeHomebrew:
    """Homebrew in ROOT: brew in root/bin, its prefix in root/homebrew."""

    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def prefix(self) -> Path:
        return self.root / "homebrew"

    @property
    def cellar(self) -> Path:
        return self.prefix / "Cellar" / "llama.cpp"

    @property
    def calls(self) -> list[str]:
        """The brew commands run so far, in order ("--prefix", "upgrade llama.cpp")."""
        log = self.root / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def server(self, build: str) -> Path:
        return self.cellar / build / "bin" / "llama-server"

    def path_env(self) -> str:
        """PATH with this brew first."""
        return os.pathsep.join((str(self.bin), os.environ.get("PATH", "")))


def fake_homebrew(root: Path, installed: tuple[str, bool] | None,
                  bottle: tuple[str, bool] | None = None) -> FakeHomebrew:
    """Homebrew with llama.cpp INSTALLED as (build, knows deepseek4), or not at all; `brew install`
    or `brew upgrade` pours BOTTLE, the same kind of pair."""
    brew = FakeHomebrew(root)
    for folder in (brew.bin, brew.prefix / "bin", brew.cellar, root / "bottles"):
        folder.mkdir(parents=True, exist_ok=True)
    if installed:
        _keg(brew.cellar / installed[0], *installed)
        (brew.prefix / "bin" / "llama-server").symlink_to(f"../Cellar/llama.cpp/{installed[0]}/bin/llama-server")
        (root / "installed").write_text(installed[0] + "\n")
    if bottle:
        _keg(root / "bottles" / bottle[0], *bottle)
        (root / "bottle").write_text(bottle[0] + "\n")
    script = brew.bin / "brew"
    script.write_text(BREW_SCRIPT.format(
        calls=root / "calls.log", prefix=brew.prefix, cellar=brew.cellar, bottles=root / "bottles",
        bottle_file=root / "bottle", installed_file=root / "installed"))
    script.chmod(0o755)
    return brew


def _keg(folder: Path, build: str, knows_deepseek4: bool) -> None:
    (folder / "bin").mkdir(parents=True)
    (folder / "lib").mkdir()
    server = folder / "bin" / "llama-server"
    server.write_text(SERVER_SCRIPT.format(build=build, commit=COMMIT[build]))
    server.chmod(0o755)
    names = (*_ARCHS, "deepseek4") if knows_deepseek4 else _ARCHS
    (folder / "lib" / "libllama.dylib").write_bytes(_MACHO + b"\0".join(n.encode() for n in names) + b"\0")
