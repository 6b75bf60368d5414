"""The optional Python engine in pyproject.toml (the ranges themselves: tests/test_versions.py).

A plain `pip install localv4` must compile nothing: llama-cpp-python (which builds llama.cpp at
install time) is only in the `python-engine` extra, and everything works without it.
"""

from __future__ import annotations

import sys

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from conftest import REPO
from localv4 import pins

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _requirements(names: list[str]) -> dict[str, list[Requirement]]:
    found: dict[str, list[Requirement]] = {}
    for line in names:
        requirement = Requirement(line)
        found.setdefault(requirement.name, []).append(requirement)
    return found


DEPENDENCIES = _requirements(PROJECT["dependencies"])
EXTRAS = {name: _requirements(lines) for name, lines in PROJECT["optional-dependencies"].items()}


def test_a_plain_install_compiles_nothing():
    assert "llama-cpp-python" not in DEPENDENCIES
    (engine,) = EXTRAS[pins.PYTHON_ENGINE_EXTRA]["llama-cpp-python"]
    assert str(engine) == pins.PYTHON_ENGINE_REQUIREMENT


def test_the_python_engine_is_the_release_the_native_server_is_built_from():
    """One llama.cpp for both engines: the extra installs exactly the pinned sdist's release."""
    (engine,) = EXTRAS[pins.PYTHON_ENGINE_EXTRA]["llama-cpp-python"]
    assert str(engine.specifier) == f"=={pins.LLAMA_CPP_PYTHON_VERSION}"
    assert "server" in engine.extras


def test_the_test_extra_runs_the_python_engine():
    (itself,) = EXTRAS["test"]["localv4"]
    assert itself.extras == {pins.PYTHON_ENGINE_EXTRA}


def test_the_native_build_pin_is_inside_the_python_engine_range():
    assert pins.LLAMA_CPP_PYTHON_VERSION in SpecifierSet(pins.LLAMA_CPP_PYTHON_VERSIONS)


def test_every_engine_dependency_has_an_upper_bound():
    engines = ("llama-cpp-python", "mlx-lm", "mlx-vlm")
    every = [r for group in (DEPENDENCIES, *EXTRAS.values()) for n in engines for r in group.get(n, [])]
    assert every and all(any(s.operator in ("<", "<=", "==", "~=") for s in r.specifier) for r in every)
