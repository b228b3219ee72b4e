"""Loading a rule pack (built-in or the user's) together with its compliance mappings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from auditor.errors import RuleLoadError
from auditor.resources import rules_dir
from auditor.rules.loader import load_rules
from auditor.rules.mappings import by_framework, load_mappings, mapping_problems
from auditor.rules.model import Rule


def load_pack(paths: Sequence[Path] = ()) -> list[Rule]:
    """The rules under `paths` (default: the built-in pack), with built-in mappings attached."""
    builtin = rules_dir()
    mappings = load_mappings(builtin / "mappings")
    rules = load_rules(list(paths) or [builtin], by_framework(mappings))
    if not paths:
        problems = mapping_problems(mappings, {r.id for r in rules})
        if problems:
            raise RuleLoadError(problems)
    return rules
