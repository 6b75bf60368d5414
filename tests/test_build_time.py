"""The build time a newcomer is told (issue 24): the measured CPU time over this machine's cores and
its load, said with the load when the machine is busy, and the README quoting the same line.

The load average and the core count are inputs: monkeypatched, the rest is the real code."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from localv4.install.estimates import BUILD_RUNS, build_time, describe_build_time, slowdown

README = Path(__file__).resolve().parents[1] / "README.md"
IDLE = "about 7 min on 2 idle cores"


@pytest.fixture()
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)


def _load(monkeypatch: pytest.MonkeyPatch, value: float) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (value + 1.0, value, value - 0.5))  # the 5-minute one counts


def test_the_model_brackets_the_measured_build() -> None:
    """The recorded load (5 to 7) was seen with the build's own jobs running: 3 to 5 others."""
    run = BUILD_RUNS["cpu"]
    low, high = (run.cpu_s / run.jobs * slowdown(run.jobs, run.cores, load - run.jobs) for load in run.load)
    assert low <= run.wall_s <= high
    assert high == pytest.approx(run.wall_s, rel=0.01)


def test_an_idle_machine_is_told_the_idle_figure_alone(two_cores, monkeypatch: pytest.MonkeyPatch) -> None:
    _load(monkeypatch, 0.2)
    assert describe_build_time("cpu") == IDLE


def test_a_busy_machine_is_told_its_load_and_the_longer_time(two_cores, monkeypatch: pytest.MonkeyPatch) -> None:
    _load(monkeypatch, 5.2)
    assert describe_build_time("cpu") == f"{IDLE}; this machine is busy (load 5.2): about 26 min"
    assert describe_build_time("cuda") == f"not measured for a cuda build; the CPU build takes {IDLE}; " \
                                          "this machine is busy (load 5.2): about 26 min"


def test_one_job_beside_light_load_is_not_slowed(two_cores) -> None:
    found = build_time("cpu", jobs=1, load=0.8)
    assert found is not None and found.loaded_s == found.idle_s and found.describe() == "about 14 min on 1 idle core"


def test_without_a_load_average_the_idle_figure_stands(two_cores, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "getloadavg", raising=False)  # Windows has none
    assert describe_build_time("cpu") == IDLE


def test_install_dry_run_shows_the_busy_machine_s_time(two_cores, monkeypatch: pytest.MonkeyPatch, capsys,
                                                       tmp_path: Path) -> None:
    from localv4.cli import main

    _load(monkeypatch, 5.2)
    monkeypatch.setenv("LOCALV4_BUILD_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(sys, "argv", ["localv4", "install", "llama.cpp", "--cpu", "--dry-run"])
    with pytest.raises(SystemExit) as done:
        main()
    first = capsys.readouterr().out.splitlines()[0]
    assert done.value.code in (0, None)
    assert first.endswith(f"from source ({IDLE}; this machine is busy (load 5.2): about 26 min)"), first


def test_the_readme_quotes_what_the_tool_says(two_cores) -> None:
    """The README's build time is the tool's line at its stated load, word for word."""
    text = " ".join(README.read_text().split())
    quoted = re.search(r"`(about \d+ min on 2 idle cores; "
                       r"this machine is busy \(load ([\d.]+)\): about \d+ min)`", text)
    assert quoted, "README: quote `up`'s build time"
    found = build_time("cpu", load=float(quoted.group(2)))
    assert found is not None and found.describe() == quoted.group(1)
    assert "17 min" not in text
