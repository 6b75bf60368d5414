"""CLI commands: up, down, status, logs. Thin: parse, call localv4.serve.api, render."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Optional

import typer
from typer.core import TyperCommand

from localv4.cli.app import app
from localv4.cli.names import MODEL_OPTION, OWN_HELP, model_and_variant, own_gguf
from localv4.cli.output import JSON_OPTION, console_for, print_json, print_json_line, up_progress_printer
from localv4.cli.planning import PARALLEL_OPTION, PREFER_OPTION

FOLLOW_POLL_S = 0.25
ENGINE_FLAGS = "engine_flags"  # where `up` keeps what came after `--`


class AfterDashes(TyperCommand):
    """`up [MODEL[:VARIANT]] [-- ENGINE_FLAGS]`: click hands the words before and after `--` to the
    positionals alike, so those after it are set aside first; a word before it is the model."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            args, ctx.meta[ENGINE_FLAGS] = args[:cut], tuple(args[cut + 1:])
        return super().parse_args(ctx, args)


def _offer_asker(status, yes: bool):
    """How `up` answers its one offer to install an engine: --yes, else a question on a terminal;
    with neither, None, and `up` names the command instead."""
    if yes:
        return lambda _offer: True
    if status is None or not sys.stdin.isatty():
        return None

    def ask(offer) -> bool:
        status.stop()  # the spinner would draw over the question
        try:
            return typer.confirm(offer.question(), default=True)
        finally:
            status.start()

    return ask


def _json_printer():
    """`up --json`: each stage as an event line (a pull's own events as they are)."""
    def show(_status, event) -> None:
        detail = getattr(event.detail, "to_dict", None)
        print_json_line(detail() if detail else {"event": event.stage, "message": event.message})

    return show


def _follow(path, keep_going) -> None:
    """Print what is appended to the log at `path` while `keep_going()` says so."""
    with open(path, encoding="utf-8", errors="replace") as log:
        log.seek(0, 2)
        while keep_going():
            chunk = log.read()
            if chunk:
                sys.stdout.write(chunk)
                sys.stdout.flush()
            else:
                time.sleep(FOLLOW_POLL_S)


def _print_ready(console, info) -> None:
    from localv4.agents.launch import tool_calls_line
    from localv4.serve import client_examples
    from localv4.serve.engines import registry

    s = info.server
    if info.already_running:
        console.print(f"Already up: {s.model_id} at {s.endpoint} ({s.backend}, pid {s.pid}). "
                      "Nothing changed; `localv4 down` first to serve something else.")
        return
    console.print(f"[bold green]Ready[/]: {s.variant} on {s.backend}, context {s.context:,} tokens")
    console.print(f"  endpoint  {s.endpoint}")
    console.print(f"  model     {s.model_id}")
    console.print(f"  log       {s.log}")
    if s.workers:
        console.print(f"  pool      this host + {', '.join(s.workers)} (llama.cpp RPC; `localv4 status` checks them)")
    if s.api_key_file:
        console.print(f"  API key   required; stored in {s.api_key_file} (mode 0600)")
    if not registry.get(s.backend).capabilities.tool_calls:
        console.print(f"  tools     {tool_calls_line(s.backend)}", markup=False, soft_wrap=True)
    console.print("\ncurl:")
    console.print(client_examples.curl(s.address), markup=False, soft_wrap=True)
    console.print("\nOpenAI Python SDK:")
    console.print(client_examples.openai_sdk(s.address), markup=False, soft_wrap=True)


def _stay_attached(info, console, announce: Callable[[], None]) -> None:
    """--foreground: announce the endpoint, then stream the log here until the engine exits.

    Ctrl-C (or SIGTERM) stops the engine at any point from the moment it is ready, even while
    the endpoint is still being printed."""
    import signal

    from localv4.serve import api

    def stop_on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)
    try:
        announce()
        _follow(info.server.log, lambda: api.status().state not in ("stopped", "crashed"))
        console.print("[red]The engine exited.[/] `localv4 status` shows the last log lines.")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        console.print("\nStopping the engine...")
    finally:
        api.down()


