"""The product never imports the lab: only the `auditor lab` command reaches into it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "auditor"
# The one door: the command that starts and stops the lab.
ALLOWED = {PACKAGE / "cli" / "lab_cmd.py"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_product_module_imports_the_lab() -> None:
    product = [
        p for p in PACKAGE.rglob("*.py") if (PACKAGE / "lab") not in p.parents and p not in ALLOWED
    ]
    assert len(product) > 50  # the walk really sees the package
    offenders = {
        str(p.relative_to(PACKAGE)): sorted(
            m for m in imported_modules(p) if m == "auditor.lab" or m.startswith("auditor.lab.")
        )
        for p in product
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_lab_command_is_the_door() -> None:
    assert any(
        m.startswith("auditor.lab") for m in imported_modules(PACKAGE / "cli" / "lab_cmd.py")
    )
