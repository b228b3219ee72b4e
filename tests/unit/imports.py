"""A package's import graph read with ast: for the import-cycle, layer and lab-separation tests."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Import:
    """One of the package's modules imported by another, and where."""

    target: str  # the module imported, or the module a name is taken from
    name: str | None  # that name, for `from target import name` where name is not a module
    line: int


def module_names(package: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package is its __init__)."""
    out = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run when the module is imported: not those inside functions."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                yield from _module_level([child])
            elif isinstance(child, ast.ExceptHandler | ast.match_case):
                yield from _module_level(child.body)


def imports(name: str, path: Path, modules: Mapping[str, Path], *, late: bool) -> list[Import]:
    """The package's modules that `name` imports, relative imports resolved.

    Imports under `if TYPE_CHECKING:` always count; those inside functions only when `late`.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.walk(tree) if late else _module_level(tree.body)
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [Import(a.name, None, node.lineno) for a in node.names if a.name in modules]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                target = f"{base}.{alias.name}"  # a submodule, else a name defined in `base`
                if target in modules:
                    found.append(Import(target, None, node.lineno))
                elif base in modules:
                    found.append(Import(base, alias.name, node.lineno))
    return [i for i in found if i.target != name]


def import_graph(package: Path, *, late: bool = False) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    modules = module_names(package)
    return {
        name: {i.target for i in imports(name, path, modules, late=late)}
        for name, path in modules.items()
    }
