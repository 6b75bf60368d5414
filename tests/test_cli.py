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


def test_plan_json_loads_neither_the_serving_stage_nor_rich() -> None:
    """`plan` is planning: what it imports is what its start-up costs (scripts/bench_cli.py holds
    it against `--help`), so the serving stage, the weights stage and, for --json, Rich stay out."""
    import subprocess
    import sys

    probe = ("import sys\nfrom localv4.cli import main\nsys.argv = ['localv4', 'plan', '--json']\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print('LOADED', ' '.join(sorted(m for m in sys.modules if m.startswith(('localv4.', 'rich.')))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    loaded = done.stdout.rsplit("LOADED", 1)[1].split()
    assert "localv4.planning.machine" in loaded  # it did plan
    assert not [m for m in loaded if m.startswith(("localv4.flow", "localv4.serve.api", "localv4.weights.",
                                                   "localv4.install.", "rich.table"))]
