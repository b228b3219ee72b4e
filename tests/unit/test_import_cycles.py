"""No import circle among auditor's modules, so the package reads as layers, bottom to top.

Imports under `if TYPE_CHECKING:` count: such a guard hides a circle from the interpreter,
not from the design (the results circle model -> history -> diff -> model lived behind one).
Imports inside functions do not count: they run late, on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .imports import import_graph

PACKAGE = Path(__file__).resolve().parents[2] / "auditor"


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(out)


def test_auditor_has_no_import_cycle() -> None:
    graph = import_graph(PACKAGE)
    assert len(graph) > 50  # the walk really sees the package
    assert sum(len(edges) for edges in graph.values()) > 100  # and resolves its imports
    assert cycles(graph) == []


def test_cycles_behind_type_checking_count_and_function_imports_do_not(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import b\n"
    )
    (pkg / "sub" / "b.py").write_text("from ..c import thing\n")
    (pkg / "c.py").write_text("from . import a\nthing = 1\n")
    (pkg / "d.py").write_text("def late():\n    from pkg import e\n")
    (pkg / "e.py").write_text("import pkg.d\n")
    assert cycles(import_graph(pkg)) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
