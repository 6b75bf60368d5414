"""`install` on a Mac with Homebrew: its llama.cpp is taken when it knows deepseek4, and refused
(built from source) when it does not; `up`'s one offer there names Homebrew's route first.

Homebrew cannot run here, so `brew` is the recorded one of support.homebrew on PATH; the Mac is a
recorded one (tests/machines), which is what the install target is made from.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from localv4.errors import RuntimeFailure
from localv4.install import InstallOptions, install
from localv4.install.offer import accept, engine_offer
from localv4.install.progress import SilentReporter
from support.homebrew import FakeHomebrew, fake_homebrew
from support.machines import machine

MAC = machine("macbook-pro-m4-pro-48")
LLAMA_CPP = InstallOptions(engine="llama.cpp")


class Recorded(SilentReporter):
    """The notes `install` shows, and its questions, answered from ANSWERS (no: the rest)."""

    def __init__(self, **answers: bool) -> None:
        self.notes: list[str] = []
        self.questions: list[str] = []
        self.answers = answers

    def note(self, message: str) -> None:
        self.notes.append(message)

    def confirm(self, question: str) -> bool:
        self.questions.append(question)
        return "Homebrew" in question and self.answers.get("homebrew", False)


@pytest.fixture
def no_build_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty build cache and no cmake: a build from source fails at once, saying so."""
    monkeypatch.setenv("LOCALV4_BUILD_CACHE", str(tmp_path / "builds"))


def on_path(brew: FakeHomebrew, monkeypatch: pytest.MonkeyPatch, only_brew: bool = False) -> FakeHomebrew:
    monkeypatch.setenv("PATH", str(brew.bin) if only_brew else brew.path_env())
    return brew


def test_homebrews_llama_server_is_used_when_it_knows_deepseek4(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    brew = on_path(fake_homebrew(tmp_path, installed=("9100", True)), monkeypatch)
    shown = Recorded()
    outcome = install(MAC, LLAMA_CPP, shown.confirm, shown)
    assert outcome.native is None
    assert outcome.homebrew is not None and outcome.homebrew.path == brew.server("9100")
    assert outcome.homebrew.version == "9100 (7b3f2a1)" and outcome.homebrew.flavour == "metal"
    assert f"using Homebrew's llama-server 9100 (7b3f2a1) ({brew.server('9100')}); --force builds one instead" \
        in shown.notes
    assert not [q for q in shown.questions if "Homebrew" in q]  # nothing to ask: it is there already
    assert brew.calls == ["--prefix"]


def test_an_old_homebrew_llama_cpp_is_upgraded_when_agreed_and_then_used(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    brew = on_path(fake_homebrew(tmp_path, installed=("6500", False), bottle=("9100", True)), monkeypatch)
    shown = Recorded(homebrew=True)
    outcome = install(MAC, LLAMA_CPP, shown.confirm, shown)
    (question,) = [q for q in shown.questions if "Homebrew" in q]
    assert question.startswith(f"Homebrew's llama-server 6500 (0c1e570) ({brew.server('6500')}) does not know "
                               "deepseek4. Run `brew upgrade llama.cpp` (about a minute) instead of building")
    assert outcome.native is None and outcome.homebrew is not None
    assert outcome.homebrew.path == brew.server("9100")
    assert brew.calls == ["--prefix", "upgrade llama.cpp", "--prefix"]


def test_an_old_homebrew_llama_cpp_is_refused_and_llama_cpp_built_from_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_build_tools: None) -> None:
    """Declined: the build from source starts (and here stops at once: there is no cmake)."""
    brew = on_path(fake_homebrew(tmp_path, installed=("6500", False)), monkeypatch, only_brew=True)
    shown = Recorded(homebrew=False)
    with pytest.raises(RuntimeFailure, match="^building llama.cpp needs cmake, which is not installed"):
        install(MAC, LLAMA_CPP, shown.confirm, shown)
    assert [q for q in shown.questions if "Homebrew" in q]
    assert brew.calls == ["--prefix"]  # asked, declined: brew installed nothing


def test_an_upgrade_that_still_lacks_deepseek4_is_refused_and_built_from_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_build_tools: None) -> None:
    brew = on_path(fake_homebrew(tmp_path, installed=("6500", False), bottle=("9100", False)), monkeypatch,
                   only_brew=True)
    shown = Recorded(homebrew=True)
    with pytest.raises(RuntimeFailure, match="^building llama.cpp needs cmake"):
        install(MAC, LLAMA_CPP, shown.confirm, shown)
    assert brew.calls == ["--prefix", "upgrade llama.cpp", "--prefix"]
    assert (f"Homebrew's llama-server 9100 (7b3f2a1) ({brew.server('9100')}) does not know deepseek4; "
            "building from source instead") in shown.notes


