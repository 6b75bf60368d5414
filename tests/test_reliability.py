"""Holding up under faults, races and bad input: each test here is a row of docs/reliability.md.

Real parts throughout: the native llama-server serving the real Gemma 3 270M GGUF, real `localv4`
processes, real signals, a real tmpfs that fills up, and the fake hub that counts the bytes it sends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from conftest import run_cli
from localv4.serve import api
from localv4.serve.state import read_state, state_path
from support.cli_output import one_line_error
from support.enable import as_root
from support.gemma_recipe import RECIPE_ID, VARIANT
from support.process_support import alive, tree_pids
from support.tray_recording import RecordingShell, synchronous

NATIVE = api.ServeOptions(backend="llama-server", port="auto")
UP = ["up", "--variant", f"{RECIPE_ID}:{VARIANT}", "--backend", "llama-server", "--port", "auto"]

if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("POSIX signals and mounts")


@pytest.fixture()
def served(native_server, gemma_plan, gemma_gguf, no_engine_left):
    """The native llama-server serving Gemma, started through the serving API; stopped after."""
    info = api.up(gemma_plan, gemma_gguf, NATIVE)
    yield info.server
    api.down()


@pytest.fixture()
def pulled(recipe_dir, fake_hub, native_server):
    """The Gemma variant in this test's HF cache, so `up` starts at once."""
    done = run_cli("pull", f"{RECIPE_ID}:{VARIANT}", env={"HF_ENDPOINT": fake_hub.endpoint}, timeout=600)
    assert done.returncode == 0, done.stderr


