"""Native mode: `open-webui serve` as a detached process, run here by a stand-in program.

The real install (pip, large, ~100 exact pins) is not done in tests: its commands are checked as
argv. Everything else (spawn, wait for HTTP, reuse, restart on a new endpoint, stop, purge) runs
for real against a stand-in that answers /health and records how it was started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from conftest import run_cli
from localv4.errors import RuntimeFailure, UsageError
from localv4.webui import api, native
from localv4.serve.endpoint import Endpoint
from localv4.webui.settings import load_settings
from localv4.webui.state import native_data_dir, read_record
from support.webui_support import (
    CRASHING_OPEN_WEBUI, STANDIN_OPEN_WEBUI, FakeEndpoint, read_launch, register_with_serve, write_program,
)
from support.ports import free_port


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in as LOCALV4_OPEN_WEBUI; Docker unreachable, so no test here can touch a real
    container (a purge would otherwise look for one)."""
    program = write_program(tmp_path / "open-webui", STANDIN_OPEN_WEBUI)
    monkeypatch.setenv("LOCALV4_OPEN_WEBUI", str(program))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    yield program
    api.stop_ui()


def test_install_makes_a_venv_of_its_own_and_pins_the_release() -> None:
    venv = native.venv_dir()
    assert venv.is_relative_to(Path(os.environ["LOCALV4_HOME"]))
    create, pip = native.install_commands("/usr/bin/python3.12")
    assert create == ["/usr/bin/python3.12", "-m", "venv", str(venv)]
    assert pip == [str(venv / "bin" / "python"), "-m", "pip", "install", "open-webui==0.12.4"]
    assert native.interpreter() == sys.executable  # 3.11/3.12 here


def test_launch_listens_on_loopback_off_8080_with_localv4_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-users-real-openai-key")
    settings = load_settings()
    plan = native.launch(Path("/opt/ow/bin/open-webui"), settings, Endpoint("127.0.0.1", port=8484, model_id="m"))
    assert plan.argv == ["/opt/ow/bin/open-webui", "serve", "--host", "127.0.0.1", "--port", "3000"]
    assert plan.cwd == native_data_dir() and plan.env["DATA_DIR"] == str(native_data_dir())
    assert plan.env["OPENAI_API_BASE_URL"] == "http://127.0.0.1:8484/v1"
    assert plan.env["ENABLE_OLLAMA_API"] == "False" and plan.env["WEBUI_AUTH"] == "True"
    assert "OPENAI_API_KEY" not in plan.env  # the user's OpenAI key is not sent to the local endpoint
    keyed = native.launch(Path("/x"), settings, Endpoint("127.0.0.1", port=8484, api_key="k1"))
    assert keyed.env["OPENAI_API_KEY"] == "k1" and "k1" not in " ".join(keyed.argv)


def test_start_waits_for_http_records_the_process_and_reuses_it(standin: Path) -> None:
    port = free_port()
    endpoint = FakeEndpoint()
    try:
        started = api.start_ui(Endpoint("127.0.0.1", port=endpoint.port, api_key="k1", model_id="m"), "native", port, open_browser=False)
        assert (started.url, started.mode, started.reused) == (f"http://127.0.0.1:{port}", "native", False)
        launch = read_launch(native_data_dir())
        assert launch["argv"][1:] == ["serve", "--host", "127.0.0.1", "--port", str(port)]
        assert launch["cwd"] == str(native_data_dir())
        assert launch["env"]["OPENAI_API_BASE_URL"] == f"http://127.0.0.1:{endpoint.port}/v1"
        assert launch["env"]["OPENAI_API_KEY"] == "k1"
        record = read_record()
        assert psutil.Process(record.pid).is_running()

        again = api.start_ui(Endpoint("127.0.0.1", port=endpoint.port, api_key="k1", model_id="m"), "native", port, open_browser=False)
        assert again.reused and read_record().pid == record.pid

        moved = api.start_ui(Endpoint("127.0.0.1", port=endpoint.port + 1, api_key="k2", model_id="m"), "native", port, open_browser=False)
        assert not moved.reused and read_record().pid != record.pid
        assert not psutil.pid_exists(record.pid) or psutil.Process(record.pid).status() == psutil.STATUS_ZOMBIE
        assert read_launch(native_data_dir())["env"]["OPENAI_API_BASE_URL"] == f"http://127.0.0.1:{endpoint.port + 1}/v1"
        assert api.ui_status().to_dict() | {"detail": None} == {
            "state": "running", "mode": "native", "url": f"http://127.0.0.1:{port}", "answering": True,
            "endpoint": f"http://127.0.0.1:{endpoint.port + 1}/v1", "detail": None, "running": True,
        }
    finally:
        endpoint.close()


