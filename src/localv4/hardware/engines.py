"""Which engines this machine has installed, as far as planning needs to know: a probe fed into
the planner like `Hardware`, so the planning stage never asks the install stage.

Found without importing anything (importing mlx-vlm takes seconds; `plan` runs this every time).
"""

from __future__ import annotations

from dataclasses import dataclass

from localv4.internals import MLX_DSPARK_DRAFTER, installed_version, ships


@dataclass(frozen=True)
class InstalledEngines:
    """What is installed here; the defaults are a machine with none of them."""

    mlx_dspark_drafter: bool = False  # mlx-vlm ships DeepSeek V4's DSpark drafter (0.7.10 on)
    mlx_vlm: str | None = None  # its version, read where the drafter is missing (the advice names it)


def probe_engines() -> InstalledEngines:
    if ships(MLX_DSPARK_DRAFTER):
        return InstalledEngines(mlx_dspark_drafter=True)
    return InstalledEngines(mlx_vlm=installed_version(MLX_DSPARK_DRAFTER.package))