def _until(condition, timeout: float, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s")


# ---------------------------------------------------------------- the engine dies or hangs


@pytest.mark.engine
def test_engine_killed_shows_as_crashed_with_its_last_lines_within_2_s_and_in_the_tray(served):
    from localv4.tray.cli_backend import LocalBackend
    from localv4.tray.controller import Controller
    from localv4.tray.menu import IconKind, icon_state, menu

    os.kill(served.pid, signal.SIGKILL)
    killed = time.monotonic()
    now = _until(lambda: (s := api.status()).state == "crashed" and s, timeout=2.0)
    assert time.monotonic() - killed < 2.0
    assert any("listening on" in line for line in now.log_tail)  # the engine's own last words
    shown = run_cli("status")
    assert shown.returncode == 1 and "state     crashed" in shown.stdout and "listening on" in shown.stdout
    tray = Controller(LocalBackend(), RecordingShell(), None, run=synchronous).snapshot()
    assert menu(tray)[0].title == "The engine crashed: see Show logs"
    assert icon_state(tray).kind is IconKind.ERROR


@pytest.mark.engine
def test_engine_stopped_reads_as_not_answering_within_a_bound_and_down_still_stops_it(served):
    from localv4.serve.readiness import ANSWER_TIMEOUT_S

    pids = tree_pids(served.pid)
    os.kill(served.pid, signal.SIGSTOP)
    _until(lambda: psutil.Process(served.pid).status() == psutil.STATUS_STOPPED, timeout=2)
    began = time.monotonic()
    now = api.status()
    assert now.state == "unresponsive" and "is stopped" in now.note
    assert time.monotonic() - began < ANSWER_TIMEOUT_S + 1
    shown = json.loads(run_cli("status", "--json", timeout=30).stdout)
    assert shown["state"] == "unresponsive" and f"kill -CONT {served.pid}" in shown["note"]
    from localv4.serve.process import STOP_TIMEOUT_S

    began = time.monotonic()
    assert api.down() is not None
    assert alive(pids) == []
    assert time.monotonic() - began < STOP_TIMEOUT_S  # SIGTERM reached it: no wait for the SIGKILL


def test_a_wedged_engine_that_takes_connections_but_never_answers_reads_as_not_answering(tmp_path):
    from localv4.serve.readiness import ANSWER_TIMEOUT_S
    from localv4.serve.state import write_state
    from support.records import stand_in_plan, stand_in_record

    wedged = subprocess.Popen([sys.executable, "-c", (
        "import socket, sys, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "print(s.getsockname()[1], flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
    try:
        port = int(wedged.stdout.readline())
        server = stand_in_record(stand_in_plan(context=1024, placement="cpu"), pid=wedged.pid,
                                 create_time=psutil.Process(wedged.pid).create_time(), port=port,
                                 log=str(tmp_path / "server.log"), started_at=time.time(), ready_at=time.time(),
                                 health_path="/health")
        (tmp_path / "server.log").write_text("last words\n")
        write_state(server)
        began = time.monotonic()
        now = api.status()
        took = time.monotonic() - began
        assert now.state == "unresponsive" and "does not answer /health" in now.note
        assert ANSWER_TIMEOUT_S - 0.5 < took < ANSWER_TIMEOUT_S + 1.5 and now.log_tail == ("last words",)
    finally:
        wedged.kill()
        wedged.wait()


@pytest.mark.engine
def test_engine_stopped_while_loading_is_reported_not_waited_on(native_server, gemma_plan, gemma_gguf,
                                                                no_engine_left):
    from localv4.serve.readiness import STOPPED_GRACE_S, EngineNotAnswering

    def stop_it_once_started() -> None:
        server = _until(read_state, timeout=60, step=0.01)
        os.kill(server.pid, signal.SIGSTOP)

    stopper = threading.Thread(target=stop_it_once_started)
    stopper.start()
    began = time.monotonic()
    with pytest.raises(EngineNotAnswering, match="is stopped"):
        api.up(gemma_plan, gemma_gguf, NATIVE)
    stopper.join()
    assert time.monotonic() - began < STOPPED_GRACE_S + 15
    assert read_state() is None  # nothing half-started is left (no_engine_left checks the processes)


# ---------------------------------------------------------------- two shells at once


def _popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "localv4", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))


@pytest.mark.engine
def test_two_ups_at_once_start_one_engine_and_the_other_says_so(pulled, no_engine_left):
    first, second = _popen(*UP), _popen(*UP)
    results = [p.communicate(timeout=300) for p in (first, second)]
    codes = sorted((first.returncode, second.returncode))
    said = [out + err for out, err in results]
    assert codes == [0, 1] or codes == [0, 0], said
    worked = [s for s in said if "Ready" in s]
    assert len(worked) == 1, said
    other = next(s for s in said if "Ready" not in s)
    assert "another `localv4 up` is starting" in other or "Already up" in other, other
    server = read_state()  # the record is whole, and names the one engine
    assert server is not None and server.ready_at
    engines = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"]
               and p.info["cmdline"][0].endswith("llama-server") and str(server.port) in p.info["cmdline"]]
    assert [p.pid for p in engines] == [server.pid]
    assert run_cli("down").returncode == 0


@pytest.mark.engine
def test_down_while_up_is_loading_stops_it_and_up_says_why(pulled, no_engine_left):
    starting = _popen(*UP)
    server = _until(read_state, timeout=120, step=0.02)
    pids = tree_pids(server.pid)
    stopped = run_cli("down", timeout=60)
    out, err = starting.communicate(timeout=120)
    assert stopped.returncode == 0 and f"pid {server.pid}" in stopped.stdout
    if starting.returncode != 0:  # down came while it loaded (the usual case); else up had finished
        assert "`localv4 down` stopped the engine while it was loading" in err and "Traceback" not in err
    assert alive(pids) == [] and read_state() is None


# ---------------------------------------------------------------- the record and its folder


@pytest.mark.engine
@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong shape"])
def test_a_damaged_record_is_set_aside_and_status_down_up_recover(pulled, served, damage):
    text = state_path().read_text()
    state_path().write_text({"truncated": text[: len(text) // 2], "garbage": "\x00\xffnot json",
                             "wrong shape": "[1, 2, 3]"}[damage])
    pids = tree_pids(served.pid)
    shown = run_cli("status")
    assert shown.returncode == 0 and "is damaged" in shown.stdout and "Traceback" not in shown.stderr
    assert f"an engine still runs without a record (pid {served.pid})" in shown.stdout
    assert (state_path().parent / "server.json.damaged").exists() and not state_path().exists()
    down = run_cli("down", timeout=60)
    assert down.returncode == 0 and f"stopped an engine that had no record (pid {served.pid})" in down.stdout
    assert alive(pids) == []
    state_path().write_text("{")
    again = run_cli(*UP, timeout=300)
    assert again.returncode == 0 and "is damaged" in again.stdout and "Ready" in again.stdout, again.stderr
    assert read_state() is not None
    assert run_cli("down").returncode == 0


@pytest.fixture()
def read_only_home(tmp_path: Path, recipe_dir: Path, monkeypatch: pytest.MonkeyPatch,
                   request: pytest.FixtureRequest):
    """LOCALV4_HOME on a read-only tmpfs (the config with the test recipe on it)."""
    if os.geteuid() != 0:
        pytest.skip(f"mounting a read-only tmpfs needs root: {as_root(request)}")
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        (mount / "config").mkdir()
        subprocess.run(["cp", "-r", str(recipe_dir), str(mount / "config")], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        monkeypatch.setenv("LOCALV4_HOME", str(mount))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.engine
def test_a_read_only_state_folder_is_one_line_error(pulled, read_only_home):
    done = run_cli(*UP, timeout=120)
    line = one_line_error(done)
    assert done.returncode == 1
    assert "cannot write" in line and "Read-only file system" in line and "LOCALV4_HOME" in line
    assert "planning" not in done.stdout  # refused before any slow step
    for reader in (["status"], ["down"], ["bench"]):  # they write nothing: they work, or say one line
        done = run_cli(*reader, timeout=120)
        assert "Traceback" not in done.stderr and (done.returncode == 0 or one_line_error(done)), reader


@pytest.mark.parametrize("command", [UP, ["status"], ["down"]], ids=lambda c: c[0])
def test_a_state_folder_that_cannot_exist_is_one_line_error(tmp_path, recipe_dir, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    home = Path(os.environ["LOCALV4_HOME"])
    (home / "state").rmdir() if (home / "state").is_dir() else None
    (home / "state").symlink_to(blocker)  # the state folder is a file
    done = run_cli(*command, timeout=120)
    assert done.returncode in (1, 2) and "cannot write" in one_line_error(done)


# ---------------------------------------------------------------- a full disk


@pytest.fixture()
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    """HF_HOME on its own tmpfs, just big enough for the pull's safety margin."""
    if os.geteuid() != 0:
        pytest.skip(f"mounting a tmpfs needs root: {as_root(request)}")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1010m", "tmpfs", str(mount)], check=True)
    monkeypatch.setenv("HF_HOME", str(mount))
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_mid_pull_says_what_it_needs_keeps_the_bytes_and_resumes(small_disk):
    from support.hubserver import FakeHub, make_gguf_repo
    from support.pull_hub import GGUF_REPO, LAYOUT, PART_SIZE, RECIPE, cache_repo, variant_files, wait_for_partial
    from localv4.paths import user_recipes_dir

    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / "fake.toml").write_text(RECIPE)
    hub_root = small_disk.parent / "hubroot"
    make_gguf_repo(hub_root, GGUF_REPO, LAYOUT, {"IQ1": 2}, PART_SIZE)
    with FakeHub(hub_root) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint}
        hub.rate = 20_000  # slow enough (30 s for the variant) that the disk fills first, even on a busy machine
        pull = subprocess.Popen([sys.executable, "-m", "localv4", "pull", "fake-v4:IQ1"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_partial(cache_repo(GGUF_REPO), 20_000, pull)
        filler = small_disk / "filler"
        with open(filler, "wb") as f:  # fill what is left, a MB at a time, until the disk says no
            try:
                while True:
                    f.write(b"\0" * 1_000_000)
                    f.flush()
            except OSError:
                pass
        _, err = pull.communicate(timeout=60)
        stopped_at = time.monotonic()
        assert pull.returncode == 1
        line = one_line_error(subprocess.CompletedProcess(pull.args, 1, "", err))
        kept = _bytes_kept(cache_repo(GGUF_REPO) / "blobs", variant_files(hub, "IQ1"))
        assert sum(kept.values()) > 0
        assert "the disk filled up" in line and "more are needed" in line and "resumes" in line
        total = sum(f.size for f in variant_files(hub, "IQ1"))
        from localv4.units import human_bytes

        assert f"{human_bytes(total - sum(kept.values()))} more are needed" in line

        filler.unlink()
        hub.rate = None
        again = subprocess.run([sys.executable, "-m", "localv4", "pull", "fake-v4:IQ1"], env=env,
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        second = [s for s in hub.log if s.arrived > stopped_at and s.method == "GET" and s.sent]
        for f in variant_files(hub, "IQ1"):
            assert sum(s.sent for s in second if s.path == f.path) == f.size - kept[f.path]  # 0 twice


def _bytes_kept(blobs: Path, files) -> dict[str, int]:
    """Per file: its size if complete, else the size of its partial download, else 0."""
    def kept(f) -> int:
        if (blobs / f.sha256).exists():
            return f.size
        partial = blobs / f"{f.sha256}.incomplete"
        return partial.stat().st_size if partial.exists() else 0

    return {f.path: kept(f) for f in files}


# ---------------------------------------------------------------- bad input


def test_every_up_option_is_checked_before_planning(recipe_dir):
    for bad, said in ((["--reasoning", "max"], "unknown reasoning mode 'max'"),
                      (["--backend", "mlx"], "cannot serve GGUF variant"),
                      (["--ctx", "64K"], "out of range"),
                      (["--port", "http"], "--port must be a number"),
                      (["--ui", "--ui-port", "99999"], "--ui-port must be a number")):
        done = run_cli("up", "--variant", f"{RECIPE_ID}:{VARIANT}", *bad)
        assert done.returncode == 2 and said in one_line_error(done), (bad, done.stderr)
        assert "planning" not in done.stdout, bad


def test_a_hardware_profile_missing_fields_names_them(tmp_path):
    profile = tmp_path / "hw.json"
    profile.write_text(json.dumps({"os": "linux", "cpu_cores": 8, "gpus": [{"index": 0, "name": "H100"}]}))
    done = run_cli("plan", "--hardware", str(profile))
    line = one_line_error(done)
    assert done.returncode == 2 and "missing fields: os_version, arch, cpu_model" in line
    assert "__init__" not in line and "positional" not in line
    whole = json.loads(run_cli("doctor", "--json").stdout)["hardware"]
    del whole["gpus"], whole["ram_total"]
    whole["gpus"] = [{"index": 0, "name": "H100", "memory_total": 80}]
    profile.write_text(json.dumps(whole))
    line = one_line_error(run_cli("plan", "--hardware", str(profile)))
    assert "ram_total" in line and "gpus[0].memory_free" in line


def test_models_on_a_cache_path_that_is_a_file_says_so(tmp_path):
    blocker = tmp_path / "hub-cache"
    blocker.write_text("")
    done = run_cli("models", env={"HF_HUB_CACHE": str(blocker)})
    assert done.returncode == 2 and "is not a folder" in one_line_error(done) and str(blocker) in done.stderr
    done = run_cli("models", "--dir", str(blocker))
    assert done.returncode == 2 and "--dir" in one_line_error(done)


# ---------------------------------------------------------------- Ctrl-C


@pytest.mark.engine
@pytest.mark.parametrize("stage", ["planning", "pull", "loading"])
def test_ctrl_c_at_any_stage_of_up_ui_leaves_nothing_started(stage, recipe_dir, fake_hub, native_server,
                                                            no_engine_left):
    from localv4.webui.state import read_record

    if stage != "pull":
        assert run_cli("pull", f"{RECIPE_ID}:{VARIANT}", env={"HF_ENDPOINT": fake_hub.endpoint},
                       timeout=600).returncode == 0
    fake_hub.rate = 20_000_000 if stage == "pull" else None
    up = subprocess.Popen([sys.executable, "-m", "localv4", *UP, "--ui", "--no-open"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "HF_ENDPOINT": fake_hub.endpoint})
    try:
        for line in up.stdout:
            if stage in line or (stage == "pull" and "downloading" in line):
                break
        if stage == "loading":
            _until(read_state, timeout=60)
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=60)
    finally:
        fake_hub.rate = None
        if up.poll() is None:
            up.kill()
    assert up.returncode == 130 and "Traceback" not in rest, rest
    assert read_state() is None and read_record() is None
    assert not list(state_path().parent.glob(".*.tmp"))  # no half-written record


SLOW_UI_IMAGE = "localv4-test/open-webui:slow"


@pytest.mark.engine
@pytest.mark.docker
def test_ctrl_c_while_open_webui_starts_stops_the_ui_and_says_the_engine_serves(
        docker_client, ui, pulled, fake_hub, no_engine_left, monkeypatch):
    """The last stage of `up --ui`: the engine is up and announced, Open WebUI's container is
    starting (a stand-in that takes 60 s to listen). Ctrl-C there stops the container, as
    `down` would, and says the engine keeps serving; nothing is left coming up unwatched."""
    from localv4.webui.api import ui_status
    from support.docker_support import STANDIN_CMD, build_standin, remove_image
    from support.ports import free_port

    build_standin(docker_client, SLOW_UI_IMAGE, command=f"sleep 60; {STANDIN_CMD}")
    monkeypatch.setenv("LOCALV4_WEBUI_IMAGE", SLOW_UI_IMAGE)
    up = subprocess.Popen([sys.executable, "-m", "localv4", *UP, "--ui", "--ui-port", str(free_port()),
                           "--no-open"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "HF_ENDPOINT": fake_hub.endpoint})
    seen = []
    try:
        for line in up.stdout:
            seen.append(line)
            if "waiting for Open WebUI to answer" in line:
                break
        assert ui_status().running, "".join(seen)  # the container really was coming up
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
        remove_image(docker_client, SLOW_UI_IMAGE)
    assert up.returncode == 130 and "Traceback" not in rest, rest
    assert "the engine keeps serving at" in rest and "`localv4 down` stops it" in rest
    assert ui_status().state == "stopped"
    assert not docker_client.containers.list(filters={"name": ui, "status": "running"})
    server = read_state()
    assert server is not None and httpx.get(f"{server.endpoint}/models", timeout=30).status_code == 200
    assert run_cli("down").returncode == 0


# ---------------------------------------------------------------- secrets


@pytest.mark.engine
def test_token_and_key_appear_nowhere_a_person_or_another_process_can_read(
        recipe_dir, fake_hub, native_server, no_engine_left):
    from localv4.tray.cli_backend import LocalBackend
    from localv4.tray.controller import Controller
    from localv4.tray.menu import menu

    token = "hf_reliabilityTokenNeverShown123"
    env = {"HF_ENDPOINT": fake_hub.endpoint, "HF_TOKEN": token}
    fake_hub.rate = 50_000_000
    pull = subprocess.Popen([sys.executable, "-m", "localv4", "pull", f"{RECIPE_ID}:{VARIANT}", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
    seen_argv = []
    while pull.poll() is None:  # every process's argv, while the pull runs
        seen_argv += [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])]
        time.sleep(0.2)
    pull_out, pull_err = pull.communicate()
    fake_hub.rate = None
    assert pull.returncode == 0, pull_err
    up = run_cli(*UP, "--host", "0.0.0.0", env=env, timeout=300)
    assert up.returncode == 0, up.stderr
    try:
        key = api.read_api_key()
        assert key and len(key) >= 32
        seen_argv += [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])]
        tray = Controller(LocalBackend(), RecordingShell(), None, run=synchronous).snapshot()
        texts = {
            "argv": "\n".join(seen_argv),
            "pull output": pull_out + pull_err,
            "up output": up.stdout + up.stderr,
            "status --json": run_cli("status", "--json", env=env).stdout,
            "doctor --json": run_cli("doctor", "--json", env=env).stdout,
            "tray": "\n".join(item.title for item in menu(tray)),
            "logs": "\n".join(p.read_text(errors="replace") for p in Path(os.environ["LOCALV4_HOME"]).rglob("*")
                              if p.is_file() and p.name != "api-key"),
        }
    finally:
        api.down()
    hits = {where: [s for s in (token, key) if s in text] for where, text in texts.items()}
    assert hits == {where: [] for where in texts}, hits


# ---------------------------------------------------------------- soak (small counts)


@pytest.mark.slow
@pytest.mark.engine
def test_soak_small(pulled, no_engine_left):
    from scripts import soak

    result = soak.soak(cycles=3, clients=4, duration=10, backend="llama-server", progress=False)
    assert result["cycles"]["cycles"] == 3 and soak.passed(result), result
    assert result["load"]["ok"] >= 4 and result["load"]["streamed"] >= 1
