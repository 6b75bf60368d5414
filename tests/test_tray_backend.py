"""The real tray backend: the serve API and real `localv4` subprocesses, driven by the controller.

The full run pulls the real Gemma 3 270M GGUF from a fake hub on 127.0.0.1 and serves it with a
real llama.cpp engine, exactly as the tray's Start does for DeepSeek V4-Flash.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import psutil
import pytest

from support.tray_recording import RecordingShell, synchronous

from conftest import run_cli
from localv4.errors import RuntimeFailure
from localv4.serve import api
from localv4.tray.controller import Controller
from localv4.tray.cli_backend import LocalBackend, run_cli as tray_run_cli
from localv4.tray.menu import Action, IconKind, ServerPhase, icon_state, menu
from support.gemma_recipe import RECIPE_ID, VARIANT, stage_on_hub, write_recipe

HUB_RATE = 40_000_000  # bytes/s: the 253 MB pull lasts a few seconds, long enough to watch
START_TIMEOUT_S = 600




def test_nothing_running_reads_as_stopped():
    backend = LocalBackend()
    assert backend.status().phase is ServerPhase.STOPPED
    assert backend.endpoint() is None and backend.pull_progress() is None
    assert backend.log_path() == api.log_path()


def test_a_failing_command_becomes_its_own_one_line_error():
    with pytest.raises(RuntimeFailure) as failed:
        tray_run_cli(["plan", "--ctx", "lots"])
    assert str(failed.value) == "--ctx 'lots' is not a token count: use e.g. 32768, 128K or 1M."


def test_start_that_fails_shows_the_cli_error_in_the_menu():
    """On this machine V4-Flash does not fit (or the hub is unreachable): the menu says what `pull` says."""
    said = run_cli("pull").stderr.strip().splitlines()[-1]
    assert said.startswith("localv4: ")
    what = said.removeprefix("localv4: ").split(":")[0]  # e.g. "nothing fits" (the numbers vary with free memory)
    controller = Controller(LocalBackend(), RecordingShell(), None, run=synchronous)
    controller.perform(Action.START)
    state = controller.snapshot()
    assert state.error.startswith(what + ":") and "\n" not in state.error
    assert state.pull is None and state.server is ServerPhase.STOPPED
    assert icon_state(state).kind is IconKind.ERROR
    assert menu(state)[0].title.startswith(f"Error: {what}:")


def test_doctor_text_is_the_plain_report():
    text = LocalBackend().doctor_text()
    assert "hardware" in text and ("Ready:" in text or "Not ready:" in text)
    assert "\x1b[" not in text  # no colour codes in a window


# ---------------------------------------------------------------- a real start, watched from the menu


@pytest.fixture()
def test_recipe(isolated_home: Path) -> None:
    from localv4.paths import user_recipes_dir

    write_recipe(user_recipes_dir())


@pytest.fixture()
def hub(gemma_gguf: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server]")
    from support.hubserver import FakeHub

    with FakeHub(stage_on_hub(tmp_path_factory.mktemp("hub"), gemma_gguf)) as fake:
        fake.rate = HUB_RATE
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        yield fake


@pytest.mark.engine
def test_start_pulls_with_progress_serves_then_quit_stops_it(test_recipe, hub):
    shell = RecordingShell()
    controller = Controller(LocalBackend(model=RECIPE_ID, port="auto"), shell, None, run=synchronous)
    percents: list[int] = []
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            state = controller.snapshot()
            if state.pull is not None:
                percents.append(icon_state(state).percent)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        controller.perform(Action.START)
    finally:
        finished.set()
        watcher.join()

    state = controller.snapshot()
    assert state.error is None, state.error
    assert percents and percents == sorted(percents) and 0 <= percents[0] < 100
    server = api.status().server
    assert state.server is ServerPhase.RUNNING and state.endpoint == server.endpoint
    assert menu(state)[0].title == f"Running {VARIANT} · 4K context"
    assert icon_state(state).kind is IconKind.RUNNING
    engine = psutil.Process(server.pid)

    controller.perform(Action.COPY_ENDPOINT)
    controller.perform(Action.QUIT_AND_STOP)
    assert shell.calls == [("copy_text", server.endpoint), ("quit",)]
    assert api.status().state == "stopped"
    assert not engine.is_running() or engine.status() == psutil.STATUS_ZOMBIE
    assert str(Path(os.environ["LOCALV4_HOME"])) in server.log
