"""CLI commands: ui."""

from localv4.cli.app import app  # noqa: F401
