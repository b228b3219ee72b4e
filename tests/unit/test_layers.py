"""Imports go down the house's layers, never up.

LAYERS is the plan, lowest first: a module may import modules of its own layer and of the
layers below. Every import counts, also those inside functions (late is still a dependency)
and under `if TYPE_CHECKING:`. The lab is not a layer of the product: tests/unit/
test_lab_separation.py says who may import it and what it may import.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .imports import imports, module_names

PACKAGE = Path(__file__).resolve().parents[2] / "auditor"
LAB = "auditor.lab"

# Layer -> the modules and packages in it (a package stands for everything inside it).
LAYERS: dict[str, tuple[str, ...]] = {
    # One concern each, nothing about scans; wire holds the protocol bytes that the
    # collectors and the lab both speak. `auditor` is the root package alone (__version__).
    "plumbing": (
        "auditor",
        "auditor.errors",
        "auditor.clock",
        "auditor.yamlio",
        "auditor.strict",
        "auditor.jsonfile",
        "auditor.terminal",
        "auditor.atomic",
        "auditor.resources",
        "auditor.logs",
        "auditor.netmap",
        "auditor.credentials",
        "auditor.templates",
        "auditor.wire",
    ),
    # What is known about a target.
    "facts": ("auditor.facts",),
    # What a scan concludes: the vocabulary (Status, Severity) rules are written in, too.
    "results": ("auditor.results",),
    # One layer, not two: a rule is a CEL expression, so loading one compiles it
    # (rules.loader -> engine.cel), its fixtures run it (rules.fixtures -> engine.evaluate),
    # and the engine reads the Rule model. The cycle test keeps them from circling.
    "rules": ("auditor.rules", "auditor.engine"),
    # What a scan calls on: collect facts, render results, remember them.
    "services": ("auditor.collectors", "auditor.reports", "auditor.store"),
    # Runs a scan: the configuration file is its input, read once into the plan.
    "orchestration": ("auditor.pipeline",),
    "cli": ("auditor.cli", "auditor.__main__"),
}


def layer_of(module: str, layers: Mapping[str, tuple[str, ...]]) -> str | None:
    """The layer of the table's longest entry naming `module` or a package holding it."""
    best: tuple[int, str] | None = None
    for layer, entries in layers.items():
        for entry in entries:
            inside = module == entry or (module.startswith(entry + ".") and "." in entry)
            if inside and (best is None or len(entry) > best[0]):
                best = (len(entry), layer)
    return None if best is None else best[1]


def upward_imports(
    package: Path, layers: Mapping[str, tuple[str, ...]], separate: str = LAB
) -> dict[str, str]:
    """`importer -> imported` -> a line saying where and across which layers, for every
    import from a lower layer to a higher one (modules under `separate` are left out)."""
    modules = module_names(package)
    rank = {layer: index for index, layer in enumerate(layers)}
    out = {}
    for name, path in sorted(modules.items()):
        if name == separate or name.startswith(separate + "."):
            continue
        low = layer_of(name, layers)
        for found in imports(name, path, modules, late=True):
            high = layer_of(found.target, layers)
            if low is None or high is None or rank[high] <= rank[low]:
                continue
            out[f"{name} -> {found.target}"] = (
                f"{path.relative_to(package.parent)}:{found.line}: {name} ({low}) imports "
                f"{found.target} ({high})"
            )
    return out


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(
        name
        for name in module_names(PACKAGE)
        if layer_of(name, LAYERS) is None and not (name == LAB or name.startswith(LAB + "."))
    )
    assert unplaced == [], "add these to LAYERS in tests/unit/test_layers.py"


def test_every_entry_of_the_table_names_a_module() -> None:
    modules = module_names(PACKAGE)
    stale = [
        entry
        for entries in LAYERS.values()
        for entry in entries
        if not any(m == entry or m.startswith(entry + ".") for m in modules)
    ]
    assert stale == [], "these moved or went: update LAYERS"


def test_no_module_imports_a_layer_above_it() -> None:
    found = upward_imports(PACKAGE, LAYERS)
    assert sorted(found.values()) == [], "upward imports:\n" + "\n".join(found.values())


def test_an_upward_import_is_found_even_late_and_relative(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "__init__.py").write_text("")
    (pkg / "low" / "a.py").write_text("def late():\n    from ..high import thing\n")
    (pkg / "low" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.high\n"
    )
    (pkg / "low" / "c.py").write_text("from pkg.low import a\n")
    (pkg / "high.py").write_text("from pkg.low import b\nthing = 1\n")
    (pkg / "lab.py").write_text("import pkg.high\n")
    layers = {"low": ("pkg", "pkg.low"), "high": ("pkg.high",)}
    assert layer_of("pkg.low.a", layers) == "low"
    assert layer_of("pkg.lab", layers) is None  # the root entry names the root package only
    assert list(upward_imports(pkg, layers, separate="pkg.lab").values()) == [
        "pkg/low/a.py:2: pkg.low.a (low) imports pkg.high (high)",
        "pkg/low/b.py:3: pkg.low.b (low) imports pkg.high (high)",
    ]
