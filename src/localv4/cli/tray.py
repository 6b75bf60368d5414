"""CLI commands: tray."""

from localv4.cli.app import app  # noqa: F401
