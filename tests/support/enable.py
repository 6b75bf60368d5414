"""The exact commands that enable tests which skip here, for their skip messages.

A skip that says only "needs root" leaves the reader to work out how; these name the command.
"""

from __future__ import annotations

import shlex
import shutil
import sys

import pytest


def as_root(request: pytest.FixtureRequest) -> str:
    """This test run again by root with the same interpreter (a virtual environment's included)."""
    return pytest_as_root(request.node.nodeid)


def pytest_as_root(target: str) -> str:
    """pytest on TARGET (a file or a test id) as root, with this interpreter."""
    return f"sudo {shlex.quote(sys.executable)} -m pytest {shlex.quote(target)}"


def start_docker() -> str:
    """How to get a Docker daemon running on this machine."""
    if sys.platform == "darwin":
        return "open -a Docker  (Docker Desktop)"
    start = "sudo systemctl start docker  (without systemd: sudo dockerd &, as .ci/run does)"
    if shutil.which("dockerd") is None:
        return f"sudo apt-get install docker.io && {start}"
    return start