@app.command(cls=AfterDashes)
def up(
    invocation: typer.Context,
    name: Optional[str] = typer.Argument(
        None, metavar="[MODEL[:VARIANT] | FILE.gguf] [-- ENGINE_FLAGS]", show_default=False,
        help=f"{OWN_HELP} After `--`: llama-server's own flags, after localv4's (a later flag wins): "
             "`localv4 up -- --threads 8`."),
    variant: Optional[str] = typer.Option(None, "--variant", "-v", help="Serve this variant instead of the plan's."),
    ctx: Optional[str] = typer.Option(None, "--ctx", help="Context in tokens: 32768, 128K, 1M."),
    port: Optional[str] = typer.Option(None, "--port", help="Port number, or 'auto' for a free one (default 8484)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; beyond loopback an API key is required."),
    backend: Optional[str] = typer.Option(None, "--backend", help="llama-server, xllamacpp (prebuilt llama.cpp), llama-cpp-python or mlx (default: the plan's)."),
    reasoning: Optional[str] = typer.Option(None, "--reasoning", help="Default thinking mode: off, high or max."),
    speculative: str = typer.Option("auto", "--speculative",
                                    help="auto: decode with the variant's draft (MTP/DSpark) where it fits; off: never."),
    foreground: bool = typer.Option(False, "--foreground", help="Stay attached: stream the log; Ctrl-C stops the engine."),
    prefer: str = PREFER_OPTION,
    parallel: Optional[int] = PARALLEL_OPTION,
    model: Optional[str] = MODEL_OPTION,
    ui: Optional[str] = typer.Option(
        None, "--ui", help="Also start Open WebUI wired to the endpoint: `--ui` (Docker) or `--ui native`."),
    ui_port: Optional[str] = typer.Option(None, "--ui-port", help="Port on 127.0.0.1 for the UI [default: 3000]."),
    no_open: bool = typer.Option(False, "--no-open", help="With --ui: do not open the browser."),
    yes: bool = typer.Option(False, "--yes", "-y",
                             help="Accept offers without asking: building an engine if none is here, "
                                  "installing Open WebUI natively."),
    as_json: bool = typer.Option(False, "--json", help="Progress and the result as JSON lines on stdout."),
    pool: Optional[str] = typer.Option(
        None, "--pool", help="Also use these workers' memory: HOST:PORT,... (`localv4 worker` on each)."),
) -> None:
    """Serve the plan on an OpenAI-compatible endpoint (detached; `localv4 down` stops it)."""
    from localv4 import flow
    from localv4.planning.values import NothingFits
    from localv4.planning.pool import parse_pool
    from localv4.serve import api
    from localv4.units import parse_context

    if ui_port is not None:  # bad UI flags are bad input: refuse them before starting anything
        _check_ui_port(ui_port, ui)
    if ui is not None:
        from localv4.cli.ui import choose_mode
        from localv4.webui.api import parse_mode

        asked = parse_mode(ui)
        ui = choose_mode(asked, yes)  # no Docker: native instead, asked before anything starts
        ui_yes = yes or ui != asked  # agreeing to native mode was agreeing to install it
    gguf = own_gguf(name)
    model, variant = (model, variant) if gguf else model_and_variant(name, model, variant)
    options = flow.UpOptions(
        variant=variant, model=model, ctx=parse_context(ctx) if ctx else None,
        pool=parse_pool(pool) if pool else (), speculative=speculative, prefer=prefer,
        parallel=parallel, gguf=gguf,
        serve=api.ServeOptions(port=port, host=host, backend=backend, reasoning=reasoning, foreground=foreground,
                               engine_args=invocation.meta.get(ENGINE_FLAGS, ())),
    )
    console, errors = console_for(stderr=as_json), console_for(stderr=True)
    show = _json_printer() if as_json else up_progress_printer(console)
    try:
        if console.is_terminal and not as_json:
            with console.status("starting") as status:
                info = flow.up(options, lambda e: show(status, e), _offer_asker(status, yes))
        else:
            info = flow.up(options, lambda e: show(None, e), _offer_asker(None, yes))
    except api.EngineLoadFailed as err:
        errors.print("Last lines of the engine log:", style="bold")
        for line in err.log_tail:
            errors.print(f"  {line}", markup=False, style="dim", soft_wrap=True)
        raise
    except NothingFits as err:
        from localv4.cli import render

        errors.print(render.nothing_fits(err))
        raise typer.Exit(1)
    def announce() -> None:
        if as_json:
            print_json_line({"event": "ready", "already_running": info.already_running,
                             "endpoint": info.server.endpoint, **info.server.to_dict()})
        else:
            _print_ready(console, info)
        if ui is not None:
            from localv4.cli.ui import run_start

            try:
                run_start(ui, ui_port, open_browser=not no_open, yes=ui_yes)
            except KeyboardInterrupt:
                errors.print(f"Open WebUI was stopped before it answered; the engine keeps serving at "
                             f"{info.server.endpoint} (`localv4 down` stops it).")
                raise

    if foreground and not info.already_running:
        _stay_attached(info, console, announce)
    else:
        announce()


