"""What a user sees when a command fails: checked the same way by every test."""

from __future__ import annotations

import subprocess


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The user sees one `localv4: ...` line on stderr and no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("localv4: "), result.stderr
    return lines[0]
