"""The tree keeps its design: data flows one way through the stages, and no module imports one
that imports it back, at module level or inside a function (docs/architecture.md draws both)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "localv4"
# The stages in flow order; a stage may use earlier ones, never a later one.
STAGES = ("hardware", "planning", "install", "weights", "rpc", "serve", "flow", "agents", "webui", "tray", "cli")
STAGE_OF_MODULE = {"doctor": "cli", "__main__": "cli"}
# Modules every stage may use: values and helpers that belong to no stage.
SHARED = {"errors", "units", "paths", "env", "storage", "events", "net", "internals", "recipes", "pins",
          "codec", "process_tree", "fixes"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path, module_level_only: bool = False) -> set[str]:
    """The localv4 modules `path` imports: at module level, or anywhere (inside functions too)."""
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


def test_every_module_is_a_stage_or_shared() -> None:
    unplaced = sorted(m for m in MODULES if m != "localv4" and _stage(m) is None
                      and m.split(".")[1].removesuffix(".py") not in SHARED)
    assert unplaced == []


def test_shared_modules_use_no_stage() -> None:
    reaching = [f"{m} imports {i}" for m, path in MODULES.items()
                if m != "localv4" and m.split(".")[1] in SHARED
                for i in _imports(path) if _stage(i) is not None]
    assert reaching == []


def test_no_stage_reaches_into_a_later_one() -> None:
    forward = [f"{m} imports {i}" for m, path in MODULES.items() for i in _imports(path)
               if _stage(m) is not None and _stage(i) is not None and _stage(i) > _stage(m)]
    assert forward == []


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    cycles = []

    def visit(module: str, trail: list[str]) -> None:
        for nxt in graph[module]:
            if nxt in trail:
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif len(trail) < 12:
                visit(nxt, trail + [nxt])

    for start in graph:
        visit(start, [start])
    return cycles


def test_no_module_imports_one_that_imports_it_back_even_inside_a_function() -> None:
    # A package imports its own submodules (its face); a submodule importing its package is the
    # same file, so those edges are left out.
    graph = {m: {i for i in _imports(p) if not m.startswith(i + ".") and not i.startswith(m + ".")}
             for m, p in MODULES.items()}
    assert _cycles(graph) == []


def test_the_checker_sees_the_imports_it_checks(tmp_path: Path) -> None:
    """Guard against a checker that passes because it reads nothing: it sees module-level and
    deferred imports, and finds a cycle through a deferred one."""
    assert "localv4.serve.engines.policy" in _imports(MODULES["localv4.serve.api"], module_level_only=True)
    assert "localv4.rpc.probe" in _imports(MODULES["localv4.serve.api"])  # inside a function
    assert _stage("localv4.serve.api") > _stage("localv4.weights.pull") > _stage("localv4.planning.machine")
    assert _stage("localv4.agents.launch") > _stage("localv4.flow") > _stage("localv4.rpc.probe")
    assert _cycles({"a": {"b"}, "b": {"a"}}) == ["a -> b -> a", "b -> a -> b"]
