"""CLI command: launch. Thin: parse, call localv4.agents.launch, render."""

from __future__ import annotations

from typing import Optional

import typer

from localv4.cli.app import app

AGENTS_HELP = "claude, codex, opencode, aider or llm"


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def launch(
    ctx: typer.Context,
    agent: str = typer.Argument(..., help=f"The agent: {AGENTS_HELP}."),
    config: bool = typer.Option(False, "--config", help="Print what would be set (never the key) and exit."),
    reasoning: Optional[str] = typer.Option(
        None, "--reasoning", help="Thinking mode: off, high or max; the endpoint starts with it, and the agent asks for it where it can (default: the agent's own)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Recipe id to start when nothing runs, as `up --model` (default: deepseek-v4-flash-0731)."),
    variant: Optional[str] = typer.Option(None, "--variant", "-v", help="Variant to start when nothing runs, as `up --variant`."),
) -> None:
    """Run a coding agent wired to the local model; starts the endpoint first if none runs.

    Arguments after `--` go to the agent: `localv4 launch claude -- -p "fix the tests"`."""
    from localv4.agents import launch as agents
    from localv4.cli.output import console_for, up_progress_printer

    args = list(ctx.args)
    if config:
        for line in agents.describe(agents.prepare(agent, reasoning, start=False, model=model, variant=variant), args):
            typer.echo(line)
        return
    console = console_for(stderr=True)
    show = up_progress_printer(console)
    prepared = agents.prepare(agent, reasoning, on_event=lambda e: show(None, e), model=model, variant=variant)
    raise typer.Exit(agents.run(prepared, args))
