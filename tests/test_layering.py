"""The package's modules form layers: each imports alone, and no module-level import goes in a circle."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "tfjs_codec"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


#: Every module of the package but the torch adapter (it imports torch; tests/test_torch_import.py covers it)
#: and ``__main__`` (importing it runs the command line).
MODULES = sorted(
    module_name(p)
    for p in PACKAGE.rglob("*.py")
    if "torch" not in p.relative_to(PACKAGE).parts and p.name != "__main__.py"
)


def test_the_module_list_is_the_package():
    assert {"tfjs_codec", "tfjs_codec.reader", "tfjs_codec.model", "tfjs_codec.sources.http", "tfjs_codec.commit"} <= set(MODULES)
    assert len(MODULES) >= 25


#: Imports each module named on the command line in a forked child of an interpreter that has
#: imported numpy but nothing of tfjs_codec: as fresh as a new interpreter for the package, and fast.
FORKER = r"""
import importlib, os, sys, traceback
import numpy
failed = []
for name in sys.argv[1:]:
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


def test_each_module_imports_alone_in_a_fresh_interpreter():
    if hasattr(os, "fork"):
        done = subprocess.run([sys.executable, "-c", FORKER, *MODULES], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [], done.stderr
        return
    for name in MODULES:
        done = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (name, done.stderr)


def _imports(path: Path, name: str) -> set[str]:
    """The package modules ``name`` imports at module level (not inside functions or TYPE_CHECKING)."""
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
                    found.add(sub if sub in MODULES else base)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.split(".")[0] == "tfjs_codec")

    visit(tree.body)
    return found


GRAPH = {module_name(p): _imports(p, module_name(p)) for p in PACKAGE.rglob("*.py") if module_name(p) in MODULES}


def test_no_lower_module_imports_the_package_init():
    importers = sorted(name for name, deps in GRAPH.items() if "tfjs_codec" in deps)
    assert importers == []


def test_module_level_imports_have_no_circle():
    # importing a package runs its __init__: count that edge too
    def parents(name: str) -> set[str]:
        parts = name.split(".")
        return {".".join(parts[:i]) for i in range(2, len(parts))}

    edges = {name: {d for dep in deps for d in {dep} | parents(dep) if d != name} for name, deps in GRAPH.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join(path[path.index(nxt) :] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name)


def test_reader_and_sources_point_one_way():
    assert not any(
        dep.startswith("tfjs_codec.reader") for name in GRAPH if name.startswith("tfjs_codec.sources") for dep in GRAPH[name]
    )
    assert "tfjs_codec.model" in GRAPH["tfjs_codec.sources.local"]
    assert "tfjs_codec.model" in GRAPH["tfjs_codec.sources.archive"]
    assert "tfjs_codec.model" in GRAPH["tfjs_codec.sources.http"]
