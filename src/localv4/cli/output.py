"""What every command shares in its output: `--json` (one document, or JSON-lines events) and
the Rich console its words go to."""

from __future__ import annotations

import json
import time

import typer

JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output on stdout.")


def print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def print_json_line(event: dict) -> None:
    """One event of the JSON-lines protocol (localv4.events), flushed at once for a reader."""
    from localv4 import events

    print(events.line(event), flush=True)


def console_for(stderr: bool = False):
    """A Rich console for the commands' words (stderr when stdout carries JSON). No guessing at
    what to colour or which `:name:` is an emoji: the words are printed as written (and Rich's
    emoji table, ~4 ms to import, stays unloaded)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, emoji=False)


def up_progress_printer(console):
    """`up`'s progress (and anything that starts the endpoint as `up` does): spinner text (with the time so far) on a terminal; one plain line per new message otherwise."""
    last: list[str] = [""]
    started = time.monotonic()

    def show(status, event) -> None:
        if event.detail is not None:  # a pull event: the weights stage's own words, when it has some
            from localv4.cli.pull_view import plain_line

            line = plain_line(event.detail)
            if line:
                console.print(line, markup=False, highlight=False, soft_wrap=True)
        if event.keep:  # said once, kept on screen (an install note, a damaged record set aside)
            console.print(event.message, markup=False, highlight=False, soft_wrap=True)
            return
        text = event.message if event.stage != "load" else f"loading: {event.message}"
        if status is not None:
            status.update(f"{text}  ({time.monotonic() - started:.0f} s)")
        elif text != last[0] and event.detail is None:
            console.print(text)
        last[0] = text

    return show
