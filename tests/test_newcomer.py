"""A newcomer's first minutes, as the README tells them: scripts/newcomer.sh installs this checkout
into a fresh virtual environment and runs each README command that downloads nothing. Run here so
the README cannot drift from the tool again (issue 24)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "newcomer.sh"


@pytest.mark.slow  # a venv and `pip install .` from the package index: about half a minute
def test_the_readmes_commands_work_after_the_readmes_install() -> None:
    done = subprocess.run(["bash", str(SCRIPT), sys.executable], capture_output=True, text=True, timeout=600)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    ran = [line.split()[2] for line in lines[1:] if line[:3].strip().isdigit()]
    assert ran == ["doctor", "plan", "list", "plan", "install", "models", "status", "logs", "down"]