def test_without_llama_cpp_homebrew_installs_it_when_agreed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    brew = on_path(fake_homebrew(tmp_path, installed=None, bottle=("9100", True)), monkeypatch)
    shown = Recorded(homebrew=True)
    outcome = install(MAC, LLAMA_CPP, shown.confirm, shown)
    (question,) = [q for q in shown.questions if "Homebrew" in q]
    assert question.startswith("Homebrew's llama.cpp is not installed. Run `brew install llama.cpp`")
    assert outcome.homebrew is not None and outcome.homebrew.path == brew.server("9100")
    assert brew.calls == ["--prefix", "install llama.cpp", "--prefix"]


def test_force_and_other_machines_never_ask_homebrew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     no_build_tools: None) -> None:
    brew = on_path(fake_homebrew(tmp_path, installed=("9100", True)), monkeypatch, only_brew=True)
    for hardware, options in ((MAC, InstallOptions(engine="llama.cpp", force=True)),
                              (machine("cpu-only-24gb"), LLAMA_CPP)):
        with pytest.raises(RuntimeFailure, match="needs cmake"):
            install(hardware, options, Recorded().confirm, SilentReporter())
    assert brew.calls == []


# ------------------------------------------------- `up`'s one offer on such a Mac


def test_ups_offer_on_a_mac_is_homebrews_llama_cpp_first_and_yes_runs_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_build_tools: None) -> None:
    brew = on_path(fake_homebrew(tmp_path, installed=("6500", False), bottle=("9100", True)), monkeypatch)
    offer = engine_offer(MAC)
    assert offer.question().startswith(
        f"No llama.cpp engine here serves this model (Homebrew's llama-server 6500 (0c1e570) "
        f"({brew.server('6500')}) does not know deepseek4). Run `brew upgrade llama.cpp` now (about a minute), "
        "building llama-server for metal only if Homebrew's does not know deepseek4 either (`localv4 install "
        "llama.cpp`, ")
    assert offer.refusal().startswith("no llama.cpp engine here serves this model: run `localv4 install llama.cpp` "
                                      "(it offers `brew upgrade llama.cpp` first, about a minute; a build is ")
    shown = Recorded()
    outcome = accept(MAC, offer, shown)  # the one yes was to the offer: nothing more is asked
    assert outcome.homebrew is not None and outcome.homebrew.path == brew.server("9100")
    assert outcome.native is None and outcome.bindings_rebuilt is False
    assert brew.calls[-2:] == ["upgrade llama.cpp", "--prefix"]


def test_ups_offer_leaves_homebrew_out_where_it_is_no_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            no_build_tools: None) -> None:
    """Not a Mac (or no brew): the build, as before; the offer's yes says nothing to Homebrew."""
    on_path(fake_homebrew(tmp_path, installed=("6500", False)), monkeypatch)
    offer = engine_offer(machine("cpu-only-24gb"), "llama-server")  # by name: the build, not the wheel
    assert offer.homebrew is None and "brew" not in offer.question() + offer.refusal()
    assert offer.question().startswith("No llama.cpp engine here serves this model. Build llama-server for cpu now")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert engine_offer(MAC).homebrew is None