def test_stop_keeps_the_data_and_purge_deletes_it(standin: Path) -> None:
    api.start_ui(Endpoint("127.0.0.1", port=free_port()), "native", free_port(), open_browser=False)
    pid = read_record().pid
    (native_data_dir() / "webui.db").write_text("chats")
    stopped = api.stop_ui()
    assert stopped.stopped == [f"open-webui serve (pid {pid})"] and stopped.removed == []
    assert (native_data_dir() / "webui.db").read_text() == "chats"
    assert api.ui_status().state == "stopped"
    purged = api.stop_ui(purge=True)  # Docker unreachable: nothing there to purge for a native UI
    assert purged.removed == [f"native data {native_data_dir()}"] and not native_data_dir().exists()
    assert api.ui_status().state == "not started"


def test_a_busy_port_is_refused_with_a_free_one_named(standin: Path) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(RuntimeFailure, match=rf"port {port} on 127.0.0.1 is already in use by another program: pass --port \d+ \(free\)"):
            api.start_ui(Endpoint("127.0.0.1", port=8484), "native", port, open_browser=False)
    assert read_record() is None


def test_a_crash_while_starting_is_reported_with_its_last_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALV4_OPEN_WEBUI", str(write_program(tmp_path / "open-webui", CRASHING_OPEN_WEBUI)))
    with pytest.raises(RuntimeFailure, match=r"Open WebUI exited while starting \(exit code 3\): stand-in open-webui: cannot open database; see .*webui.log"):
        api.start_ui(Endpoint("127.0.0.1", port=8484), "native", free_port(), open_browser=False)


def test_missing_install_and_a_wrong_override_are_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeFailure, match="rerun with --yes|--mode native --yes"):
        api.start_ui(Endpoint("127.0.0.1", port=8484), "native", open_browser=False)
    monkeypatch.setenv("LOCALV4_OPEN_WEBUI", "/nonexistent/open-webui")
    with pytest.raises(UsageError, match="LOCALV4_OPEN_WEBUI is /nonexistent/open-webui, which is not a file"):
        api.start_ui(Endpoint("127.0.0.1", port=8484), "native", open_browser=False)


def test_cli_native_start_status_open_and_stop(tmp_path: Path) -> None:
    program = write_program(tmp_path / "open-webui", STANDIN_OPEN_WEBUI)
    endpoint = FakeEndpoint()
    key = register_with_serve(endpoint, tmp_path / "server.log")
    browser_log = tmp_path / "browser.txt"
    browser = write_program(tmp_path / "browser", f"#!/bin/sh\necho \"$1\" >> {browser_log}\n")
    env = {"LOCALV4_OPEN_WEBUI": str(program), "BROWSER": str(browser), "DOCKER_HOST": f"unix://{tmp_path}/no.sock"}
    port = free_port()
    try:
        done = run_cli("ui", "start", "--mode", "native", "--port", str(port), env=env)
        assert done.returncode == 0, done.stderr
        url = f"http://127.0.0.1:{port}"
        assert f"Open WebUI at {url} (native), talking to http://127.0.0.1:{endpoint.port}/v1" in done.stdout
        assert "On a first start, the first account you create becomes the admin." in done.stdout
        assert browser_log.read_text() == f"{url}\n"
        assert read_launch(native_data_dir())["env"]["OPENAI_API_KEY"] == key
        status = run_cli("ui", "status", env=env)
        assert f"Open WebUI: running and answering (native) at {url}" in status.stdout
        opened = run_cli("ui", "open", env=env)
        assert (opened.returncode, opened.stdout) == (0, f"{url}\n")
        assert browser_log.read_text() == f"{url}\n{url}\n"
        for output in (done.stdout + done.stderr, status.stdout, run_cli("ui", "status", "--json", env=env).stdout):
            assert key not in output
        stopped = run_cli("ui", "stop", env=env)
        assert stopped.returncode == 0 and stopped.stdout.startswith("stopped open-webui serve (pid ")
        refused = run_cli("ui", "stop", "--purge", env=env, stdin=subprocess.DEVNULL)
        assert refused.returncode == 1 and native_data_dir().exists()  # not confirmed: nothing deleted
        purged = run_cli("ui", "stop", "--purge", "--yes", env=env)
        assert (purged.returncode, purged.stdout) == (0, f"removed native data {native_data_dir()}\n")
    finally:
        api.stop_ui()
        endpoint.close()


def test_cli_native_without_install_asks_for_yes_when_not_interactive(tmp_path: Path) -> None:
    endpoint = FakeEndpoint()
    register_with_serve(endpoint, tmp_path / "server.log")
    try:
        done = run_cli("ui", "start", "--mode", "native", "--no-open", stdin=subprocess.DEVNULL)
    finally:
        endpoint.close()
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "localv4: Open WebUI is not installed: rerun with --yes to install it, or use Docker: `localv4 ui start`.\n"
