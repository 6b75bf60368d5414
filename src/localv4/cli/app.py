"""The Typer application object that every command module attaches to.

Command modules import only typer at module level; everything heavy is imported inside the
command functions so that `localv4 --help` starts fast.
"""

import typer

app = typer.Typer(
    name="localv4",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: the Rich help formatter alone costs ~200 ms at start-up
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from localv4 import __version__

        typer.echo(f"localv4 {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", "-V", is_eager=True, callback=_print_version,
                                 help="Print localv4's version and exit."),
) -> None:
    """Run DeepSeek V4-Flash on your own hardware: doctor, plan, pull, up."""
