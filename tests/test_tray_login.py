"""Start at login: the LaunchAgent plist and the XDG autostart entry, written to a temp home."""

from __future__ import annotations

import os
import plistlib
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from localv4.errors import UsageError
from localv4.tray import login


def test_launch_agent_plist_runs_this_python_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_never_written")
    item = login.launch_agent(tmp_path, login.tray_command(), login.carried_env())
    assert item.path == tmp_path / "Library" / "LaunchAgents" / "io.localv4.tray.plist"
    assert not item.enabled()
    item.set(True)
    plist = plistlib.loads(item.path.read_bytes())
    assert plist["Label"] == "io.localv4.tray"
    assert plist["ProgramArguments"] == [sys.executable, "-m", "localv4", "tray"]
    assert plist["RunAtLoad"] is True
    env = plist["EnvironmentVariables"]
    assert env["LOCALV4_HOME"] == os.environ["LOCALV4_HOME"]  # set for every test by conftest
    assert set(env) <= {"PATH", "LOCALV4_HOME", "HF_HOME", "HF_HUB_CACHE"}
    assert b"hf_secret_never_written" not in item.path.read_bytes()
    assert item.enabled()
    item.set(False)
    assert not item.path.exists() and not item.enabled()
    item.set(False)  # turning off twice is fine


def test_launch_agent_carries_where_localv4_keeps_its_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LOCALV4_HOME", "/data/localv4 home")
    monkeypatch.setenv("HF_HOME", "/data/hf")
    item = login.launch_agent(tmp_path, ["/usr/bin/python3", "-m", "localv4", "tray"], login.carried_env())
    env = plistlib.loads(item.content)["EnvironmentVariables"]
    assert env["LOCALV4_HOME"] == "/data/localv4 home" and env["HF_HOME"] == "/data/hf"


def test_xdg_autostart_entry_execs_the_tray_with_its_environment(tmp_path: Path):
    command = ["/opt/py 3/bin/python", "-m", "localv4", "tray"]
    item = login.xdg_autostart(tmp_path, command, {"LOCALV4_HOME": "/data/my $home", "HF_HOME": "/data/hf"})
    item.set(True)
    text = (tmp_path / "autostart" / "localv4-tray.desktop").read_text()
    assert text.startswith("[Desktop Entry]\nType=Application\n")
    # Desktop Entry Specification: reserved characters in double quotes, and a literal $ in a
    # quoted argument is written \\$ (quoting escape, then the string escape of the backslash).
    exec_line = 'Exec=env "LOCALV4_HOME=/data/my \\\\$home" HF_HOME=/data/hf "/opt/py 3/bin/python" -m localv4 tray'
    assert exec_line + "\n" in text


def test_cli_login_on_and_off_on_linux(tmp_path: Path):
    config = tmp_path / "config"
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(config)}
    entry = config / "autostart" / "localv4-tray.desktop"

    on = run_cli("tray", "--login", "on", env=env)
    assert on.returncode == 0, on.stderr
    assert f"Start at login: on ({entry} written)" in on.stdout
    assert f"{sys.executable} -m localv4 tray" in entry.read_text()

    off = run_cli("tray", "--login", "OFF", env=env)
    assert off.returncode == 0 and "Start at login: off" in off.stdout
    assert not entry.exists()


def test_cli_login_takes_only_on_or_off():
    bad = run_cli("tray", "--login", "maybe")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "localv4: --login takes 'on' or 'off' (got 'maybe')."
    with pytest.raises(UsageError):
        login.parse_switch("yes")
