"""MLX engines on Apple Silicon: mlx, mlx-lm and mlx-vlm at versions that load the recipes' models.

mlx-lm has no `deepseek_v4` model type while mlx-vlm has, so "installed" means: every
model type the recipes' MLX variants name is importable from one of the two. The check runs in a
child interpreter so it sees what pip just installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from localv4.errors import RuntimeFailure, UsageError
from localv4.hardware.profile import Hardware
from localv4.install.progress import Reporter, run_logged
from localv4.pins import MLX_REQUIREMENTS

MLX_PACKAGES = ("mlx_lm", "mlx_vlm")
_CHECK = (
    "import importlib.util, json, sys\n"
    "def found(name):\n"
    "    try:\n"
    "        return importlib.util.find_spec(name) is not None\n"
    "    except ImportError:\n"
    "        return False\n"
    "print(json.dumps([t for t in sys.argv[1:] if not any(found(f'{p}.models.{t}') for p in %r)]))\n"
) % (MLX_PACKAGES,)


def require_apple_silicon(hardware: Hardware) -> None:
    if hardware.apple is None:
        raise UsageError("MLX runs on Apple Silicon Macs only; on this machine use `localv4 install llama.cpp`")


def recipe_model_types() -> list[str]:
    """The MLX model types the recipes' MLX variants need, e.g. ["deepseek_v4"]."""
    from localv4.recipes import load_catalog

    recipes = load_catalog().recipes.values()
    return sorted({r.model.arch_mlx for r in recipes if any(v.format == "mlx" for v in r.variants)})


def missing_model_types(model_types: list[str]) -> list[str]:
    """Those of MODEL_TYPES that neither mlx-lm nor mlx-vlm (as installed now) can load."""
    try:
        done = subprocess.run([sys.executable, "-c", _CHECK, *model_types],
                              capture_output=True, text=True, timeout=120)
        return json.loads(done.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return list(model_types)


def install_mlx(hardware: Hardware, log: Path, reporter: Reporter) -> None:
    """pip-install the MLX packages (upgrading old ones), then check the model types load."""
    require_apple_silicon(hardware)
    wanted = recipe_model_types()
    if not missing_model_types(wanted):
        reporter.note("MLX engines already load " + ", ".join(wanted))
        return
    reporter.stage("download")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("localv4 install mlx\n")
    command = [sys.executable, "-m", "pip", "install", "--upgrade", *MLX_REQUIREMENTS]
    if run_logged(command, log) != 0:
        raise RuntimeFailure(f"pip could not install {', '.join(MLX_REQUIREMENTS)}; full log: {log}")
    still = missing_model_types(wanted)
    if still:
        raise RuntimeFailure(f"after installing {', '.join(MLX_REQUIREMENTS)}, MLX still cannot load "
                             f"{', '.join(still)}; full log: {log}")
    reporter.note("MLX engines installed; they load " + ", ".join(wanted))
