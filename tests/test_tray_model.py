"""The tray's behaviour as plain Python: state in -> icon and menu out; click -> backend call.

The backend here is a recording fake: the real serve/pull/doctor APIs it stands for are tested
in their own files, and the real backend in test_tray_backend.py.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from localv4.tray.backend import ServerView
from localv4.tray.controller import Controller
from localv4.tray.login import LoginItem
from localv4.tray.menu import (
    Action,
    IconKind,
    MenuItem,
    PullProgress,
    ServerPhase,
    TrayState,
    icon_state,
    menu,
)
from localv4.tray.poller import StatusPoller
from localv4.tray.pull_events import PullTracker
from localv4.weights import FileDone, FileProgress, FileStarted, PullStarted
from support.tray_recording import ENDPOINT, RUNNING, RecordingBackend, RecordingShell, synchronous

def titles(items: list[MenuItem]) -> list[str]:
    return [i.title for i in items]


def item(items: list[MenuItem], title: str) -> MenuItem:
    return next(i for i in items if i.title.startswith(title))


# ---------------------------------------------------------------- the menu model


def test_stopped_menu_offers_start_and_disables_what_needs_a_server():
    items = menu(TrayState())
    assert titles(items) == ["Stopped", "-", "Start server", "Open Chat", "Copy API endpoint", "-",
                             "Show logs", "Run doctor", "-", "Start at login", "Quit"]
    enabled = {i.title: i.enabled for i in items if not i.is_separator}
    assert enabled == {"Stopped": False, "Start server": True, "Open Chat": False,
                       "Copy API endpoint": False, "Show logs": False, "Run doctor": True,
                       "Start at login": True, "Quit": True}
    assert item(items, "Quit").action is Action.QUIT
    assert icon_state(TrayState()).kind is IconKind.STOPPED


def test_running_menu_shows_variant_context_speed_and_endpoint():
    items = menu(RUNNING)
    assert items[0].title == "Running UD-Q2_K_XL · 128K context · 23.4 tok/s"
    assert item(items, "Stop server").action is Action.STOP
    assert item(items, "Open Chat").enabled
    copy = item(items, "Copy API endpoint")
    assert copy.title == f"Copy API endpoint ({ENDPOINT})" and copy.enabled
    assert item(items, "Show logs").enabled
    assert icon_state(RUNNING).kind is IconKind.RUNNING


def test_quit_asks_whether_to_stop_a_running_server():
    quit_item = item(menu(RUNNING), "Quit")
    assert quit_item.action is None
    assert [(c.title, c.action) for c in quit_item.children] == [
        ("Quit and stop the server", Action.QUIT_AND_STOP),
        ("Quit, keep the server running", Action.QUIT),
    ]


def test_loading_server_can_be_stopped_but_not_chatted_with():
    loading = replace(RUNNING, server=ServerPhase.LOADING, tokens_per_s=None)
    items = menu(loading)
    assert items[0].title == "Loading UD-Q2_K_XL…"
    assert item(items, "Stop server").enabled and not item(items, "Open Chat").enabled
    assert item(items, "Copy API endpoint").enabled
    assert icon_state(loading).kind is IconKind.LOADING


def test_pull_shows_percent_in_icon_and_a_progress_line_and_blocks_start():
    pulling = TrayState(pull=PullProgress("deepseek-v4-flash:UD-Q2_K_XL", 42_500_000_000, 100_000_000_000),
                        busy="starting")
    look = icon_state(pulling)
    assert (look.kind, look.percent, look.label) == (IconKind.PULLING, 42, "localv4: pulling 42%")
    items = menu(pulling)
    assert items[1].title == "Pulling deepseek-v4-flash:UD-Q2_K_XL: 42% (42.5 of 100.0 GB)"
    assert not items[1].enabled
    assert not item(items, "Start server").enabled


def test_failure_shows_error_icon_and_the_message_in_the_status_line():
    failed = TrayState(error="nothing fits: the smallest variant needs 84.6 GB " + "x" * 80)
    items = menu(failed)
    assert items[0].title.startswith("Error: nothing fits: the smallest variant needs 84.6 GB")
    assert items[0].title.endswith("…") and len(items[0].title) == 70
    assert icon_state(failed).kind is IconKind.ERROR
    assert item(items, "Start server").enabled  # try again
    crashed = TrayState(server=ServerPhase.CRASHED, log_exists=True)
    assert menu(crashed)[0].title == "The engine crashed: see Show logs"
    assert icon_state(crashed).kind is IconKind.ERROR and item(menu(crashed), "Show logs").enabled


def test_login_toggle_is_checked_when_on_and_disabled_where_unsupported():
    assert item(menu(TrayState(login_item=True)), "Start at login").checked is True
    assert item(menu(TrayState(login_item=False)), "Start at login").checked is False
    assert not item(menu(TrayState(login_supported=False)), "Start at login").enabled


def test_busy_actions_disable_themselves():
    assert not item(menu(replace(RUNNING, busy="stopping")), "Stop server").enabled
    assert not item(menu(TrayState(busy="running doctor")), "Run doctor").enabled
    assert menu(TrayState(busy="starting"))[0].title == "Starting…"


# ---------------------------------------------------------------- clicks -> backend calls


@pytest.fixture()
def login(tmp_path: Path) -> LoginItem:
    return LoginItem(tmp_path / "autostart" / "localv4-tray.desktop", b"[Desktop Entry]\n")


def controller_for(backend, shell, login=None, run=synchronous) -> Controller:
    return Controller(backend, shell, login, run=run)


def test_start_calls_the_backend_and_the_menu_then_shows_running(login):
    backend, shell = RecordingBackend(), RecordingShell()
    controller = controller_for(backend, shell, login)
    controller.perform(item(menu(controller.snapshot()), "Start server").action)
    assert backend.calls == ["start"]
    state = controller.snapshot()
    assert state.server is ServerPhase.RUNNING and state.endpoint == ENDPOINT and state.busy is None
    assert item(menu(state), "Stop server").enabled


def test_each_action_reaches_its_backend_or_shell_call(login, tmp_path):
    log = tmp_path / "server.log"
    log.write_text("llama server listening\n")
    backend = RecordingBackend(ServerView(ServerPhase.RUNNING, ENDPOINT, "x:Q", 4096), log)
    shell = RecordingShell()
    controller = controller_for(backend, shell, login)
    for action in (Action.OPEN_CHAT, Action.COPY_ENDPOINT, Action.SHOW_LOGS, Action.RUN_DOCTOR, Action.STOP):
        controller.perform(action)
    assert backend.calls == ["open_chat", "doctor_text", "stop"]
    assert shell.calls == [("copy_text", ENDPOINT), ("open_path", log),
                           ("show_text", "localv4 doctor", "hardware  ok")]


def test_login_toggle_writes_and_removes_the_login_file(login):
    controller = controller_for(RecordingBackend(), RecordingShell(), login)
    controller.perform(Action.TOGGLE_LOGIN)
    assert login.path.read_bytes() == b"[Desktop Entry]\n"
    assert item(menu(controller.snapshot()), "Start at login").checked is True
    controller.perform(Action.TOGGLE_LOGIN)
    assert not login.path.exists()
    assert item(menu(controller.snapshot()), "Start at login").checked is False


def test_quit_and_stop_stops_the_server_before_quitting():
    backend = RecordingBackend(ServerView(ServerPhase.RUNNING, ENDPOINT))
    shell = RecordingShell()
    controller_for(backend, shell).perform(Action.QUIT_AND_STOP)
    assert backend.calls == ["stop"] and shell.calls == [("quit",)]
    plain = RecordingBackend(ServerView(ServerPhase.RUNNING, ENDPOINT))
    plain_shell = RecordingShell()
    controller_for(plain, plain_shell).perform(Action.QUIT)
    assert plain.calls == [] and plain_shell.calls == [("quit",)]


def test_a_failed_start_becomes_the_status_line_and_error_icon():
    backend, shell = RecordingBackend(), RecordingShell()
    backend.fail["start"] = "nothing fits: the smallest variant needs 84.6 GB"
    controller = controller_for(backend, shell)
    controller.perform(Action.START)
    state = controller.snapshot()
    assert state.error == "nothing fits: the smallest variant needs 84.6 GB"
    assert menu(state)[0].title == "Error: nothing fits: the smallest variant needs 84.6 GB"
    assert icon_state(state).kind is IconKind.ERROR
    del backend.fail["start"]
    controller.perform(Action.START)  # trying again clears the error
    assert controller.snapshot().error is None


def test_actions_run_off_the_calling_thread_one_at_a_time():
    release, started = threading.Event(), threading.Event()
    backend = RecordingBackend()

    def slow_start() -> None:
        backend.calls.append("start")
        started.set()
        release.wait(10)

    backend.start = slow_start
    threads: list[threading.Thread] = []

    def in_thread(work) -> None:
        threads.append(threading.Thread(target=work))
        threads[-1].start()

    controller = controller_for(backend, RecordingShell(), run=in_thread)
    controller.perform(Action.START)  # returns while the start is still running
    assert started.wait(10)
    assert controller.snapshot().busy == "starting"
    assert not item(menu(controller.snapshot()), "Start server").enabled
    controller.perform(Action.START)  # a second click while busy does nothing
    release.set()
    for t in threads:
        t.join(10)
    assert backend.calls == ["start"] and controller.snapshot().busy is None


# ---------------------------------------------------------------- pull events, poller


def test_pull_tracker_folds_the_real_pull_events_into_bytes_done():
    tracker = PullTracker()
    assert tracker.progress() is None
    events = [
        PullStarted("deepseek-v4-flash:UD-Q2_K_XL", "unsloth/x", "abc", "/hf", 2, 1000, 0),
        FileStarted("a.gguf", 600, 0),
        FileProgress("a.gguf", 300, 600),
    ]
    for event in events:
        tracker.feed(event.to_dict())
    assert tracker.progress() == PullProgress("deepseek-v4-flash:UD-Q2_K_XL", 300, 1000)
    tracker.feed(FileDone("a.gguf", 600, 600, False).to_dict())
    tracker.feed_line('{"event": "progress", "path": "b.gguf", "done": 100, "size": 400}')
    tracker.feed_line("not json: a plain line from the CLI")
    assert tracker.progress().percent == 70


def test_poller_publishes_each_change_once_and_stops():
    states = iter([TrayState(), TrayState(), RUNNING])
    seen: list[TrayState] = []
    changed = threading.Event()

    def read() -> TrayState:
        return next(states, RUNNING)

    def publish(state: TrayState) -> None:
        seen.append(state)
        if state == RUNNING:
            changed.set()

    poller = StatusPoller(read, publish, interval=0.01)
    poller.start()
    assert changed.wait(10)
    poller.stop()
    assert seen == [TrayState(), RUNNING]
