"""The tree keeps its design: data flows one way through the stages, and no module imports one
that imports it back (docs/architecture.md draws both)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "localv4"
# The stages in flow order; a stage may use earlier ones, never a later one. Modules outside
# these (errors, units, paths, env, storage, events, net, internals, recipes) serve every stage.
STAGES = ("hardware", "plan", "install", "weights", "serve", "flow", "webui", "tray", "cli")
STAGE_OF_MODULE = {"planner": "plan", "doctor": "cli"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path, module_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else ast.walk(tree)
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("localv4"):
            submodules = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
            names |= submodules or {node.module}  # `from pkg import sub` needs sub, not pkg's own names
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("localv4"))
    return names & MODULES.keys()


def _stage(module: str) -> int | None:
    parts = module.split(".")
    name = STAGE_OF_MODULE.get(parts[1], parts[1]) if len(parts) > 1 else None
    return STAGES.index(name) if name in STAGES else None


def test_no_stage_reaches_into_a_later_one() -> None:
    backwards = [f"{m} imports {i}" for m, path in MODULES.items() for i in _imports(path, False)
                 if _stage(m) is not None and _stage(i) is not None and _stage(i) > _stage(m)]
    assert backwards == []


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = {m: _imports(p, module_level_only=True) for m, p in MODULES.items()}
    cycles = []

    def visit(module: str, trail: list[str]) -> None:
        for nxt in graph[module]:
            if nxt in trail:
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif len(trail) < 12:
                visit(nxt, trail + [nxt])

    for start in graph:
        visit(start, [start])
    assert cycles == []


def test_the_checker_sees_the_imports_it_checks() -> None:
    """Guard against a checker that passes because it reads nothing."""
    assert "localv4.serve.engines.policy" in _imports(MODULES["localv4.serve.api"], True)
    assert _stage("localv4.serve.api") > _stage("localv4.weights.pull") > _stage("localv4.planner")
