"""CLI command: tray (the menu-bar / system-tray app), and `--login on|off` for start at login."""

from __future__ import annotations

from typing import Optional

import typer

from localv4.cli.app import app


@app.command()
def tray(
    login: Optional[str] = typer.Option(
        None, "--login", metavar="on|off",
        help="Start the tray at login (on) or not (off), then exit; the menu has the same toggle."),
) -> None:
    """The menu-bar app (macOS) or system-tray app (Linux, Windows): status, start/stop, chat, logs."""
    if login is None:
        from localv4.tray import run_tray

        run_tray()
        return
    from localv4.tray import login as login_items

    on = login_items.parse_switch(login)
    item = login_items.for_this_platform()
    item.set(on)
    typer.echo(f"Start at login: {'on' if on else 'off'} ({item.path} {'written' if on else 'removed'}).")
