"""Where auditor's data files live: the one way any module finds them.

Two kinds. The repository folders `rules/` and `reports/` (rule pack, report templates and
the result schema) sit beside the package in a source tree or editable install, and inside
it as `_data/` in a wheel (pyproject.toml force-includes them). Files kept inside the package
(fact schemas, collect.ps1, the example configuration, the lab's defaults and Samba helpers)
are found next to the modules. Both are real filesystem paths: the Samba helpers are handed
to another interpreter, and Jinja2 loads templates from a folder.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    source_tree = _PACKAGE.parent / name
    if source_tree.is_dir():
        return source_tree
    raise FileNotFoundError(f"auditor's {name}/ folder is missing from the installation")


def rules_dir() -> Path:
    return _data_dir("rules")


def reports_dir() -> Path:
    return _data_dir("reports")


def package_path(*parts: str) -> Path:
    """A file or folder shipped inside the auditor package, e.g. ("facts", "schemas")."""
    return _PACKAGE.joinpath(*parts)
