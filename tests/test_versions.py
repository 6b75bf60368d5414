"""Pins live in one place (localv4.pins): pyproject.toml must say the same ranges."""

from __future__ import annotations

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

from packaging.requirements import Requirement

from localv4.pins import MLX_REQUIREMENTS, PYTHON_ENGINE_REQUIREMENT, SUPPORTED

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# What pyproject.toml must declare for each pinned package: its range, except llama-cpp-python,
# declared as the one release the native server is built from.
DECLARED = {name: str(Requirement(f"x{spec}").specifier) for name, spec in SUPPORTED.items()}
DECLARED["llama-cpp-python"] = str(Requirement(PYTHON_ENGINE_REQUIREMENT).specifier)


def _requirements() -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    lines = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    return [Requirement(line) for line in lines]


def test_pyproject_holds_every_pinned_package_to_the_one_range() -> None:
    pinned = [r for r in _requirements() if r.name in SUPPORTED]
    assert {r.name for r in pinned} == set(SUPPORTED)  # each pin is used where the package is declared
    for requirement in pinned:
        assert str(requirement.specifier) == DECLARED[requirement.name], (
            f"pyproject.toml says {requirement}; localv4.pins says {DECLARED[requirement.name]}")


def test_install_mlx_installs_the_same_ranges() -> None:
    for line in MLX_REQUIREMENTS:
        requirement = Requirement(line)
        assert str(requirement.specifier) == str(Requirement(f"x{SUPPORTED[requirement.name]}").specifier)
