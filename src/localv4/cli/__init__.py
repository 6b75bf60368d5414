"""Command-line entry point: parse, call the stage APIs, render. No logic of its own."""

from __future__ import annotations

import sys

from localv4.cli.app import app

# Each module registers its commands on `app` when imported.
from localv4.cli import planning, weights, serve, chat, install, ui, tray, launch, worker  # noqa: F401,E402

# Options whose value may be left out (`up --ui` means `up --ui docker`); click cannot say so.
OPTIONAL_VALUES = {"--ui": "docker"}


def _fill_optional_values(argv: list[str]) -> list[str]:
    out = []
    for i, arg in enumerate(argv):
        bare = arg in OPTIONAL_VALUES and (i + 1 == len(argv) or argv[i + 1].startswith("-"))
        out.append(f"{arg}={OPTIONAL_VALUES[arg]}" if bare else arg)
    return out


def main() -> None:
    """Run the app; every error a user can cause ends as one line on stderr, never a traceback."""
    from localv4.errors import LocalV4Error

    try:
        code = app(args=_fill_optional_values(sys.argv[1:]), standalone_mode=False)
    except LocalV4Error as err:
        _fail(str(err), err.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as err:  # click's usage errors: typer vendors click, so match by shape
        if type(err).__name__ == "NoArgsIsHelpError":  # bare `localv4`: show the help
            print(err.format_message())
            sys.exit(0)
        if hasattr(err, "format_message") and hasattr(err, "exit_code"):
            hint = f" (see `{err.ctx.command_path} --help`)" if getattr(err, "ctx", None) else ""
            _fail(f"{err.format_message()}{hint}", err.exit_code)
        if type(err).__name__ == "Abort":
            _fail("aborted", 1)
        raise
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    print(f"localv4: {message}", file=sys.stderr)
    if "--json" in sys.argv[1:]:  # machine readers get the same line as the protocol's last event
        from localv4 import events

        print(events.line(events.error(message, code)), flush=True)
    sys.exit(code)
