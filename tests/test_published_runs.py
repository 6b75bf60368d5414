"""The planner's speed estimate against decode speeds people published (tests/published_runs.toml)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from support.machines import MACHINES, machine

from localv4.planning import machine as planner
from localv4.recipes import load_catalog

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TABLE = Path(__file__).with_name("published_runs.toml")
MODEL = "deepseek-v4-flash"


@dataclass(frozen=True)
class Run:
    machine: str
    engine: str
    variant: str
    context: int
    tok_s: float
    source: str
    published_as: str = ""
    size_gb: float | None = None
    not_estimated: str = ""
    pair: str = ""  # "KIND: where": a run without a draft and its runs with one

    @property
    def label(self) -> str:
        return f"{self.machine or '-'} {self.engine} {self.variant} {self.context} {self.tok_s}"


RUNS = [Run(**row) for row in tomllib.loads(TABLE.read_text())["run"]]
ESTIMATED = [r for r in RUNS if not r.not_estimated]
EXCLUDED_WITH_MACHINE = [r for r in RUNS if r.not_estimated and r.machine and r.variant]


def estimate(run: Run) -> planner.Plan:
    """The planner's plan for the run's machine, weights and context."""
    recipe = load_catalog().recipe(MODEL)
    variant = recipe.variant(run.variant)
    if run.size_gb is not None:
        variant = replace(variant, size_bytes=int(run.size_gb * 1e9))
    recipe = replace(recipe, variants=(variant,))
    return planner.plan(machine(run.machine), recipe, variant=variant,
                        ctx=max(run.context, recipe.model.min_context))


def test_the_table_holds_every_run_in_the_research_notes() -> None:
    assert len(RUNS) >= 28 and len(ESTIMATED) >= 14
    assert all(r.source and r.tok_s > 0 for r in RUNS)
    assert {r.machine for r in RUNS if r.machine} <= set(MACHINES)


@pytest.mark.parametrize("run", ESTIMATED, ids=lambda r: r.label)
def test_published_speed_falls_inside_the_estimate(run: Run) -> None:
    p = estimate(run)
    assert p.speed.low <= run.tok_s <= p.speed.high, (
        f"{run.label}: published {run.tok_s} tok/s, planner says {p.speed.label()} ({p.speed.basis})")


@pytest.mark.parametrize("run", EXCLUDED_WITH_MACHINE, ids=lambda r: r.label)
def test_an_excluded_run_is_still_outside_the_estimate(run: Run) -> None:
    """A reason to leave a run out holds only while the run really disagrees with the estimate."""
    p = estimate(run)
    assert not p.speed.low <= run.tok_s <= p.speed.high, f"{run.label}: drop not_estimated, it fits now"
