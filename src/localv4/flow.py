"""The one owner of `up`'s flow: plan -> weights -> engine -> endpoint.

The CLI, the tray (through the CLI), the UI's scripts and the tests call `up` here; each stage
below is called only through its own public API, and the serving stage gets a plan and a path to
weights, nothing earlier. Every option is checked before the first slow step (planning probes
the hardware, pulling takes hours).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from localv4.errors import RuntimeFailure, UsageError
from localv4.install.progress import Eta, format_duration
from localv4.planning.request import PlanRequest, check_single_slot, plan_request
from localv4.planning.values import Plan
from localv4.recipes import Variant
from localv4.serve.api import CheckedServe, ServeOptions, ServerInfo, UpEvent, already_serving
from localv4.serve.api import up as serve
from localv4.serve.engines.policy import NoEngine
from localv4.serve.state import ServerState, ensure_state_dir

if TYPE_CHECKING:
    from localv4.hardware.profile import Hardware
    from localv4.recipes import Catalog
    from localv4.install.offer import EngineOffer

SPECULATIVE_MODES = ("auto", "off")

# Asked once when no engine here serves the plan: True to install one now.
ConfirmInstall = Callable[["EngineOffer"], bool]


@dataclass(frozen=True)
class UpOptions:
    """What `localv4 up` was asked: which model (planned here) and how to serve it."""

    variant: str | None = None  # "UD-Q2_K_XL", or "recipe-id:variant"
    model: str | None = None  # recipe id; default deepseek-v4-flash
    ctx: int | None = None
    pool: tuple[str, ...] = ()  # workers' RPC endpoints (`--pool`): plan and serve over them too
    speculative: str = "auto"  # "auto": decode with the variant's draft where it fits; "off": never
    prefer: str = "quality"  # `--prefer`: quality first, or the faster plan (checked by plan_request)
    parallel: int | None = None  # `--parallel`: slots (checked by plan_request); None: the machine's default
    gguf: Path | None = None  # a GGUF of your own (file or folder of parts): planned from its header
    serve: ServeOptions = field(default_factory=ServeOptions)

    def check(self) -> None:
        if self.speculative not in SPECULATIVE_MODES:
            raise UsageError(f"--speculative {self.speculative!r} is not one of: {', '.join(SPECULATIVE_MODES)}.")
        if self.pool:
            check_single_slot(self.parallel)


def _ignore(_: UpEvent) -> None:
    pass


def request_of(options: UpOptions, catalog: Catalog | None = None) -> PlanRequest:
    """The recipe, variant and context asked for, checked once: unknown names and a context out
    of range fail here, before any probing. A GGUF of your own joins the catalog as its own recipe."""
    from localv4.recipes import load_catalog

    catalog, model = catalog or load_catalog(), options.model
    if options.gguf is not None:
        from localv4.weights.own import with_own_gguf

        catalog, model = with_own_gguf(catalog, options.gguf, model)
    return plan_request(catalog, model, options.variant, options.ctx, options.prefer, options.parallel)


def make_plan(options: UpOptions, request: PlanRequest | None = None, hw: Hardware | None = None) -> Plan:
    """The plan for `options` on this machine (`hw`, probed when not given), or over its pool."""
    from localv4.hardware import detect

    request = request or request_of(options)
    hw = hw or detect()
    if options.pool:
        from localv4.planning.pool import plan_pool
        from localv4.rpc.probe import host_and_workers

        host, workers = host_and_workers(options.pool, hw)  # builds checked before any loading
        return plan_pool(host, workers, request.recipe, variant=request.variant, ctx=request.ctx)
    from localv4.hardware.engines import probe_engines
    from localv4.planning.machine import plan
    from localv4.serve.projection import engine_checked

    engines = probe_engines()

    def plan_for(machine: Hardware, ctx: int | None = None) -> Plan:
        return plan(machine, request.recipe, variant=request.variant, ctx=ctx or request.ctx,
                    speculative=options.speculative != "off", engines=engines, demo=request.demo,
                    prefer=request.prefer, parallel=request.parallel)

    # the engine's word, before any download
    return engine_checked(plan_for(hw), hw, plan_for, context_fixed=request.ctx is not None)


def weights_for(plan: Plan, report: Callable[[UpEvent], None] = _ignore) -> Path:
    """Where the plan's weights are on disk (the GGUF entry file or the MLX folder); pulls them
    first when they are missing."""
    from localv4 import weights

    variant = plan.variant
    found = weights.locate(variant)
    if found is None:
        report(UpEvent("pull", f"downloading {variant.qualified_id}"))
        found = weights.pull(variant, on_event=lambda e: report(UpEvent("pull", _pull_text(e), e)))
    return Path(found.path)


def draft_variant(plan: Plan) -> Variant | None:
    """The draft the plan decodes with, as the one-file variant `weights.pull` and `locate` take."""
    return None if plan.draft is None else plan.draft.as_variant(plan.variant.recipe_id)


def files_for(plan: Plan) -> tuple[Variant, ...]:
    """What serving the plan reads from disk, in the order a pull fetches it: weights, then draft."""
    draft = draft_variant(plan)
    return (plan.variant,) if draft is None else (plan.variant, draft)


def draft_for(plan: Plan, report: Callable[[UpEvent], None] = _ignore) -> Path | None:
    """The plan's draft GGUF on disk, pulled like the weights (resume, sha256) when missing."""
    from localv4 import weights

    variant = draft_variant(plan)
    if variant is None or plan.draft is None:
        return None
    found = weights.locate(variant)
    if found is None:
        report(UpEvent("pull", f"downloading the {plan.draft.kind} draft from {plan.draft.repo}"))
        found = weights.pull(variant, on_event=lambda e: report(UpEvent("pull", _pull_text(e), e)))
    return Path(found.path)


