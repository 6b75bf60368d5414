"""Screenshot of the real `localv4 tray` menu on a virtual X display, for the README.

    python -m scripts.screenshot_tray [--out docs/tray.png]    # from the repository root

Starts Xvfb, a session bus and a system-tray host (trayer), runs `localv4 tray` there against
this machine's real localv4 state (run `localv4 up` first to picture a running server),
right-clicks the icon and saves the open menu. Needs (Debian/Ubuntu): apt install xvfb trayer
xdotool dbus-daemon gir1.2-gtk-3.0 imagemagick, and pip install 'localv4[tray]'.

The virtual desktop (`XSession`) is tests/support/xsession.py, which the tray tests drive too.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from tests.support.xsession import XSession, missing_tools

REPO = Path(__file__).resolve().parents[1]

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "tray.png")
    args = parser.parse_args()
    missing = missing_tools(screenshot=True)
    if missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    with XSession() as session:
        tray = subprocess.Popen([sys.executable, "-m", "localv4", "tray"], env=session.env,
                                stdin=subprocess.DEVNULL)
        try:
            session.wait_docked()
            time.sleep(1.0)  # the first status poll relabels the menu
            x, y, width, height = session.open_menu()
            time.sleep(0.5)  # let GTK finish drawing the menu
            margin = 16
            session.screenshot(args.out, (max(0, x - margin), 0, session.size[0],
                                          min(session.size[1], y + height + margin)))
        finally:
            tray.terminate()
            tray.wait(10)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
