"""CLI command: install."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from localv4.cli.app import app
from localv4.cli.output import JSON_OPTION, print_json


@app.command()
def install(
    engine: str = typer.Argument("all", metavar="[llama.cpp|xllamacpp|mlx|all]",
                                 help="Which engine; `all` is the best this machine can run; "
                                      "`xllamacpp` the prebuilt llama.cpp (no compile)."),
    metal: bool = typer.Option(False, "--metal", help="Build llama.cpp for Metal (Apple Silicon)."),
    cuda: bool = typer.Option(False, "--cuda", help="Build llama.cpp for CUDA (needs nvcc)."),
    vulkan: bool = typer.Option(False, "--vulkan", help="Build llama.cpp for Vulkan (AMD GPUs; needs glslc and "
                                                        "the Vulkan headers)."),
    cpu: bool = typer.Option(False, "--cpu", help="Build llama.cpp for the CPU only."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Parallel compile jobs (default: all cores)."),
    force: bool = typer.Option(False, "--force", help="Build again even if a verified build exists."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Accept offers (rebuilding llama-cpp-python, Homebrew)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be done."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Put the right inference engine on this machine: native llama-server (Metal/CUDA/Vulkan/CPU, RPC), MLX."""
    from rich.console import Console

    from localv4.errors import UsageError
    from localv4.hardware import detect
    from localv4.install import InstallOptions, install_plan
    from localv4.install import install as run_install
    from localv4.install.engines import check_engine
    from localv4.cli.install_view import PlainReporter, RichReporter

    chosen = [name for name, on in (("metal", metal), ("cuda", cuda), ("vulkan", vulkan), ("cpu", cpu)) if on]
    if len(chosen) > 1:
        raise UsageError("choose one of --metal, --cuda, --vulkan, --cpu")
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be 1 or more, not {jobs}")
    if as_json and not dry_run:
        raise UsageError("--json goes with --dry-run: an install shows its progress on the terminal.")
    check_engine(engine)
    flavour = chosen[0] if chosen else None
    hardware = detect()
    console = Console(soft_wrap=True)  # paths and commands stay on one line, ready to copy
    if dry_run:
        actions = install_plan(hardware, flavour)
        if as_json:
            print_json({"engine": engine, "flavour": flavour, "actions": actions})
            return
        for line in actions:
            console.print(f"- {line}")
        return
    reporter = RichReporter(console) if console.is_terminal else PlainReporter(console)

    def confirm(question: str) -> bool:
        reporter.stop()
        if yes:
            return True
        if not sys.stdin.isatty():
            console.print(f"{question} Not asked: no terminal (pass --yes to accept).")
            return False
        return typer.confirm(question, default=False)

    try:
        outcome = run_install(hardware, InstallOptions(engine, flavour, jobs, force), confirm, reporter)
    finally:
        reporter.stop()
    if outcome.native:
        native = outcome.native
        how = {"reused": "already installed", "cache": "copied from the build cache", "built": "built"}[native.how]
        console.print(f"llama-server {native.server.version}, {native.flavour} ({how}): {native.server.path}")
        if native.server.rpc_server:
            console.print(f"RPC worker: {native.server.rpc_server}")
        if native.log:
            console.print(f"build log: {native.log}", style="dim")
    if outcome.homebrew:
        console.print(f"llama-server {outcome.homebrew.version} (Homebrew): {outcome.homebrew.path}")
    if outcome.prebuilt:
        engine = outcome.prebuilt
        console.print(f"xllamacpp {engine.version} (llama.cpp b{engine.llama_cpp_build}, {engine.flavour}): "
                      f"{engine.where}")
