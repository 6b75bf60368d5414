"""`up` on a machine with no engine for the plan: what `localv4 install` would put there, and doing it.

The serving stage asks its caller once (a person at a terminal) with the command and its time;
without anyone to ask, the failure names that exact command. Nothing is installed unasked. On a Mac
whose Homebrew llama.cpp lacks the model's architecture (or is not installed), the offer is
Homebrew's minute first, the build only if Homebrew's llama.cpp still does not know it.
"""

from __future__ import annotations

from dataclasses import dataclass

from localv4.hardware.profile import Hardware
from localv4.install.engines import InstallOptions, InstallOutcome, install
from localv4.install.estimates import describe_build_time
from localv4.install.homebrew import INSTALL_TIME, HomebrewLlama, find_homebrew_llama
from localv4.install.native import cached_build_dir, is_complete
from localv4.install.progress import Reporter
from localv4.install.target import BuildTarget
from localv4.install.tools import has_nvcc
from localv4.pins import REQUIRED_ARCH

ENGINE = "llama.cpp"


@dataclass(frozen=True)
class EngineOffer:
    """Putting llama.cpp here as `localv4 install llama.cpp` would: Homebrew's, or a build."""

    flavour: str  # the build flavour `install` picks on this machine
    estimate: str  # "about 12 min here"
    homebrew: HomebrewLlama | None = None  # tried first: a Mac with brew, and no finished build cached

    @property
    def command(self) -> str:
        return f"localv4 install {ENGINE}"

    def question(self) -> str:
        if self.homebrew is None:
            return (f"No llama.cpp engine here serves this model. Build llama-server for {self.flavour} now "
                    f"(`{self.command}`, {self.estimate})?")
        return (f"No llama.cpp engine here serves this model ({self.homebrew.why_not()}). Run "
                f"`{self.homebrew.describe_command()}` now ({INSTALL_TIME}), building llama-server for "
                f"{self.flavour} only if Homebrew's does not know {REQUIRED_ARCH} either "
                f"(`{self.command}`, {self.estimate})?")

    def refusal(self) -> str:
        """The one line for a user who was not asked (or said no)."""
        how = f"({self.estimate})" if self.homebrew is None else (
            f"(it offers `{self.homebrew.describe_command()}` first, {INSTALL_TIME}; a build is {self.estimate})")
        return f"no llama.cpp engine here serves this model: run `{self.command}` {how}, then run the same command again"

    def agreed(self, question: str) -> bool:
        """`install`'s own questions, answered by the one yes to this offer: Homebrew's if it was offered."""
        return self.homebrew is not None and question == self.homebrew.question(describe_build_time(self.flavour))


def engine_offer(hardware: Hardware) -> EngineOffer:
    target = BuildTarget.for_machine(hardware, has_nvcc(), None)
    if is_complete(cached_build_dir(target)):
        return EngineOffer(target.flavour, "seconds: a finished build is in the build cache")
    homebrew = find_homebrew_llama(target)  # one that is new enough needs no offer: it is used as it is
    return EngineOffer(target.flavour, describe_build_time(target.flavour),
                       homebrew if homebrew and not homebrew.new_enough else None)


def accept(hardware: Hardware, offer: EngineOffer, reporter: Reporter) -> InstallOutcome:
    """Do what the offer said; the one question was the offer, so `install`'s own are answered by it
    (Homebrew: yes if the offer named it; rebuilding the Python bindings: no)."""
    return install(hardware, InstallOptions(engine=ENGINE), offer.agreed, reporter)
