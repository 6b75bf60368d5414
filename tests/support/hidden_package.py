"""A child Python that runs as if a package were not installed, for "works without it" tests.

Uninstalling llama-cpp-python from the test environment is not possible (other tests need it), so
the child gets a sitecustomize.py that hides it the two ways a program can see it: importing the
module fails as it would if it were absent, and importlib.metadata does not list its distribution.
Everything else comes from the same environment as the tests.
"""

from __future__ import annotations

import os
from pathlib import Path

_SITECUSTOMIZE = '''"""Written by tests/support/hidden_package.py: {dists} not installed, as far as this Python sees."""
import re
import sys
from importlib.machinery import PathFinder

_MODULES, _DISTS = {modules!r}, {dists!r}


def _normal(name):
    return re.sub(r"[-_.]+", "-", name or "").lower()


class _WithoutIt(PathFinder):
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if any(fullname == m or fullname.startswith(m + ".") for m in _MODULES):
            return None
        return super().find_spec(fullname, path, target)

    @classmethod
    def find_distributions(cls, *args, **kwargs):
        return (d for d in super().find_distributions(*args, **kwargs) if _normal(d.metadata["Name"]) not in _DISTS)


sys.meta_path[:] = [_WithoutIt if finder is PathFinder else finder for finder in sys.meta_path]
'''


def env_without(folder: Path, dist: str, module: str, *others: tuple[str, str]) -> dict[str, str]:
    """Environment variables for a child Python in which DIST (importable as MODULE) is absent, and
    each other (dist, module) pair too."""
    pairs = ((dist, module), *others)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(_SITECUSTOMIZE.format(
        dists=tuple(d for d, _ in pairs), modules=tuple(m for _, m in pairs)))
    paths = [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths)}
