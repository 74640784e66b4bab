"""The package's modules form layers: each imports alone, and no module-level import goes in a circle."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, require_torch

PACKAGE = ROOT / "tfjs_codec"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


#: Every module of the package but ``__main__`` (importing it runs the command line).
ALL_MODULES = sorted(module_name(p) for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")

#: ... without the torch adapter, which imports torch (imported alone in the torch pass below).
MODULES = [m for m in ALL_MODULES if not m.startswith("tfjs_codec.torch")]
TORCH_MODULES = [m for m in ALL_MODULES if m.startswith("tfjs_codec.torch")]


def test_the_module_list_is_the_package():
    assert {"tfjs_codec", "tfjs_codec.reader", "tfjs_codec.model", "tfjs_codec.sources.http", "tfjs_codec.commit"} <= set(MODULES)
    assert len(MODULES) >= 25


#: Imports each module named on the command line in a forked child of an interpreter that has
#: imported numpy (and the module named first, if any) but nothing of tfjs_codec: as fresh as a new
#: interpreter for the package, and fast.
FORKER = r"""
import importlib, os, sys, traceback
import numpy
preload, names = sys.argv[1], sys.argv[2:]
if preload:
    importlib.import_module(preload)
failed = []
for name in names:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    if os.waitpid(pid, 0)[1] != 0:
        failed.append(name)
print(" ".join(failed))
"""


def _import_each(modules: list[str], preload: str = "") -> None:
    if hasattr(os, "fork"):
        done = subprocess.run(
            [sys.executable, "-c", FORKER, preload, *modules], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [], done.stderr
        return
    for name in modules:
        done = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (name, done.stderr)


def test_each_module_imports_alone_in_a_fresh_interpreter():
    _import_each(MODULES)


def test_each_torch_adapter_module_imports_alone_in_a_fresh_interpreter():
    require_torch()
    assert len(TORCH_MODULES) >= 20
    _import_each(TORCH_MODULES, preload="torch")  # torch itself loaded once, before the forks


def _imports(path: Path, name: str, *, lazy: bool = False) -> set[str]:
    """The package modules ``name`` imports at module level (not inside functions or TYPE_CHECKING);
    with ``lazy``, also those imported inside functions and methods, at any depth."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                visit(getattr(node, "finalbody", []))
                continue
            if lazy and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.With, ast.For, ast.While)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                if base.split(".")[0] != "tfjs_codec":
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in ALL_MODULES else base)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.split(".")[0] == "tfjs_codec")

    visit(tree.body)
    return found


GRAPH = {module_name(p): _imports(p, module_name(p)) for p in PACKAGE.rglob("*.py") if module_name(p) in ALL_MODULES}
#: Every import, lazy ones (inside functions) included: a circle hidden in a function is still a circle.
FULL_GRAPH = {
    module_name(p): _imports(p, module_name(p), lazy=True) for p in PACKAGE.rglob("*.py") if module_name(p) in ALL_MODULES
}


def test_no_lower_module_imports_the_package_init():
    importers = sorted(name for name, deps in GRAPH.items() if "tfjs_codec" in deps)
    assert importers == []


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """An import circle of ``graph`` (importing a package runs its ``__init__``: that edge
    counts too), as the list of modules around it; None when there is none."""

    def parents(name: str) -> set[str]:
        parts = name.split(".")
        return {".".join(parts[:i]) for i in range(2, len(parts))}

    # (a module inside a package is imported while that package's __init__ runs, or after it:
    # its own ancestors are no edge)
    edges = {
        name: {d for dep in deps for d in {dep} | parents(dep) if d != name and not name.startswith(d + ".")}
        for name, deps in graph.items()
    }
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for name in sorted(edges):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def test_module_level_imports_have_no_circle():
    circle = find_circle(GRAPH)
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_no_circle_with_lazy_imports_either():
    """Imports inside functions count: the torch adapter's families import the exporter's
    vocabulary (below them), never the exporter's engine (above them)."""
    circle = find_circle(FULL_GRAPH)
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_the_circle_finder_finds_a_lazy_circle():
    """The check is real: a function-level import from the registry back up to the exporter's
    engine, which imports the registry, is found."""
    graph = {k: set(v) for k, v in FULL_GRAPH.items()}
    graph["tfjs_codec.torch.registry"].add("tfjs_codec.torch.exporter.engine")
    circle = find_circle(graph)
    assert circle is not None and "tfjs_codec.torch.registry" in circle


def test_torch_is_imported_only_by_the_torch_adapter():
    for path in PACKAGE.rglob("*.py"):
        if "torch" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
        assert not any(x.split(".")[0] == "torch" for x in names), path


def test_reader_and_sources_point_one_way():
    assert not any(
        dep.startswith("tfjs_codec.reader") for name in GRAPH if name.startswith("tfjs_codec.sources") for dep in GRAPH[name]
    )
    assert "tfjs_codec.model" in GRAPH["tfjs_codec.sources.local"]
    assert "tfjs_codec.model" in GRAPH["tfjs_codec.sources.archive"]
    assert "tfjs_codec.model" in GRAPH["tfjs_codec.sources.http"]
