"""CLI commands: doctor, plan."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from localv4.cli.app import app
from localv4.cli.names import MODEL_OPTION, OWN_ARGUMENT, model_and_variant, own_gguf
from localv4.cli.output import JSON_OPTION, console_for, print_json

PREFER_OPTION = typer.Option(
    "quality", "--prefer", help="quality: the best variant that fits, the faster plan shown beside it; "
    "speed: that faster plan (at least 1.3x by the estimate) where there is one.")
PARALLEL_OPTION = typer.Option(
    None, "--parallel", help="Users served at once (slots), each with the whole context: their KV is budgeted "
    "[default: by the machine, 1 where memory is tight].")


@app.command()
def doctor(model: Optional[str] = MODEL_OPTION, as_json: bool = JSON_OPTION) -> None:
    """What this machine is, what it can run, and the exact fix for each problem."""
    from localv4.cli import render
    from localv4.doctor import run_doctor
    from localv4.hardware import detect
    from localv4.hardware.sources import LiveSources
    from localv4.recipes import load_catalog
    from localv4.serve.ports import DEFAULT_PORT

    catalog = load_catalog()
    recipe = catalog.recipe(model)
    report = run_doctor(detect(LiveSources(remeasure=True)), recipe, DEFAULT_PORT,  # measures RAM bandwidth anew
                        demo=catalog.demo)
    if as_json:
        print_json(report.to_dict())
    else:
        console = console_for()
        console.print(render.doctor_table(report))
        if report.plan:
            console.print(render.plan_summary(report.plan))
        elif report.nothing_fits:
            console.print(render.nothing_fits(report.nothing_fits))
        if report.can_run:
            console.print("Ready: `localv4 up` will run this plan.", style="green")
        elif report.plan is None:
            console.print("Not ready: no variant fits this machine (the ways out are above).", style="red")
        else:
            console.print("Not ready: fix the items marked ✗ above.", style="red")
    raise typer.Exit(0 if report.can_run else 1)


@app.command()
def plan(
    name: Optional[str] = OWN_ARGUMENT,
    variant: Optional[str] = typer.Option(None, "--variant", "-v", help="Plan this variant instead."),
    ctx: Optional[str] = typer.Option(None, "--ctx", help="Context in tokens: 32768, 128K, 1M."),
    hardware: Optional[list[Path]] = typer.Option(
        None, "--hardware", help="Plan for a saved profile (`localv4 doctor --json > PROFILE.json`); "
        "give it again to pool machines: the first is the host, the others its workers."),
    pool: Optional[str] = typer.Option(
        None, "--pool", help="Pool this host with running workers: HOST:PORT,... (`localv4 worker` on each)."),
    model: Optional[str] = MODEL_OPTION,
    prefer: str = PREFER_OPTION,
    parallel: Optional[int] = PARALLEL_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """The hardware table (every variant: fits or not, context, speed) and the chosen plan."""
    from localv4.hardware import detect, load_profile
    from localv4.hardware.engines import probe_engines
    from localv4.planning import machine
    from localv4.planning.request import check_single_slot, plan_request
    from localv4.planning.values import NothingFits
    from localv4.recipes import load_catalog
    from localv4.units import parse_context

    catalog = load_catalog()
    gguf = own_gguf(name)
    model, variant = (model, variant) if gguf else model_and_variant(name, model, variant, catalog)
    if gguf is not None:  # the weights stage (and `flow`, which brings the serving stage) only for one
        from localv4.weights.own import with_own_gguf

        catalog, model = with_own_gguf(catalog, gguf, model)
    request = plan_request(catalog, model, variant, parse_context(ctx) if ctx else None, prefer, parallel)
    recipe = request.recipe
    endpoints = _endpoints(pool) if pool else ()
    if endpoints or len(hardware or ()) > 1:
        check_single_slot(parallel)
    profiles = [load_profile(path) for path in hardware or ()]
    hw = profiles[0] if profiles else detect()
    rows = machine.fit_table(hw, recipe)
    chosen, failure = None, None
    try:
        if endpoints or len(profiles) > 1:
            chosen = _pool_plan(hw, profiles[1:], endpoints, request)
        else:
            engines = probe_engines()

            def plan_for(machine_hw, ctx=None):
                return machine.plan(machine_hw, recipe, variant=request.variant, ctx=ctx or request.ctx,
                                    engines=engines, demo=request.demo, prefer=request.prefer,
                                    parallel=request.parallel)

            chosen = plan_for(hw)
            chosen = (_engine_checked(chosen, hw, plan_for, request.ctx is not None) if not profiles
                      else _unchecked(chosen, "a saved profile's devices are not here to project on"))
    except NothingFits as err:
        failure = err
    if as_json:
        print_json({
            "hardware": hw.to_dict(),
            "variants": [r.to_dict() for r in rows],
            "plan": chosen.to_dict() if chosen else None,
            "nothing_fits": failure.to_dict() if failure else None,
        })
    else:
        from localv4.cli import render  # Rich's table: not loaded for --json

        console = console_for()
        console.print(render.fit_table(rows, hw, chosen, recipe.model.name, console.width))
        console.print(render.plan_summary(chosen) if chosen else render.nothing_fits(failure))
    raise typer.Exit(0 if chosen else 1)


def _engine_checked(chosen, hw, plan_for, context_fixed: bool):
    """The engine's word on the plan: its projection from the GGUF headers (serve.projection)."""
    from localv4.serve.projection import engine_checked

    return engine_checked(chosen, hw, plan_for, context_fixed)


def _unchecked(chosen, why: str):
    from dataclasses import replace

    from localv4.planning.values import EngineCheck

    return replace(chosen, engine_check=EngineCheck(note=f"not engine-checked: {why}; the memory is the estimate"))


def _endpoints(pool: str) -> tuple[str, ...]:
    """`--pool`'s workers, checked (the pool planner is imported only for a pool)."""
    from localv4.planning.pool import parse_pool

    return parse_pool(pool)


def _pool_plan(host_hw, worker_profiles, endpoints, request):
    """Saved profiles are planned as they are; running workers are asked (their builds checked, or
    their own reports alone before this host has a build: the plan then says serving needs it)."""
    from dataclasses import replace

    from localv4.planning.pool import Member, plan_pool
    from localv4.rpc.probe import NEEDS_BUILD, host_and_workers

    if endpoints:
        host, workers = host_and_workers(endpoints, host_hw, need_build=False)
    else:
        host, workers = Member("host", host_hw), []
    workers += [Member(f"worker{i + 1}", hw) for i, hw in enumerate(worker_profiles)]
    plan = plan_pool(host, workers, request.recipe, variant=request.variant, ctx=request.ctx)
    unbuilt = endpoints and host.build is None
    return replace(plan, advice=(*plan.advice, f"{NEEDS_BUILD} (this plan comes from the workers' own reports).")) if unbuilt else plan
