"""`up` on a machine with no engine for the plan: what `localv4 install` would put there, and doing it.

The serving stage asks its caller once (a person at a terminal) with the command and its time;
without anyone to ask, the failure names that exact command. Nothing is installed unasked.
Where a prebuilt wheel fits the machine (install/wheels.py: PyPI's CPU wheel, or the publisher's
CUDA, ROCm or Vulkan wheel for its GPU and driver), the offer is the prebuilt engine
(install/prebuilt.py, seconds), the source build staying for pools (rpc-server), machines no wheel
fits, and `--backend llama-server`. On a Mac whose Homebrew llama.cpp lacks
the model's architecture (or is not installed), the offer is Homebrew's minute first, the build
only if Homebrew's llama.cpp still does not know it.
"""

from __future__ import annotations

from dataclasses import dataclass

from localv4.hardware.profile import Hardware
from localv4.install.engines import InstallOptions, InstallOutcome, install
from localv4.install.estimates import describe_build_time
from localv4.install.homebrew import INSTALL_TIME, HomebrewLlama, find_homebrew_llama
from localv4.install.native import cached_build_dir, is_complete
from localv4.install.prebuilt import INSTALL_TIME as PREBUILT_TIME
from localv4.install.prebuilt import PrebuiltEngine, install_prebuilt, wheel_here
from localv4.install.wheels import WheelChoice
from localv4.install.progress import Reporter
from localv4.install.target import BuildTarget
from localv4.install.tools import has_nvcc, vulkan_problem
from localv4.pins import REQUIRED_ARCH

ENGINE = "llama.cpp"
PREBUILT = "xllamacpp"
_NATIVE_KERNELS = ("AVX-512", "AMX")  # what PyPI's CPU wheel is built without (no -march=native)


@dataclass(frozen=True)
class EngineOffer:
    """Putting llama.cpp here as `localv4 install llama.cpp` would: Homebrew's, or a build."""

    flavour: str  # the build flavour `install` picks on this machine
    estimate: str  # describe_build_time: "about 7 min on 2 idle cores; this machine is busy (load 5.2): about 26 min"
    homebrew: HomebrewLlama | None = None  # tried first: a Mac with brew, and no finished build cached
    prebuilt: WheelChoice | None = None  # the wheel offered instead of a build
    kernels: tuple[str, ...] = ()  # the CPU's vector units only a build uses ("AVX-512", "AMX")

    @property
    def command(self) -> str:
        return f"localv4 install {PREBUILT if self.prebuilt else ENGINE}"

    def question(self) -> str:
        if self.prebuilt:
            return (f"No llama.cpp engine here serves this model. Install the prebuilt llama.cpp engine "
                    f"({self.prebuilt.describe()}, into localv4's own environment) "
                    f"now (`{self.command}`, {PREBUILT_TIME}){self._build_note()}?")
        if self.homebrew is None:
            return (f"No llama.cpp engine here serves this model. Build llama-server for {self.flavour} now "
                    f"(`{self.command}`, {self.estimate})?")
        return (f"No llama.cpp engine here serves this model ({self.homebrew.why_not()}). Run "
                f"`{self.homebrew.describe_command()}` now ({INSTALL_TIME}), building llama-server for "
                f"{self.flavour} only if Homebrew's does not know {REQUIRED_ARCH} either "
                f"(`{self.command}`, {self.estimate})?")

    def _build_note(self) -> str:
        if not self.kernels:
            return ""
        return (f"; `localv4 install {ENGINE}` builds one with this CPU's {'/'.join(self.kernels)} "
                f"kernels instead ({self.estimate})")

    def refusal(self) -> str:
        """The one line for a user who was not asked (or said no)."""
        if self.prebuilt:
            return (f"no llama.cpp engine here serves this model: run `{self.command}` ({PREBUILT_TIME}, "
                    f"or `localv4 install {ENGINE}` to build one, {self.estimate}), then run the same command again")
        how = f"({self.estimate})" if self.homebrew is None else (
            f"(it offers `{self.homebrew.describe_command()}` first, {INSTALL_TIME}; a build is {self.estimate})")
        return f"no llama.cpp engine here serves this model: run `{self.command}` {how}, then run the same command again"

    def agreed(self, question: str) -> bool:
        """`install`'s own questions, answered by the one yes to this offer: Homebrew's if it was offered."""
        return self.homebrew is not None and question.startswith(self.homebrew.proposal())


def engine_offer(hardware: Hardware, backend: str | None = None, pool: bool = False) -> EngineOffer:
    """What to offer for a plan (`pool`: placed over RPC workers) and the backend asked for (None:
    the plan's default)."""
    target = BuildTarget.for_machine(hardware, has_nvcc(), None, vulkan_problem())
    if is_complete(cached_build_dir(target)):
        return EngineOffer(target.flavour, "seconds: a finished build is in the build cache")
    prebuilt = prebuilt_wheel(hardware, backend, pool)
    if prebuilt:  # a GPU wheel computes on the GPU: the CPU's own kernels matter to the CPU wheel only
        kernels = tuple(k for k in _NATIVE_KERNELS if k in hardware.cpu_features and prebuilt.flavour == "cpu")
        return EngineOffer(target.flavour, describe_build_time(target.flavour), prebuilt=prebuilt, kernels=kernels)
    homebrew = find_homebrew_llama(target)  # one that is new enough needs no offer: it is used as it is
    return EngineOffer(target.flavour, describe_build_time(target.flavour),
                       homebrew if homebrew and not homebrew.new_enough else None)


def prebuilt_wheel(hardware: Hardware, backend: str | None, pool: bool) -> WheelChoice | None:
    """The wheel to offer where one can serve the plan: not a pool (no rpc-server), not a Mac
    (Homebrew first, as before), not when the native server was asked for by name, and only where
    a wheel fits this machine's GPU, driver and C library (install/wheels.py)."""
    if pool or backend not in (None, PREBUILT) or hardware.apple is not None:
        return None
    choice = wheel_here(hardware)
    return choice if isinstance(choice, WheelChoice) else None


def accept(hardware: Hardware, offer: EngineOffer, reporter: Reporter) -> InstallOutcome | PrebuiltEngine:
    """Do what the offer said; the one question was the offer, so `install`'s own are answered by it
    (Homebrew: yes if the offer named it; rebuilding the Python bindings: no)."""
    if offer.prebuilt:
        return install_prebuilt(hardware, reporter)
    return install(hardware, InstallOptions(engine=ENGINE), offer.agreed, reporter)
