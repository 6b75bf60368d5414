"""`up` on a machine with no engine for the plan: once asked at a terminal, the install happens and
the model is served; with no terminal, the exact command and exit 1.

Real parts throughout: the CLI in a real pseudo-terminal, the real build cache (so the "build" is
the copy of the finished one, as on a second machine run), the fake Hub for the pull.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from support.gemma_recipe import RECIPE_ID, SERVED, VARIANT
from support.gemma_serving import path_without_llama_server
from localv4.hardware import detect
from localv4.install.native import cached_build_dir, is_complete
from localv4.install.target import BuildTarget
from localv4.install.tools import has_nvcc
from localv4.serve.state import read_state
from support.terminal_support import Terminal

NO_ENGINE = "no llama.cpp engine here serves this model: run `localv4 install llama.cpp`"


def test_without_a_terminal_up_names_the_install_command(recipe_dir, tmp_path):
    done = run_cli("up", "--variant", f"{RECIPE_ID}:{VARIANT}", "--backend", "llama-server",
                   env={"PATH": path_without_llama_server()}, stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert NO_ENGINE in line and "then run the same command again" in line
    assert read_state() is None


def test_with_no_build_cached_the_offer_and_the_refusal_give_the_measured_build_time(tmp_path, monkeypatch):
    """What `up` asks (at a terminal) or says (without one) before a real build: the command and
    the build's time from its measured CPU seconds over this machine's cores and their load (the
    core count and the load average are inputs, set here)."""
    from localv4.install.offer import engine_offer

    monkeypatch.setenv("LOCALV4_BUILD_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", path_without_llama_server())  # no brew, no llama-server
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (6.0, 5.2, 4.0))
    offer = engine_offer(detect(), "llama-server")  # by name: the build (tests/test_serve_xllamacpp.py: the default)
    expected = "about 7 min on 2 idle cores; this machine is busy (load 5.2): about 26 min"
    if offer.flavour != "cpu":  # a GPU machine: that flavour was not measured
        expected = f"not measured for a {offer.flavour} build; the CPU build takes {expected}"
    assert offer.question() == (f"No llama.cpp engine here serves this model. Build llama-server for {offer.flavour} "
                                f"now (`localv4 install llama.cpp`, {expected})?")
    assert offer.refusal() == f"{NO_ENGINE} ({expected}), then run the same command again"


@pytest.fixture()
def cached_cpu_build() -> None:
    target = BuildTarget.for_machine(detect(), has_nvcc(), None)
    if not is_complete(cached_build_dir(target)):
        pytest.skip(f"no finished {target.flavour} build in the build cache: `localv4 install llama.cpp` makes one")


def _up_on_a_terminal(tmp_path: Path, hub) -> Terminal:
    env = {**os.environ, "PATH": path_without_llama_server(), "HF_ENDPOINT": hub.endpoint, "TERM": "xterm"}
    return Terminal([sys.executable, "-m", "localv4", "up", "--variant", f"{RECIPE_ID}:{VARIANT}",
                     "--backend", "llama-server", "--port", "auto"], env)


@pytest.mark.engine
def test_on_a_terminal_up_offers_the_install_once_then_pulls_and_serves(
        recipe_dir, fake_hub, cached_cpu_build, no_engine_left, tmp_path):
    terminal = _up_on_a_terminal(tmp_path, fake_hub)
    try:
        shown = terminal.wait_for(r"Build llama-server for \w+ now .*\[Y/n\]", timeout=120)
        assert "`localv4 install llama.cpp`" in shown and "build cache" in shown
        terminal.type("y\r")
        shown = terminal.wait_for(r"Ready", timeout=600)
        assert terminal.finish(timeout=60) == 0, terminal.seen[-3000:]
    finally:
        run_cli("down")
    assert shown.count("[Y/n]") == 1
    assert f"model     {SERVED}" in terminal.seen
    from localv4.install import find_llama_server

    server = find_llama_server()
    assert server is not None and server.installed_by_localv4


@pytest.mark.engine
def test_declining_the_offer_installs_nothing_and_names_the_command(
        recipe_dir, fake_hub, cached_cpu_build, tmp_path):
    terminal = _up_on_a_terminal(tmp_path, fake_hub)
    terminal.wait_for(r"\[Y/n\]", timeout=120)
    terminal.type("n\r")
    assert terminal.finish(timeout=60) == 1
    assert NO_ENGINE in terminal.seen
    from localv4.install.layout import engines_root

    assert not engines_root().exists() or not list(engines_root().iterdir())
    assert read_state() is None
