"""The one way localv4 reaches into another library's internals: by name, checked, loudly.

The launchers add what the engines' servers lack (a context cap, one model id, an API key read
from a file, the recipe's sampling) by replacing attributes inside mlx-lm, mlx-vlm and
llama-cpp-python; the weights stage reads huggingface_hub's shared-blob helpers. A plain
`module.attr = value` on a name a release has renamed succeeds silently and the fix is lost, so
every such reach names a `Target`, and a missing target raises `InternalsMoved` naming the
package, its installed version and the range localv4 supports. `check()` verifies a list of
targets without changing anything: `doctor` and a test run it over every target the launchers use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from localv4.errors import RuntimeFailure
from localv4.fixes import pip_install
from localv4.pins import SUPPORTED


@dataclass(frozen=True)
class Target:
    """An attribute inside another package: `module` imported, then `path` walked from it."""

    package: str  # the distribution, as pip names it: "mlx-vlm"
    module: str  # "mlx_vlm.server.generation"
    path: str  # "ResponseGenerator.generate": attributes from the module, dot-separated
    key: str | None = None  # an entry of the mapping at `path` (pydantic's `model_fields`), if set

    def __str__(self) -> str:
        return f"{self.module}.{self.path}" + (f"[{self.key!r}]" if self.key else "")


# mlx-vlm's DeepSeek V4 DSpark drafter (0.7.10 on): `--draft-model DIR --draft-kind dflash` reads
# the `mtp.*` stages from DeepSeek's own checkpoint. Named here because two stages ask about it: the
# planner (is it installed?) and the MLX launcher (check it before mlx-vlm loads it).
MLX_DSPARK_DRAFTER = Target("mlx-vlm", "mlx_vlm.speculative.drafters.deepseek_v4_dspark",
                            "DeepseekV4DsparkDraftModel")


class InternalsMoved(RuntimeFailure):
    """A target is not where the supported releases have it."""


def installed_version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def supported(package: str) -> str:
    """The release range localv4 supports for `package` (pip's syntax), or ""."""
    return SUPPORTED.get(package, "")


def _moved(target: Target, why: str) -> InternalsMoved:
    version = installed_version(target.package) or "(not installed)"
    supported = SUPPORTED.get(target.package, "")
    return InternalsMoved(
        f"{target.package} {version} has no {target} ({why}): localv4 supports {target.package} "
        f"{supported}; run `{pip_install(target.package + supported)}`."
    )


def _owner(target: Target) -> tuple[Any, str]:
    """The object holding the target's last attribute, and that attribute's name."""
    try:
        owner: Any = importlib.import_module(target.module)
    except ImportError as err:
        raise _moved(target, f"cannot import {target.module}: {err}") from None
    *parents, name = target.path.split(".")
    for part in parents:
        if not hasattr(owner, part):
            raise _moved(target, f"no {part}")
        owner = getattr(owner, part)
    if not hasattr(owner, name):
        raise _moved(target, f"no {name}")
    return owner, name


def get(target: Target) -> Any:
    owner, name = _owner(target)
    value = getattr(owner, name)
    if target.key is None:
        return value
    try:
        return value[target.key]
    except (KeyError, TypeError):
        raise _moved(target, f"no entry {target.key!r}") from None


def replace(target: Target, value: Any) -> Any:
    """Put `value` where the target is (it must exist: a renamed target fails here); returns the old one."""
    previous = get(target)
    if target.key is None:
        setattr(*_owner(target), value)
    else:
        get(Target(target.package, target.module, target.path))[target.key] = value
    return previous


def check(targets: list[Target]) -> list[str]:
    """One line per target that is missing in the installed releases; empty when all are there."""
    problems = []
    for target in targets:
        try:
            get(target)
        except InternalsMoved as err:
            problems.append(str(err))
    return problems


def ships(target: Target) -> bool:
    """Whether the installed package has the target's module on disk, found without importing
    anything (importing mlx-vlm takes seconds; the planner asks this on every plan). `get` and
    `check` still confirm the attribute itself where the module is used (the launcher, `doctor`)."""
    import importlib.util
    from pathlib import Path

    top, *rest = target.module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return spec is not None and not rest
    path = Path(next(iter(spec.submodule_search_locations)), *rest)
    return (path / "__init__.py").is_file() or path.with_suffix(".py").is_file()
