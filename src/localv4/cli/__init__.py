"""Command-line entry point: parse, call the stage APIs, render. No logic of its own."""

from __future__ import annotations

import sys

from localv4.cli.app import app
# Each module registers its commands on `app` when imported.
from localv4.cli import foundation, weights, serve, install, ui, tray  # noqa: F401,E402


def main() -> None:
    from localv4.errors import LocalV4Error

    try:
        app()
    except LocalV4Error as err:
        print(f"localv4: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("localv4: interrupted", file=sys.stderr)
        sys.exit(130)
