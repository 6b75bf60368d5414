"""The pystray app on a real (virtual) X display with a real system-tray host.

Each app runs in its own process, as a user runs it: GTK owns that process's main thread.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from localv4.tray.menu import ServerPhase, TrayState, menu

sys.path.insert(0, str(REPO / "scripts"))
from screenshot_tray import XSession, missing_tools  # noqa: E402

APP_TIMEOUT_S = 60

# The app with a recording backend: print the menu pystray holds, click Start through pystray's
# own menu-item callback, print the menu again once the poller has seen the change, then quit.
DRIVER = """
import json, sys, time
from test_tray_model import RecordingBackend
from localv4.tray.menu import Action, ServerPhase, TrayState
from localv4.tray.pystray_app import PystrayTray

backend = RecordingBackend()
tray = PystrayTray(backend, None, poll_interval=0.1)

def shown(icon):
    return [("-", None) if item is tray.pystray.Menu.SEPARATOR else (item.text, item.enabled)
            for item in icon.menu.items]

def wait(condition):
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.05)

def ready(tray):
    try:
        wait(lambda: tray.state != TrayState())  # the poller's first snapshot
        before = shown(tray.icon)
        start = next(item for item in tray.icon.menu.items if item.text == "Start server")
        start(tray.icon)
        wait(lambda: tray.state.server is ServerPhase.RUNNING)
        print(json.dumps({"before": before, "calls": backend.calls, "after": shown(tray.icon),
                          "title": tray.icon.title, "visible": tray.icon.visible}), flush=True)
    finally:
        tray.controller.perform(Action.QUIT)

tray.run(ready)
"""


@pytest.fixture()
def x_session():
    missing = missing_tools()
    if missing:
        pytest.skip(f"no virtual desktop here: missing {', '.join(missing)} (`bash .ci/run` installs them: "
                    "apt-get install xvfb trayer xdotool dbus-x11 gir1.2-gtk-3.0; pip install PyGObject)")
    with XSession() as session:
        yield session


def test_pystray_menu_is_the_model_and_its_callback_calls_the_backend(x_session: XSession):
    env = {**x_session.env, "PYTHONPATH": str(REPO / "tests")}
    done = subprocess.run([sys.executable, "-c", DRIVER], env=env, capture_output=True, text=True,
                          timeout=APP_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    expected = menu(TrayState(login_supported=False))
    assert report["before"] == [["-", None] if i.is_separator else [i.title, i.enabled and i.action is not None]
                                for i in expected]
    assert report["calls"] == ["start"]
    after = [title for title, _ in report["after"]]
    assert after[0] == "Running UD-Q2_K_XL · 64K context" and "Stop server" in after
    assert after == [i.title for i in menu(TrayState(
        server=ServerPhase.RUNNING, endpoint="http://127.0.0.1:8484/v1", variant="deepseek-v4-flash:UD-Q2_K_XL",
        context=65536, login_supported=False))]
    assert report["title"] == "localv4: running" and report["visible"] is True


def test_real_tray_toggles_start_at_login_and_quits_from_its_menu(x_session: XSession, tmp_path: Path):
    """`localv4 tray` itself: right-click the icon, pick items with the keyboard, as a person would."""
    config = tmp_path / "config"
    entry = config / "autostart" / "localv4-tray.desktop"
    env = {**x_session.env, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(config)}
    tray = subprocess.Popen([sys.executable, "-m", "localv4", "tray"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        x_session.wait_docked()
        x_session.open_menu()
        x_session.keys("Up", "Up", "Return")  # the last item is Quit, the one above it Start at login
        x_session.wait_menu_closed()
        x_session.wait_for(entry.exists, "the autostart entry")
        assert f"{sys.executable} -m localv4 tray" in entry.read_text()

        x_session.open_menu()
        x_session.keys("Up", "Return")  # Quit (the server is stopped, so it asks nothing)
        out, err = tray.communicate(timeout=APP_TIMEOUT_S)
    finally:
        if tray.poll() is None:
            tray.kill()
            tray.communicate()
    assert tray.returncode == 0, err
    assert entry.exists()  # quitting leaves the login item as the user set it


def test_tray_without_a_display_says_so_in_one_line():
    done = run_cli("tray", env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert done.returncode == 1
    assert done.stderr.strip() == ("localv4: no graphical session here (DISPLAY is not set): "
                                   "run `localv4 tray` from your desktop.")


def test_icons_are_drawn_per_state():
    pytest.importorskip("PIL")
    from localv4.tray import icons
    from localv4.tray.menu import IconKind, IconState

    centre = (32, 32)
    running = icons.draw(IconState(IconKind.RUNNING))
    assert running.size == (64, 64) and running.getpixel(centre) == icons.COLOURS[IconKind.RUNNING]
    assert icons.draw(IconState(IconKind.STOPPED)).getpixel(centre)[3] == 0  # a ring: hollow
    error = icons.draw(IconState(IconKind.ERROR))
    assert error.getpixel((32, 24)) == icons.WHITE  # the "!"
    pulling = icons.draw(IconState(IconKind.PULLING, 25))
    done, to_do = (48, 15), (15, 48)  # a quarter done: the ring is filled from 12 to 3 o'clock only
    assert pulling.getpixel(done) == icons.COLOURS[IconKind.PULLING]
    assert pulling.getpixel(to_do) == icons.TRACK
