"""`up` on a machine with no engine for the plan: what `localv4 install` would put there, and doing it.

The serving stage asks its caller once (a person at a terminal) with the command and its time;
without anyone to ask, the failure names that exact command. Nothing is installed unasked.
"""

from __future__ import annotations

from dataclasses import dataclass

from localv4.hardware.profile import Hardware
from localv4.install.engines import InstallOptions, InstallOutcome, install
from localv4.install.estimates import describe_build_time
from localv4.install.native import cached_build_dir, is_complete
from localv4.install.progress import Reporter
from localv4.install.target import BuildTarget
from localv4.install.tools import has_nvcc

ENGINE = "llama.cpp"


@dataclass(frozen=True)
class EngineOffer:
    """Building the native llama-server, as `localv4 install llama.cpp` would here."""

    flavour: str  # the build flavour `install` picks on this machine
    estimate: str  # "about 12 min here"

    @property
    def command(self) -> str:
        return f"localv4 install {ENGINE}"

    def question(self) -> str:
        return (f"No llama.cpp engine here serves this model. Build llama-server for {self.flavour} now "
                f"(`{self.command}`, {self.estimate})?")

    def refusal(self) -> str:
        """The one line for a user who was not asked (or said no)."""
        return (f"no llama.cpp engine here serves this model: run `{self.command}` ({self.estimate}), "
                "then run the same command again")


def engine_offer(hardware: Hardware) -> EngineOffer:
    target = BuildTarget.for_machine(hardware, has_nvcc(), None)
    if is_complete(cached_build_dir(target)):
        return EngineOffer(target.flavour, "seconds: a finished build is in the build cache")
    return EngineOffer(target.flavour, describe_build_time(target.flavour))


def accept(hardware: Hardware, reporter: Reporter) -> InstallOutcome:
    """Do what the offer said; the one question was the offer, so `install`'s own (Homebrew,
    rebuilding the Python bindings) are answered no."""
    return install(hardware, InstallOptions(engine=ENGINE), lambda _question: False, reporter)