def _check_ui_port(ui_port: str, ui: str | None) -> None:
    """A bad --ui-port, or one without --ui (where it would be ignored), is refused as usage."""
    from localv4.errors import UsageError
    from localv4.webui.settings import parse_ui_port

    parse_ui_port(ui_port, "--ui-port")
    if ui is None:
        raise UsageError("--ui-port goes with --ui: `localv4 up --ui --ui-port N` starts Open WebUI there.")


@app.command()
def down(
    purge_ui: bool = typer.Option(False, "--purge-ui", help="Also delete Open WebUI's container and data."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before --purge-ui deletes data."),
) -> None:
    """Stop the engine `up` started (SIGTERM, then SIGKILL) and the UI; nothing is left running."""
    from localv4.cli.ui import run_stop
    from localv4.serve import api

    notes: list[str] = []
    stopped = api.down(on_note=notes.append)
    for note in notes:
        typer.echo(note)
    if stopped is None and not notes:
        typer.echo("Nothing is running.")
    elif stopped is not None:
        typer.echo(f"Stopped {stopped.backend} (pid {stopped.pid}) serving {stopped.model_id}.")
    run_stop(purge_ui, yes, quiet=True)


def _human_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _requests_in_flight(current) -> int | None:
    """Busy slots of a running engine (clients' requests now), when the engine can tell."""
    if current.state != "running" or current.endpoint is None:
        return None
    from localv4.serve.clients import requests_in_flight

    return requests_in_flight(current.endpoint)


@app.command()
def status(as_json: bool = JSON_OPTION) -> None:
    """Is the engine running, loading, stopped or crashed; where, with what, using how much memory."""
    from localv4.serve import api
    from localv4.units import human_bytes

    current = api.status()
    failed = current.state in ("crashed", "unresponsive")
    in_flight = _requests_in_flight(current)
    if as_json:
        print_json({**current.to_dict(), "requests_in_flight": in_flight})
        raise typer.Exit(1 if failed else 0)
    console = console_for()
    style = {"running": "green", "loading": "yellow", "stopped": "dim", "crashed": "red",
             "unresponsive": "red"}[current.state]
    console.print(f"state     [{style}]{current.state}[/]")
    s = current.server
    if s is None:
        if current.note:
            console.print(current.note, markup=False, soft_wrap=True)
        console.print("Start it with `localv4 up`.")
        return
    console.print(f"endpoint  {s.endpoint}  (model {s.model_id})")
    console.print(f"engine    {s.backend}, pid {s.pid}")
    console.print(f"variant   {s.variant}, context {s.context:,} tokens, {s.placement}")
    console.print(f"draft     {s.draft} (speculative decoding)" if s.draft else "draft     none")
    if s.engine_args:
        console.print(f"flags     {' '.join(s.engine_args)} (after `--`, to {s.backend})", markup=False)
    for w in current.workers:
        mark = "[green]answering[/]" if w.ok else f"[red]gone: {w.detail}[/]"
        console.print(f"worker    {w.endpoint}  {mark}")
    if current.uptime_s is not None:
        console.print(f"uptime    {_human_duration(current.uptime_s)}")
    if current.rss_bytes is not None:
        console.print(f"memory    {human_bytes(current.rss_bytes)} resident")
    if in_flight is not None:
        console.print(f"clients   {in_flight} request{'' if in_flight == 1 else 's'} in flight (the engine's busy slots)")
    if current.bench_tok_s is not None:
        console.print(f"speed     {current.bench_tok_s:.1f} tok/s (last `localv4 bench`)")
    if current.problem:
        console.print(current.problem, style="bold red", markup=False)
    if failed:
        gone = current.state == "crashed"
        if not gone:
            console.print(f"The engine {current.note}.", style="bold", markup=False, soft_wrap=True)
        console.print("Last lines of the engine log:", style="bold")
        for line in current.log_tail:
            console.print(f"  {line}", markup=False, style="dim", soft_wrap=True)
        console.print("`localv4 up` starts it again." if gone else "`localv4 down` stops it.")
        raise typer.Exit(1)


@app.command()
def logs(
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (Ctrl-C to stop)."),
    lines: int = typer.Option(50, "--lines", "-n", min=0, help="How many of the last lines to show."),
) -> None:
    """The engine's log: the last lines, or follow it as it grows."""
    from localv4.serve import api, logs as engine_logs
    from localv4.storage import require_writable

    path = api.log_path()
    require_writable(path.parent)  # "no log yet" would hide a LOCALV4_HOME that cannot hold one
    if not path.exists():
        typer.echo("No engine log yet: `localv4 up` starts one.")
        return
    for line in engine_logs.tail(path, lines):
        typer.echo(line)
    if not follow:
        return
    try:
        _follow(path, lambda: True)
    except KeyboardInterrupt:
        pass
