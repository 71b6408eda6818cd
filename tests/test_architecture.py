"""The architecture, checked: no import cycle but registry loading, and nothing above the tasks
names a task (the Task contract v2: everything task-specific lives in its task)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "visionbench"

# A registry that lazily imports its plug-ins (the modules that register themselves into it):
# the one allowed kind of cycle.
REGISTRY_LOADERS = {
    "visionbench.data.registry": "visionbench.data.",
    "visionbench.models.registry": "visionbench.models.",
    "visionbench.metrics.registry": "visionbench.metrics.",
    "visionbench.tasks.base": "visionbench.tasks.",
}


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), loader edges left out."""

    def edges(m: str) -> set[str]:
        out = graph.find_modules_directly_imported_by(m)
        prefix = REGISTRY_LOADERS.get(m)
        return {w for w in out if not (prefix and w.startswith(prefix))}

    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for m in sorted(graph.modules):
        if m not in index:
            visit(m)
    return comps


def test_no_import_cycle_but_registry_loading():
    assert _cycles(grimp.build_graph("visionbench")) == []


def test_cycle_finder_finds_a_cycle():
    """The check above can fail: a graph with a cycle is reported."""
    g = grimp.ImportGraph()
    for a, b in (("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a"), ("pkg.c", "pkg.d")):
        g.add_import(importer=a, imported=b)
    assert _cycles(g) == [["pkg.a", "pkg.b", "pkg.c"]]


def _task_names() -> set[str]:
    from visionbench.tasks.base import TASKS

    # tasks that models or datasets declare but that have no implementation yet count too
    return set(TASKS.names()) | {"detection", "instance_segmentation"}


# Model files and dataset readers declare and build for the tasks they serve (a segmentation head,
# instance masks): "a new task = one file in tasks/ plus its model files". The layers above them
# (engine, analysis, bench, api, cli, core) must stay task-agnostic.
EXEMPT = ("tasks", "models", "data")


def _offences(tree: ast.AST, names: set[str]) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                if isinstance(side, ast.Constant) and side.value in names:
                    found.append(f"line {node.lineno}: compares with '{side.value}'")
                if isinstance(side, (ast.Tuple, ast.List, ast.Set)):
                    for elt in side.elts:
                        if isinstance(elt, ast.Constant) and elt.value in names:
                            found.append(f"line {node.lineno}: compares with '{elt.value}'")
        elif isinstance(node, ast.Dict):
            for key in node.keys:
                if isinstance(key, ast.Constant) and key.value in names:
                    found.append(f"line {node.lineno}: table keyed by '{key.value}'")
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            # a module-level table (UPPER_CASE) filled per task; a record's field named like a
            # task (COCO's "segmentation") is not one
            table = isinstance(node.value, ast.Name) and node.value.id.isupper()
            if table and node.slice.value in names and isinstance(node.ctx, ast.Store):
                found.append(f"line {node.lineno}: table keyed by '{node.slice.value}'")
    return found


def test_nothing_outside_tasks_names_a_task():
    names = _task_names()
    offences = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in EXEMPT:
            continue
        for o in _offences(ast.parse(path.read_text()), names):
            offences.append(f"{rel}: {o}")
    assert offences == []


@pytest.mark.parametrize(
    "code",
    [
        "if cfg.task == 'classification': pass",
        "ok = task in ('restoration', 'x')",
        "TABLE = {'segmentation': 1}",
        "TABLE['anomaly'] = 2",
    ],
)
def test_task_name_check_catches(code):
    assert _offences(ast.parse(code), _task_names())


def test_task_name_check_allows_declarations():
    code = "register(tasks=('classification',), task='generation')\nx = f('restoration')"
    assert _offences(ast.parse(code), _task_names()) == []


def _relative_import_targets() -> list[tuple[str, int, str]]:
    """(file, line, module) of every relative `from ... import` in the package."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent)
        package = list(rel.with_suffix("").parts[:-1])
        if path.name == "__init__.py":
            package = list(rel.parent.parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                found.append((str(rel), node.lineno, target))
    return found


def test_every_relative_import_names_a_module_that_exists():
    """A function-level import of a moved module (`..analysis.plots` after plots moved to viz)
    fails only when that function runs: a suite job found one. Every target must exist."""
    missing = []
    for file, line, target in _relative_import_targets():
        path = SRC.parent.joinpath(*target.split("."))
        if not (path.with_suffix(".py").exists() or (path / "__init__.py").exists()):
            missing.append(f"{file}:{line}: {target}")
    assert missing == []
