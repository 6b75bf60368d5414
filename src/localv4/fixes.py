"""The command that installs a Python package where localv4 runs, for the fix lines it prints.

After the README's `pipx install .`, a bare `pip install X` puts X into some other Python and
changes nothing: there it is `pipx inject localv4 X`. Elsewhere it is pip of this interpreter,
named so that the line works whichever `pip` comes first on PATH.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


def pipx_venv() -> str | None:
    """The name of the pipx venv this Python is (`localv4`), or None outside pipx. pipx keeps its
    venvs in `<PIPX_HOME>/venvs/<name>`; PIPX_HOME defaults to a folder named pipx."""
    path = Path(sys.prefix)
    home = os.environ.get("PIPX_HOME")
    if path.parent.name != "venvs":
        return None
    if path.parent.parent.name == "pipx" or (home and path.parent.parent == Path(home)):
        return path.name
    return None


def pip_install(*requirements: str, pip_args: str = "") -> str:
    """`pipx inject localv4 'X>=1'` under pipx, else `python3 -m pip install 'X>=1'`;
    `pip_args` ("--upgrade", "--force-reinstall") go to pip either way."""
    packages = " ".join(shlex.quote(r) for r in requirements)
    venv = pipx_venv()
    if venv:
        extra = f" --pip-args={shlex.quote(pip_args)}" if pip_args else ""
        return f"pipx inject {venv}{extra} {packages}"
    extra = f" {pip_args}" if pip_args else ""
    return f"{_python()} -m pip install{extra} {packages}"


def _python() -> str:
    """This interpreter as a person would type it: its short name where PATH finds this very one."""
    for name in ("python3", "python"):
        found = shutil.which(name)
        if found and os.path.abspath(found) == os.path.abspath(sys.executable):
            return name
    return shlex.quote(sys.executable)
