"""The lab is a subsystem of its own: only the `auditor lab` command reaches into it, and it
takes from the product only plumbing (wire included), the facts vocabulary and the published
data listed in BORROWED (docs/architecture.md, "The lab: a separate subsystem")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .imports import Import, imports, module_names
from .test_layers import LAB, LAYERS, layer_of

PACKAGE = Path(__file__).resolve().parents[2] / "auditor"
# The one door: the command that starts and stops the lab.
ALLOWED = {PACKAGE / "cli" / "lab_cmd.py"}
# Layers of the product the lab may use whole.
LAB_MAY_USE = ("plumbing", "facts")
# Beyond those, what the lab takes from the product, by name, and why.
BORROWED = {
    # The script a lab host recognises in the pipeline it is sent, read where the scanner
    # reads it (`auditor collector-script` publishes the same text).
    ("auditor.collectors.winrm.request", "collector_script"),
}


def _in_lab(name: str) -> bool:
    return name == LAB or name.startswith(LAB + ".")


def _imports(path: Path) -> list[Import]:
    modules = module_names(PACKAGE)
    name = next(n for n, p in modules.items() if p == path)
    return imports(name, path, modules, late=True)


def test_no_product_module_imports_the_lab() -> None:
    product = [
        p for p in PACKAGE.rglob("*.py") if (PACKAGE / "lab") not in p.parents and p not in ALLOWED
    ]
    assert len(product) > 50  # the walk really sees the package
    offenders = {
        str(p.relative_to(PACKAGE)): sorted(i.target for i in _imports(p) if _in_lab(i.target))
        for p in product
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_lab_command_is_the_door() -> None:
    assert any(_in_lab(i.target) for i in _imports(PACKAGE / "cli" / "lab_cmd.py"))


def test_the_lab_takes_only_plumbing_facts_and_what_it_borrows() -> None:
    modules = module_names(PACKAGE)
    lab = {n: p for n, p in modules.items() if _in_lab(n)}
    assert len(lab) > 20  # the walk really sees the lab
    taken = {
        (name, found.target, found.name): f"{path.relative_to(PACKAGE.parent)}:{found.line}"
        for name, path in lab.items()
        for found in imports(name, path, modules, late=True)
        if not _in_lab(found.target)
    }
    wrong = sorted(
        f"{where}: {name} imports {target}{'' if what is None else f'.{what}'}"
        for (name, target, what), where in taken.items()
        if layer_of(target, LAYERS) not in LAB_MAY_USE and (target, what) not in BORROWED
    )
    assert wrong == [], "the lab reaches into the product:\n" + "\n".join(wrong)
    used = {(target, what) for _name, target, what in taken}
    assert sorted(BORROWED - used) == [], "no longer borrowed: delete from BORROWED"


def test_a_command_other_than_lab_never_loads_the_lab() -> None:
    # Every command imports the command table; a scanner on a jump host must not load the
    # lab's emulators with it.
    probe = (
        "import sys, auditor.cli.main; "
        "print(sorted(m for m in sys.modules if m.startswith(('auditor.lab', 'auditor.cli.lab'))))"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "['auditor.cli.lab_cmd']"
