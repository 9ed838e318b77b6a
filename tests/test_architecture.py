"""The line between the scoring core and its edges, read from the source with `ast`.

- The core (`quality/`: what scores and stores) imports no edge: not the HTTP app or CLI (`api`),
  evaluation (`eval`), training (`train`), the Ray apps (`ray_apps`) or the benchmark (`bench`).
- `quality.text` and `quality.image` never import each other; the rubric sees scores, not models;
  contests and members use the scorer, never the other way round (members keep their tables in
  the contest store's database, so they may import its plumbing; contests never import members).
- No import cycles anywhere in the project.

Every import counts, at module level or inside a function: a cycle or an edge import hidden in a
function is still one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("quality", "api", "eval", "train", "ray_apps", "bench")
EDGES = ("api", "eval", "train", "ray_apps", "bench")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            if "migrations" not in path.parts}


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `module` imports (a `from package import name` names the submodule
    when `name` is one, else the package)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a non-module: its nearest module
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {module: imports_of(module, path, known) for module, path in modules.items()}


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


RULES = [
    ("the core imports an edge", lambda a, b: _inside(a, "quality") and any(_inside(b, e) for e in EDGES)),
    ("text imports image", lambda a, b: _inside(a, "quality.text") and _inside(b, "quality.image")),
    ("image imports text", lambda a, b: _inside(a, "quality.image") and _inside(b, "quality.text")),
    ("the rubric imports a model package",
     lambda a, b: _inside(a, "quality.rubric") and (_inside(b, "quality.text") or _inside(b, "quality.image"))),
    ("scoring imports contests",
     lambda a, b: _inside(b, "quality.contests") and _inside(a, "quality")
     and not (_inside(a, "quality.contests") or _inside(a, "quality.members"))),
    ("scoring or contests import members",
     lambda a, b: _inside(b, "quality.members") and _inside(a, "quality") and not _inside(a, "quality.members")),
]


def violations(graph: dict[str, set[str]]) -> list[str]:
    return [f"{why}: {a} -> {b}" for a, targets in sorted(graph.items()) for b in sorted(targets)
            for why, broken in RULES if broken(a, b)]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_project_keeps_its_import_rules():
    graph = import_graph()
    assert len(graph) > 100  # the walk found the project
    assert violations(graph) == []


def test_the_project_has_no_import_cycles():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("source, module, expected", [
    ("from api.cli import score_rows\n", "quality.distributed_like", "the core imports an edge"),
    ("def f():\n    from eval.data import x\n", "quality.train_like", "the core imports an edge"),
    ("from quality.text.batch import TextBatch\n", "quality.image.scorer", "image imports text"),
    ("import quality.image.decode\n", "quality.text.theme", "text imports image"),
    ("from quality.text import normalize\n", "quality.rubric.fit", "the rubric imports a model package"),
    ("from .contests import store\n", "quality.service", "scoring imports contests"),
])
def test_the_rules_catch_what_they_forbid(tmp_path, source, module, expected):
    """The checks can fail: each forbidden import, written as a module would, is reported."""
    known = set(project_modules()) | {module}
    path = tmp_path / "module.py"
    path.write_text(source, encoding="utf-8")
    graph = {module: imports_of(module, path, known)}
    assert any(line.startswith(expected) for line in violations(graph)), (graph, violations(graph))


def test_a_cycle_is_found_even_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
