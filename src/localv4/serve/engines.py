"""Which engine serves a plan, and the values every engine's command line is built from.

The plan's engine family picks the default (llama.cpp: the native llama-server when this machine
has one that knows the model's architecture, else llama-cpp-python's server; mlx: MLX);
`--backend` overrides it. Each backend's module turns `EngineInputs` into an `EngineCommand`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from localv4.errors import RuntimeFailure, UsageError
from localv4.plan_model import Plan

LLAMA_SERVER = "llama-server"
LLAMA_CPP_PYTHON = "llama-cpp-python"
MLX = "mlx"
BACKENDS = (LLAMA_SERVER, LLAMA_CPP_PYTHON, MLX)
_FORMAT_OF = {LLAMA_SERVER: "gguf", LLAMA_CPP_PYTHON: "gguf", MLX: "mlx"}


@dataclass(frozen=True)
class EngineInputs:
    """Everything an engine's command line depends on."""

    plan: Plan
    model_path: Path  # GGUF: the first (or only) file; MLX: the model folder
    host: str
    port: int
    api_key_file: Path | None  # set when the endpoint needs a key; never the key itself
    reasoning: str | None  # one of the model's reasoning modes, or None if it has none


@dataclass(frozen=True)
class EngineCommand:
    """A ready-to-run engine: its argv (no secrets on it) and how to tell it is up."""

    backend: str
    argv: tuple[str, ...]
    health_path: str  # answers 200 once the model is loaded (or at least the server is up)
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment, never a secret


def parse_backend(name: str | None) -> str | None:
    if name is None:
        return None
    if name in BACKENDS:
        return name
    raise UsageError(f"unknown backend '{name}': use one of {', '.join(BACKENDS)}.")


def resolve_reasoning(plan: Plan, asked: str | None) -> str | None:
    """The default thinking mode: the one asked for, else the recipe's; None for models without."""
    modes = plan.model.reasoning_modes
    if asked is None:
        return plan.model.default_reasoning if modes else None
    if asked not in modes:
        choices = ", ".join(modes) if modes else "none (this model has no reasoning modes)"
        raise UsageError(f"unknown reasoning mode '{asked}': use one of {choices}.")
    return asked


def template_kwargs(reasoning: str | None) -> dict[str, object]:
    """Chat-template arguments for a thinking mode (what clients may still override per request)."""
    if reasoning is None:
        return {}
    if reasoning == "off":
        return {"enable_thinking": False}
    return {"enable_thinking": True, "reasoning_effort": reasoning}


def llama_cpp_python_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def choose_backend(plan: Plan, asked: str | None) -> str:
    """The backend to run: the one asked for (checked against the weights' format), else the default."""
    if asked is not None:
        if _FORMAT_OF[asked] != plan.variant.format:
            raise UsageError(
                f"backend {asked} cannot serve {plan.variant.format.upper()} variant "
                f"{plan.variant.id}: pick a {_FORMAT_OF[asked].upper()} variant with --variant, "
                "or another --backend."
            )
        return _check_placement(plan, asked)
    if plan.engine == "mlx":
        return MLX
    from localv4.serve import engine_llama_server

    if engine_llama_server.find(plan.model.arch_llama_cpp) is not None:
        return LLAMA_SERVER
    if llama_cpp_python_installed():
        return _check_placement(plan, LLAMA_CPP_PYTHON)
    raise RuntimeFailure(
        f"no llama.cpp engine here knows the '{plan.model.arch_llama_cpp}' architecture: "
        "run `localv4 install` to build llama-server."
    )


def _check_placement(plan: Plan, backend: str) -> str:
    """llama-cpp-python cannot keep MoE experts in RAM (its tensor-override field is unused), and
    is an optional extra."""
    if backend != LLAMA_CPP_PYTHON:
        return backend
    if plan.placement == "hybrid":
        raise RuntimeFailure(
            "this plan keeps the MoE experts in RAM (hybrid), which llama-cpp-python's server "
            "cannot do: use --backend llama-server (`localv4 install` builds it)."
        )
    if not llama_cpp_python_installed():
        from localv4.install.versions import PYTHON_ENGINE_INSTALL

        raise RuntimeFailure(
            f"the llama-cpp-python engine is not installed: {PYTHON_ENGINE_INSTALL}, "
            "or leave out --backend to use the native llama-server."
        )
    return backend


def build_command(backend: str, inputs: EngineInputs) -> EngineCommand:
    if backend == LLAMA_SERVER:
        from localv4.serve import engine_llama_server as module
    elif backend == LLAMA_CPP_PYTHON:
        from localv4.serve import engine_llama_cpp_python as module
    else:
        from localv4.serve import engine_mlx as module
    return module.command(inputs)
