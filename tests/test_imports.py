"""The project's modules import cleanly, and the encodings depend on jukebox.bars without a cycle: the encodings
package rests on the bars, beats and keys, never the other way round."""
from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = "jukebox"


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(found: dict[str, Path]) -> dict[str, set[str]]:
    """Which project modules each module imports, at any depth (an import inside a function is a dependency too).

    `from a import b` depends on a.b when that is a module, else on a; importing a.b.c also runs the __init__ of
    every package above it, except the importer's own packages, which are already running when it is imported."""
    graph = {}
    for name, path in found.items():
        is_package = path.name == "__init__.py"
        package = name.split(".") if is_package else name.split(".")[:-1]
        own = {".".join(package[:i]) for i in range(1, len(package) + 1)}
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in found else base for a in node.names]
            else:
                continue
            for target in targets:
                parts = target.split(".")
                if parts[0] != PACKAGE:
                    continue
                edges.add(target)
                edges.update(".".join(parts[:i]) for i in range(1, len(parts))
                             if ".".join(parts[:i]) not in own)
        graph[name] = {e for e in edges if e in found and e != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
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


def test_the_graph_walk_finds_a_cycle_and_an_import_of_a_package_s_own_name(tmp_path):
    pkg = tmp_path / PACKAGE
    (pkg / "encodings").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "bars.py").write_text("def f():\n    from .encodings.base import x\n")
    (pkg / "encodings" / "__init__.py").write_text("from .remi import y\n")
    (pkg / "encodings" / "base.py").write_text("x = 1\n")
    (pkg / "encodings" / "remi.py").write_text("from ..bars import f\nfrom .base import x\n")
    graph = import_graph(modules(tmp_path))
    assert graph["jukebox.encodings.remi"] == {"jukebox.bars", "jukebox.encodings.base"}, \
        "a sibling's import does not count its own package"
    assert cycles(graph) == [["jukebox.bars", "jukebox.encodings", "jukebox.encodings.remi"]], \
        "importing a submodule runs its package's __init__, which imports remi, which imports bars"


def test_the_encodings_and_bars_take_part_in_no_import_cycle():
    touching = [c for c in cycles(import_graph(modules()))
                if any(m == f"{PACKAGE}.bars" or m.startswith(f"{PACKAGE}.encodings") for m in c)]
    assert touching == []


@pytest.mark.parametrize("name", [n for n in modules() if n.startswith(f"{PACKAGE}.encodings") or n in
                                  (f"{PACKAGE}.bars", f"{PACKAGE}.dataset", f"{PACKAGE}.midi_io")])
def test_every_encoding_module_imports_first_in_a_fresh_interpreter(name):
    """A cycle hidden by import order fails only when its other end is imported first."""
    done = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_project_module_imports():
    for name in modules():
        importlib.import_module(name)
