"""`localv4 tray`: localv4 one click away, in the macOS menu bar or the Linux/Windows system tray.

The tray holds no logic of its own: `model` turns the state into an icon and a menu, the
`controller` turns clicks into calls on a `Backend` (the same APIs and commands the CLI uses),
and a shell (rumps on macOS, pystray elsewhere) only draws. Toolkits are imported on first use.
"""

from __future__ import annotations

import sys


def run_tray() -> None:
    """Run the tray for this machine until the user quits it."""
    from localv4.tray import login
    from localv4.tray.cli_backend import LocalBackend

    item = login.for_this_platform() if login.supported() else None
    if sys.platform == "darwin":
        try:
            from localv4.tray.rumps_app import RumpsTray as Tray
        except ImportError as err:
            from localv4.errors import RuntimeFailure
            from localv4.fixes import pip_install

            raise RuntimeFailure(f"the menu-bar app needs rumps ({err}): `{pip_install('rumps')}`") from None
    else:
        from localv4.tray.pystray_app import PystrayTray as Tray
    Tray(LocalBackend(), item).run()
