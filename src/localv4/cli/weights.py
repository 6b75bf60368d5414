"""CLI commands: weights."""

from localv4.cli.app import app  # noqa: F401
