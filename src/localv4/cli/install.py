"""CLI commands: install."""

from localv4.cli.app import app  # noqa: F401