def _pull_text(event: object) -> str:
    """A spinner line for a pull event (the CLI prints the weights stage's own lines besides)."""
    from localv4.weights import FileProgress

    if isinstance(event, FileProgress) and event.size:
        return f"downloading {event.path}: {100 * event.done / event.size:.0f}%"
    return "downloading"


class _InstallEvents:
    """The install stage's progress as `up` events: one spinner line with the step, % and time left."""

    def __init__(self, on_event: Callable[[UpEvent], None]) -> None:
        self.on_event = on_event
        self.step = "install"
        self.eta = Eta()

    def stage(self, name: str) -> None:
        self.step, self.eta = name, Eta()
        self.on_event(UpEvent("install", f"installing llama.cpp: {name}"))

    def percent(self, value: float) -> None:
        left = self.eta.remaining(value)
        eta = f", about {format_duration(left)} left" if left else ""
        self.on_event(UpEvent("install", f"installing llama.cpp: {self.step} {value:.0f}%{eta}"))

    def note(self, message: str) -> None:
        self.on_event(UpEvent("install", message, keep=True))


def check_engine(plan: Plan, hw: Hardware, serve: CheckedServe, on_event: Callable[[UpEvent], None] = _ignore,
                 confirm_install: ConfirmInstall | None = None) -> CheckedServe:
    """The backend and thinking mode for `plan`, refused before any download; with no engine here
    for the plan, ask `confirm_install` once whether to do what `localv4 install` would, and do it."""
    try:
        return serve.for_plan(plan)
    except NoEngine:
        from localv4.install.offer import accept, engine_offer

        offer = engine_offer(hw, serve.backend, plan.placement == "pool")
        if confirm_install is None or not confirm_install(offer):
            raise RuntimeFailure(offer.refusal()) from None
    accept(hw, offer, _InstallEvents(on_event))
    return serve.for_plan(plan)


def up(options: UpOptions, on_event: Callable[[UpEvent], None] = _ignore,
       confirm_install: ConfirmInstall | None = None) -> ServerInfo:
    """Plan, put an engine here if agreed (see `check_engine`), pull what is missing, serve;
    returns once the endpoint answers (or if it already was up)."""
    from localv4.hardware import detect

    options.check()
    request = request_of(options)  # every option is checked before the first slow step
    checked = options.serve.check(request.recipe, request.variant)
    ensure_state_dir()  # a folder that cannot take the engine's record fails now, not after a pull
    running = already_serving(on_event)
    if running is not None:
        return running
    on_event(UpEvent("plan", "planning"))
    hw = detect()
    plan = make_plan(options, request, hw)
    checked = check_engine(plan, hw, checked, on_event, confirm_install)  # backend and reasoning mode, before any download
    return serve(plan, weights_for(plan, on_event), checked, on_event, draft=draft_for(plan, on_event))


def options_of(server: ServerState, speculative: str) -> UpOptions:
    """What serves `server`'s variant again, on the same port and host with the same engine,
    context, workers, thinking default and engine flags, with speculative decoding `speculative`."""
    return UpOptions(
        variant=server.variant, ctx=server.context, pool=server.workers, speculative=speculative,
        serve=ServeOptions(port=server.port, host=server.host, backend=server.backend, reasoning=server.reasoning,
                           engine_args=server.engine_args),
    )


@contextmanager
def draft_switched_off(server: ServerState, on_event: Callable[[UpEvent], None] = _ignore) -> Iterator[ServerState]:
    """For the block, the same plan served without its draft; then served with it again.

    The pinned llama-server has no per-request switch for speculative decoding (its per-request
    `speculative.*` fields are compiled out), so measuring both ways means restarting the engine."""
    from localv4.serve.api import down

    down()
    try:
        yield up(options_of(server, "off"), on_event).server
    finally:
        down()
        up(options_of(server, "auto"), on_event)
