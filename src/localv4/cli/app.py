"""The Typer application object that every command module attaches to.

Command modules import only typer at module level; everything heavy is imported inside the
command functions so that `localv4 --help` starts fast.
"""

import typer

app = typer.Typer(
    name="localv4",
    help="Run DeepSeek V4-Flash on your own hardware: doctor, plan, pull, up.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: the Rich help formatter alone costs ~200 ms at start-up
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
