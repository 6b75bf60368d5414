"""`install`: put the best engines this machine can run in place, checking every request first.

Bad requests (an unknown engine, --cuda without nvcc, --metal or MLX off Apple Silicon) fail before
anything is downloaded. Anything that replaces software the user already has (the Python bindings,
Homebrew's llama.cpp) is asked about through `confirm`, which the CLI answers from --yes or a prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from localv4.errors import UsageError
from localv4.hardware.profile import Hardware
from localv4.install.bindings import check_bindings, rebuild_bindings, rebuild_plan
from localv4.install.estimates import describe_build_time
from localv4.install.homebrew import brew_install, find_homebrew_llama
from localv4.install.layout import logs_dir
from localv4.install.locate import LlamaServerBinary
from localv4.install.mlx import install_mlx, require_apple_silicon
from localv4.install.native import NativeInstall, install_llama_server
from localv4.install.prebuilt import PrebuiltEngine, install_prebuilt
from localv4.install.progress import Reporter
from localv4.install.target import BuildTarget
from localv4.install.tools import has_nvcc, vulkan_problem

ENGINES = ("all", "llama.cpp", "xllamacpp", "mlx")  # xllamacpp: the prebuilt llama.cpp engine

Confirm = Callable[[str], bool]


@dataclass(frozen=True)
class InstallOptions:
    engine: str = "all"
    flavour: str | None = None  # "cuda" | "metal" | "vulkan" | "cpu" forces the llama.cpp build flavour
    jobs: int | None = None
    force: bool = False


@dataclass(frozen=True)
class InstallOutcome:
    native: NativeInstall | None = None
    homebrew: LlamaServerBinary | None = None  # chosen instead of a build
    bindings_rebuilt: bool = False
    mlx: bool = False
    prebuilt: PrebuiltEngine | None = None


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise UsageError(f"unknown engine '{engine}'; choose one of: {', '.join(ENGINES)}")
    return engine


def install(hardware: Hardware, options: InstallOptions, confirm: Confirm, reporter: Reporter) -> InstallOutcome:
    """Run what `install_plan` describes for the chosen engine(s)."""
    engine = check_engine(options.engine)
    target = BuildTarget.for_machine(hardware, has_nvcc(), options.flavour, vulkan_problem())
    if engine == "mlx":
        require_apple_silicon(hardware)
    else:
        target.flavour  # noqa: B018 - validates --cuda/--metal before any work starts
    outcome = InstallOutcome()
    if engine == "xllamacpp":
        return InstallOutcome(prebuilt=install_prebuilt(hardware, reporter))
    if engine in ("all", "llama.cpp"):
        outcome = _install_llama_cpp(hardware, target, options, confirm, reporter)
    if engine == "mlx" or (engine == "all" and hardware.apple is not None):
        install_mlx(hardware, logs_dir() / "install-mlx.log", reporter)
        outcome = InstallOutcome(outcome.native, outcome.homebrew, outcome.bindings_rebuilt, mlx=True)
    return outcome


def _install_llama_cpp(hardware: Hardware, target: BuildTarget, options: InstallOptions,
                       confirm: Confirm, reporter: Reporter) -> InstallOutcome:
    homebrew = _homebrew_instead(target, options, confirm, reporter)
    native = None if homebrew else install_llama_server(target, options.jobs, options.force, reporter)
    return InstallOutcome(native, homebrew, offer_bindings_rebuild(hardware, confirm, reporter))


def _homebrew_instead(target: BuildTarget, options: InstallOptions, confirm: Confirm,
                      reporter: Reporter) -> LlamaServerBinary | None:
    """On a Mac with Homebrew, its llama.cpp when it knows the model: the quick path, if wanted."""
    found = None if options.force else find_homebrew_llama(target)
    if found is None:
        return None
    if found.new_enough:
        reporter.note(f"using Homebrew's llama-server {found.server.version} ({found.server.path}); "
                      "--force builds one instead")
        return found.server
    if not confirm(found.question(describe_build_time(target.flavour, options.jobs))):
        return None
    return brew_install(found, logs_dir() / "install-homebrew.log", reporter)


def offer_bindings_rebuild(hardware: Hardware, confirm: Confirm, reporter: Reporter) -> bool:
    """Rebuild llama-cpp-python for the GPU here if it cannot use it, once `confirm` agrees."""
    check = check_bindings(hardware)
    if not check.needs_rebuild:
        return False
    plan = rebuild_plan(hardware, check)
    question = (f"llama-cpp-python {check.version} cannot use this machine's GPU ({check.gpu}). "
                f"Rebuild it now with: {plan.describe()}?")
    if not confirm(question):
        reporter.note(f"llama-cpp-python left CPU-only; to rebuild it: localv4 install --yes, or {plan.describe()}")
        return False
    rebuild_bindings(plan, logs_dir() / "install-llama-cpp-python.log", reporter)
    return True
