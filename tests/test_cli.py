"""The command line itself: version, help, and one-line errors for what click refuses."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from conftest import run_cli


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_is_the_installed_one(flag: str) -> None:
    result = run_cli(flag)
    assert result.returncode == 0 and result.stdout == f"localv4 {version('localv4')}\n"


def test_bare_command_shows_the_commands() -> None:
    result = run_cli()
    assert result.returncode == 0
    assert all(f"  {name} " in result.stdout for name in ("doctor", "plan", "pull", "up", "down", "tray"))


def test_an_unknown_command_is_one_line_exit_2() -> None:
    result = run_cli("serve")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("localv4: No such command 'serve'. (see `")
    assert result.stderr.endswith("localv4 --help`)\n") and result.stderr.count("\n") == 1
