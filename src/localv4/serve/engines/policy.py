"""Which backend serves a plan, with which thinking mode, and what its engine calls the draft.

The plan's engine family picks the default: the first backend of that family, in the registry's
order, that loads the plan's weight format, can place it (hybrid plans need a backend that keeps
MoE experts in RAM) and is available here. `--backend` overrides it, checked the same way.
"""

from __future__ import annotations

from dataclasses import replace

from localv4.errors import RuntimeFailure, UsageError
from localv4.planning.values import Plan
from localv4.recipes import Draft, ModelSpec, Variant
from localv4.serve.engines import llama_server, mlx, registry
from localv4.serve.engines.base import Backend, EngineCommand, EngineInputs


def parse_backend(name: str | None) -> str | None:
    if name is None or name in registry.BACKENDS:
        return name
    raise UsageError(f"unknown backend '{name}': use one of {', '.join(registry.NAMES)}.")


def resolve_reasoning(plan: Plan, asked: str | None) -> str | None:
    """The default thinking mode: the one asked for, else the recipe's; None for models without."""
    return check_reasoning(plan.model, asked)


def check_reasoning(model: ModelSpec, asked: str | None) -> str | None:
    """resolve_reasoning from the recipe alone, so a bad mode is refused before planning."""
    modes = model.reasoning_modes
    if asked is None:
        return model.default_reasoning if modes else None
    if asked not in modes:
        choices = ", ".join(modes) if modes else "none (this model has no reasoning modes)"
        raise UsageError(f"unknown reasoning mode '{asked}': use one of {choices}.")
    return asked


def draft_name(draft: Draft) -> str:
    """The engine's name for the draft's kind: mlx-vlm's --draft-kind for an MLX draft,
    llama-server's --spec-type for a GGUF one."""
    return (mlx.DRAFT_KINDS if draft.format == "mlx" else llama_server.SPEC_TYPES)[draft.kind]


class NoEngine(RuntimeFailure):
    """No backend here serves the plan, and `localv4 install` would put one here that does."""


def check_format(variant: Variant, asked: str | None) -> None:
    """A backend asked for must load the variant's weight format (known before planning)."""
    if asked is None:
        return
    backend = registry.get(asked)
    if variant.format not in backend.capabilities.formats:
        served = "/".join(sorted(f.upper() for f in backend.capabilities.formats))
        raise UsageError(
            f"backend {asked} cannot serve {variant.format.upper()} variant {variant.id}: pick a "
            f"{served} variant with --variant, or another --backend."
        )


def _slots_refusal(plan: Plan, backends: list[Backend]) -> UsageError | None:
    """One line where the plan has several slots and none of `backends` serves more than one."""
    if plan.parallel == 1 or not backends or any(b.capabilities.parallel for b in backends):
        return None
    fmt = plan.variant.format
    capable = [b.name for b in registry.BACKENDS.values() if b.capabilities.parallel and fmt in b.capabilities.formats]
    instead = f"use --backend {' or '.join(capable)}, or --parallel 1" if capable else "use --parallel 1"
    names = " and ".join(b.name for b in backends)
    return UsageError(f"--parallel {plan.parallel}: {names} answers one request at a time; {instead}.")


def _cannot_place(plan: Plan, backend: Backend) -> str | None:
    if plan.placement == "pool" and not backend.capabilities.rpc:
        capable = [b.name for b in registry.BACKENDS.values() if b.capabilities.rpc]
        return (f"this plan pools machines over RPC, which {backend.name} cannot do: use --backend "
                f"{' or '.join(capable)} (`localv4 install llama.cpp` builds it).")
    if plan.placement == "hybrid" and not backend.capabilities.hybrid:
        capable = [b.name for b in registry.BACKENDS.values() if b.capabilities.hybrid]
        return (f"this plan keeps the MoE experts in RAM (hybrid), which {backend.name} "
                f"cannot do: use --backend {' or '.join(capable)} (`localv4 install` builds it).")
    return None


def choose_backend(plan: Plan, asked: str | None) -> str:
    """The backend to run: the one asked for (checked against the plan), else the default."""
    fmt = plan.variant.format
    if asked is not None:
        check_format(plan.variant, asked)
        backend = registry.get(asked)
        if refusal := _slots_refusal(plan, [backend]):
            raise refusal
        refusal = _cannot_place(plan, backend)
        if refusal:
            raise RuntimeFailure(refusal)
        missing = backend.unavailable(plan)
        if missing:
            raise (NoEngine if backend.capabilities.installable else RuntimeFailure)(missing + ".")
        return asked
    family = [b for b in registry.BACKENDS.values() if b.engine == plan.engine and fmt in b.capabilities.formats]
    if refusal := _slots_refusal(plan, family):
        raise refusal
    reasons, installable = [], False
    for backend in family:
        if plan.parallel > 1 and not backend.capabilities.parallel:
            continue
        refusal = _cannot_place(plan, backend)
        reason = refusal or backend.unavailable(plan)
        if reason is None:
            return backend.name
        reasons.append(reason)
        installable = installable or (refusal is None and backend.capabilities.installable)
    if not reasons:
        raise RuntimeFailure(f"no backend serves {fmt} weights.")
    raise (NoEngine if installable else RuntimeFailure)(reasons[0] + ".")


# Flags localv4 sets from its own options and records in server.json (a key never goes on argv).
OWNED_FLAGS = {"--host": "--host", "--port": "--port", "-m": "--variant", "--model": "--variant",
               "-a": "the recipe's served name", "--alias": "the recipe's served name",
               "--api-key": "the key file `up --host` makes", "--api-key-file": "the key file `up --host` makes"}


def check_engine_args(args: tuple[str, ...], backend: str | None = None) -> None:
    """The engine's own flags (`up -- FLAGS`): none that localv4 owns, and only for a backend that
    takes them."""
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in OWNED_FLAGS:
            raise UsageError(f"{flag} after `--` is localv4's to set: use {OWNED_FLAGS[flag]} instead.")
    if args and backend is not None and not registry.get(backend).capabilities.engine_args:
        takers = [b.name for b in registry.BACKENDS.values() if b.capabilities.engine_args]
        raise UsageError(f"engine flags after `--` go to {' or '.join(takers)} only; {backend} takes none.")


def build_command(backend: str, inputs: EngineInputs, engine_args: tuple[str, ...] = ()) -> EngineCommand:
    """The backend's command line, with the user's own engine flags last (a later flag wins)."""
    command = registry.get(backend).command(inputs)
    return replace(command, argv=command.argv + engine_args) if engine_args else command
