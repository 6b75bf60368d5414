"""CLI command: launch. Thin: parse, call localv4.agents.launch, render."""

from __future__ import annotations

from typing import Optional

import typer
from typer.core import TyperCommand

from localv4.cli.app import app

AGENTS_HELP = "claude, codex, opencode, aider or llm"


class AgentArgs(TyperCommand):
    """Options before `--` are localv4's: one it does not know is refused (click's usage error,
    exit 2) with where the agent's own go, rather than passed to the agent unseen."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except Exception as err:
            if type(err).__name__ == "NoSuchOption":  # typer vendors click: matched by name, as cli.main does
                near = f" (did you mean {' or '.join(sorted(err.possibilities))}?)" if err.possibilities else ""
                err.message += f"{near}; the agent's own arguments go after `--`"
                err.possibilities = None
            raise


@app.command(cls=AgentArgs, context_settings={"allow_extra_args": True})
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
