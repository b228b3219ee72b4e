"""Compliance mappings (CIS, MITRE ATT&CK): kept beside the rules, not inside them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from auditor.errors import RuleLoadError
from auditor.yamlio import LineDict, YamlProblem, line_of, load_file


@dataclass(frozen=True)
class Mapping:
    """One framework: rule id -> the framework's item ids, plus rules it deliberately omits."""

    framework: str
    title: str
    path: Path
    items: dict[str, tuple[str, ...]]
    not_mapped: dict[str, str] = field(default_factory=dict)


_KEYS = {"framework", "title", "version", "mappings", "not_mapped"}


def load_mappings(directory: Path) -> list[Mapping]:
    """Every `*.yaml` in `directory`; problems are reported like rule problems."""
    problems: list[str] = []
    found = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            raw = load_file(path)
        except YamlProblem as exc:
            problems.append(f"{path}:{exc.line}: {exc.message}")
            continue
        if not isinstance(raw, LineDict) or not isinstance(raw.get("mappings"), dict):
            problems.append(f"{path}:1: a mapping file needs 'framework', 'title' and 'mappings'")
            continue
        for key in raw:
            if key not in _KEYS:
                problems.append(f"{path}:{line_of(raw, key)}: unknown key '{key}'")
        items = {}
        for rule_id, ids in raw["mappings"].items():
            if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
                where = line_of(raw["mappings"], rule_id)
                problems.append(f"{path}:{where}: '{rule_id}' must map to a list of ids")
                continue
            items[rule_id] = tuple(ids)
        found.append(
            Mapping(
                str(raw.get("framework")),
                str(raw.get("title", "")),
                path,
                items,
                {str(k): str(v) for k, v in (raw.get("not_mapped") or {}).items()},
            )
        )
    if problems:
        raise RuleLoadError(problems)
    return found


def mapping_problems(mappings: Iterable[Mapping], rule_ids: set[str]) -> list[str]:
    """Mapped ids that name no rule: the mistake Prowler's mapping files shipped with."""
    out = []
    for mapping in mappings:
        for rule_id in [*mapping.items, *mapping.not_mapped]:
            if rule_id not in rule_ids:
                out.append(f"{mapping.path}: '{rule_id}' names no rule in the pack")
    return out


def by_framework(mappings: Iterable[Mapping]) -> dict[str, dict[str, tuple[str, ...]]]:
    return {m.framework: m.items for m in mappings}
