"""CLI commands: `localv4 ui start|stop|open|status` (Open WebUI on the local endpoint).

`run_start` is also what `localv4 up --ui` calls once the endpoint is up, and `run_stop` what
`localv4 down` (and `down --purge-ui`) calls.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import typer

from localv4.cli.app import app
from localv4.cli.output import print_json, print_json_line

if TYPE_CHECKING:
    from localv4.webui.events import EventSink

ui_app = typer.Typer(
    help="Open WebUI wired to the local endpoint: start, stop, open, status.", no_args_is_help=True
)
app.add_typer(ui_app, name="ui")


@contextlib.contextmanager
def ui_progress(stderr: bool = False) -> Iterator[EventSink]:
    """An event sink: Rich progress on a terminal, plain lines (each once) otherwise; on stderr
    when stdout carries JSON."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal:
        last: list[str] = [""]

        def plain(event) -> None:
            if event.message != last[0]:
                print(event.message, flush=True, file=sys.stderr if stderr else sys.stdout)
                last[0] = event.message

        yield plain
        return

    from rich.filesize import decimal
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[size]}"))
    with Progress(*columns, console=console, transient=True) as progress:
        tasks: dict[str, int] = {}

        def rich_sink(event) -> None:
            if event.kind == "install":
                progress.console.print(event.message, markup=False, highlight=False, style="dim")
                return
            if event.kind == "step":
                progress.console.print(f"• {event.message}", markup=False, highlight=False)
            if event.kind not in tasks:
                tasks[event.kind] = progress.add_task(event.message, total=None, size="")
            size = f"{decimal(event.completed or 0)}/{decimal(event.total)}" if event.total else ""
            progress.update(
                tasks[event.kind], description=event.message, completed=event.completed or 0, total=event.total, size=size
            )

        yield rich_sink


def choose_mode(mode: str | None, yes: bool) -> str:
    """The UI mode to run: Docker when it answers; without it, native once agreed (--yes, or a
    question on a terminal, which also covers installing it); else the one line saying why not."""
    from localv4.errors import RuntimeFailure
    from localv4.webui import api

    offer = api.native_offer(mode)
    if offer is None:
        return api.parse_mode(mode)
    if yes or (sys.stdin.isatty() and typer.confirm(offer.question(), default=True)):
        return "native"
    raise RuntimeFailure(offer.docker_problem)


def _ensure_native_installed(yes: bool) -> None:
    from localv4.errors import RuntimeFailure
    from localv4.webui import api
    from localv4.webui.settings import OPEN_WEBUI_VERSION

    if api.native_installed():
        return
    question = f"Open WebUI is not installed for native mode. Install open-webui=={OPEN_WEBUI_VERSION} (large)?"
    if not yes and not (sys.stdin.isatty() and typer.confirm(question, default=True)):
        raise RuntimeFailure(
            "Open WebUI is not installed: rerun with --yes to install it, or use Docker: `localv4 ui start`."
        )
    with ui_progress() as sink:
        api.install_native(sink)


def run_start(
    mode: str | None, port: str | int | None, open_browser: bool, yes: bool, as_json: bool = False,
) -> None:
    """Validate the flags, start the UI against the running endpoint, print where it is."""
    from localv4.serve import api as serve_api
    from localv4.webui import api
    from localv4.webui.settings import parse_ui_port

    asked = api.parse_mode(mode)
    port_number = parse_ui_port(port)
    endpoint = serve_api.serving(accept_loading=True).endpoint
    mode = choose_mode(asked, yes)
    if mode == "native":
        _ensure_native_installed(yes or asked != mode)  # agreeing to native mode was agreeing to install it
    with ui_progress(stderr=as_json) as sink:
        started = api.start_ui(endpoint, mode, port_number, open_browser, sink)
    if as_json:
        print_json_line({"event": "ui_ready", "url": started.url, "mode": started.mode,
                         "endpoint": started.endpoint, "already_running": started.reused})
        return
    already = " (already running)" if started.reused else ""
    typer.echo(f"Open WebUI{already} at {started.url} ({started.mode}), talking to {started.endpoint}")
    if open_browser and not started.opened:
        typer.echo(f"No browser could be opened here: open {started.url} yourself.")
    if not started.reused:
        typer.echo("On a first start, the first account you create becomes the admin.")


@ui_app.command("start")
def start(
    mode: str = typer.Option("docker", "--mode", help="docker (default) or native (open-webui serve, no Docker)."),
    port: str = typer.Option(None, "--port", help="Port on 127.0.0.1 for the UI [default: 3000]."),
    no_open: bool = typer.Option(False, "--no-open", help="Do not open a browser."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Install Open WebUI for native mode without asking."),
    as_json: bool = typer.Option(False, "--json", help="The result as a JSON line on stdout."),
) -> None:
    """Start Open WebUI connected to the running endpoint, then open it in the browser."""
    run_start(mode, port, open_browser=not no_open, yes=yes, as_json=as_json)


def run_stop(purge: bool, yes: bool, quiet: bool = False) -> None:
    """Stop the UI (data kept), or with `purge` delete its data after asking; `down` calls this."""
    from localv4.webui import api

    if purge and not yes:
        typer.confirm("Delete Open WebUI's container and data, with every account and chat?", abort=True)
    result = api.stop_ui(purge=purge)
    for what in result.stopped:
        typer.echo(f"stopped {what}")
    for what in result.removed:
        typer.echo(f"removed {what}")
    if not result.stopped and not result.removed and not quiet:
        typer.echo("Open WebUI was not running.")


@ui_app.command("stop")
def stop(
    purge: bool = typer.Option(False, "--purge", help="Also delete the UI's data: accounts and chats."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before --purge deletes data."),
) -> None:
    """Stop Open WebUI; its data (accounts, chats) is kept unless --purge."""
    run_stop(purge, yes)


@ui_app.command("open")
def open_() -> None:
    """Open the running Open WebUI in the browser."""
    from localv4.webui import api

    url, opened = api.open_ui()
    typer.echo(url if opened else f"No browser could be opened here: open {url} yourself.")


@ui_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Is Open WebUI running, where, and what does it talk to."""
    from localv4.webui import api

    report = api.ui_status()
    if as_json:
        print_json(report.to_dict())
        return
    if report.mode is None:
        typer.echo("Open WebUI: not started (`localv4 ui start` or `localv4 up --ui`).")
        return
    answering = " and answering" if report.answering else ""
    typer.echo(f"Open WebUI: {report.state}{answering} ({report.mode}) at {report.url}")
    typer.echo(f"  talks to: {report.endpoint}")
    if report.detail:
        typer.echo(f"  {report.detail}")
