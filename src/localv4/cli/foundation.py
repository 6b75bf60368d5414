"""CLI commands: foundation."""

from localv4.cli.app import app  # noqa: F401
