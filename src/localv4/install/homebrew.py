"""Homebrew's llama.cpp on macOS: a minute's install instead of a ten-minute build, when it is new enough.

"New enough" is judged the only reliable way: the llama-server Homebrew links must know `deepseek4`
(no Homebrew build number is pinned as the first that does). Only a Metal build on
macOS can be replaced by it; the target says which machine this is, so a recorded Mac can be used.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.install.layout import SERVER_NAME
from localv4.install.locate import LlamaServerBinary, probe_llama_server
from localv4.install.progress import Reporter, run_logged
from localv4.install.target import BuildTarget
from localv4.pins import REQUIRED_ARCH

FORMULA = "llama.cpp"
INSTALL_TIME = "about a minute"
_BREW_TIMEOUT_S = 30


@dataclass(frozen=True)
class HomebrewLlama:
    """Homebrew on this Mac and the llama-server its llama.cpp links, if that one runs."""

    brew: str  # the brew executable
    server: LlamaServerBinary | None  # None: llama.cpp is not installed (or its server does not run)

    @property
    def new_enough(self) -> bool:
        return self.server is not None and self.server.knows_arch(REQUIRED_ARCH)

    @property
    def command(self) -> list[str]:
        """What gets (or refreshes) Homebrew's llama.cpp."""
        return [self.brew, "upgrade" if self.server else "install", FORMULA]

    def describe_command(self) -> str:
        return f"brew {self.command[1]} {FORMULA}"

    def why_not(self) -> str:
        """Why Homebrew's llama.cpp as it is cannot serve the model, in words for one line."""
        if self.server is None:
            return f"Homebrew's {FORMULA} is not installed"
        return f"Homebrew's llama-server {self.server.version} ({self.server.path}) does not know {REQUIRED_ARCH}"

    def question(self, build_time: str) -> str:
        return f"{self.proposal()} ({build_time})?"

    def proposal(self) -> str:
        """The question without the build's time: that time follows the machine's load, so the
        offer that already asked it recognises the question by this."""
        return (f"{self.why_not()}. Run `{self.describe_command()}` ({INSTALL_TIME}) instead of building "
                f"llama.cpp")


def find_homebrew_llama(target: BuildTarget) -> HomebrewLlama | None:
    """Homebrew's llama.cpp where it could stand in for TARGET's build: a Metal build on macOS with brew."""
    if target.os != "darwin" or target.flavour != "metal":
        return None
    brew = shutil.which("brew")
    return None if brew is None else HomebrewLlama(brew, _linked_server(brew))


def brew_install(found: HomebrewLlama, log: Path, reporter: Reporter) -> LlamaServerBinary | None:
    """`brew install llama.cpp` (or upgrade it); the result if it knows the architecture, else None."""
    reporter.stage("download")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"localv4 install: Homebrew {FORMULA}\n")
    if run_logged(found.command, log) != 0:
        reporter.note(f"{found.describe_command()} failed (log: {log}); building from source instead")
        return None
    after = HomebrewLlama(found.brew, _linked_server(found.brew))
    if not after.new_enough:
        reporter.note(f"{after.why_not()}; building from source instead")
        return None
    return after.server


def _linked_server(brew: str) -> LlamaServerBinary | None:
    """The llama-server in `brew --prefix`/bin, probed; None if there is none or it does not run."""
    try:
        prefix = subprocess.run([brew, "--prefix"], capture_output=True, text=True,
                                timeout=_BREW_TIMEOUT_S).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    server = Path(prefix) / "bin" / SERVER_NAME
    if not prefix or not server.is_file():
        return None
    try:
        return probe_llama_server(server)
    except RuntimeFailure:
        return None
