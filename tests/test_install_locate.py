"""Finding llama-server: which install `up` gets, and reading a build's progress and flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from localv4.install import find_llama_server
from localv4.install.layout import engines_root
from localv4.install.locate import installed_servers, parse_help_flags, parse_version
from localv4.install.progress import build_percent

# The start of `llama-server --help` as this tree prints it (options at column 0, wrapped text indented).
HELP_EXCERPT = """\
----- common params -----

-h,    --help, --usage                  print usage and exit
-t,    --threads N                      number of CPU threads to use during generation (default: -1)
                                        (env: LLAMA_ARG_THREADS)
-fitt, --fit-target MiB0,MiB1,MiB2,...  target margin per device for --fit, comma-separated list of values,
--load-mode MODE                        how to load the model weights:
                                        - auto: mmap, unless a device does not support it
                                        --spec-ngram-*-size-n or --spec-ngram-mod-n-match
-ncmoe, --n-cpu-moe N                   keep the Mixture of Experts (MoE) weights of the first N layers in the
"""


def test_help_flags_come_from_the_option_column_only() -> None:
    assert parse_help_flags(HELP_EXCERPT) == {
        "-h", "--help", "--usage", "-t", "--threads", "-fitt", "--fit-target", "--load-mode",
        "-ncmoe", "--n-cpu-moe",
    }


# `rpc-server --help` as tools/rpc/rpc-server.cpp prints it: every line indented by two spaces.
RPC_HELP = """\
Usage: rpc-server [options]

options:
  -h, --help                       show this help message and exit
  -t, --threads N                  number of threads for the CPU device (default: 8)
  -d, --device <dev1,dev2,...>     comma-separated list of devices
  -H, --host HOST                  host to bind to (default: 127.0.0.1)
  -p, --port PORT                  port to bind to (default: 50052)
  -c, --cache                      enable local file cache

"""


def test_rpc_server_help_flags_are_read_from_its_indented_column() -> None:
    assert parse_help_flags(RPC_HELP) == {
        "-h", "--help", "-t", "--threads", "-d", "--device", "-H", "--host", "-p", "--port", "-c", "--cache",
    }


@pytest.mark.parametrize(("text", "expected"), [
    ("version: 0.5.0-dev (build 1, commit 0c1e570)\nbuilt with GNU 12.2.0 for Linux x86_64\n",
     ("0.5.0-dev (build 1, commit 0c1e570)", 1, "0c1e570")),
    ("version: 6500 (0c1e570a)\nbuilt with Apple clang version 17.0.0 for arm64-apple-darwin24.4.0\n",
     ("6500 (0c1e570a)", 6500, "0c1e570a")),
    ("usage: something else\n", None),
])
def test_version_lines_of_source_and_release_builds(text: str, expected) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize(("line", "percent"), [
    ("[ 45%] Building CXX object src/CMakeFiles/llama.dir/llama.cpp.o", 45.0),
    ("[100%] Built target llama-server", 100.0),
    ("[3/12] Building C object ggml/src/CMakeFiles/ggml-base.dir/ggml.c.o", 25.0),
    ("-- Configuring done", None),
    ("In file included from [ 45%]", None),
])
def test_build_percent_is_read_from_make_and_ninja_lines(line: str, percent: float | None) -> None:
    assert build_percent(line) == percent


def make_install(name: str, manifest: bool = True) -> Path:
    folder = engines_root() / name
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "llama-server").write_text("")  # listing only: never run here
    if manifest:
        (folder / "build.json").write_text("{}")
    return folder


def test_installed_servers_prefer_the_pinned_version_then_the_gpu_flavours() -> None:
    for name in ("0.3.35-cuda", "0.3.36-cpu", "0.3.36-metal", "0.3.36-cuda"):
        make_install(name)
    make_install("0.3.36-vulkan", manifest=False)  # never verified: not an install
    make_install(".staging-0.3.36-cpu-4242")  # being copied into place
    assert [p.parent.parent.name for p in installed_servers()] == [
        "0.3.36-cuda", "0.3.36-metal", "0.3.36-cpu", "0.3.35-cuda"]


def test_find_llama_server_skips_copies_that_do_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_install("0.3.36-cpu")  # an empty file: it cannot run
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_llama_server() is None
