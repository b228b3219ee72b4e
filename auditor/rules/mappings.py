"""Compliance mappings (CIS, MITRE ATT&CK): kept beside the rules, not inside them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from auditor.errors import RuleLoadError
from auditor.strict import Node, Problems


@dataclass(frozen=True)
class Mapping:
    """One framework: rule id -> the framework's item ids, plus rules it deliberately omits."""

    framework: str
    title: str
    path: Path
    items: dict[str, tuple[str, ...]]
    not_mapped: dict[str, str] = field(default_factory=dict)


_KEYS = {"framework", "title", "version", "mappings", "not_mapped"}


def _ids(node: Node) -> tuple[str, ...] | None:
    if node.value is None or node.value == []:
        node.fail("expected a non-empty list of ids")
        return None
    return node.strings()


def load_mappings(directory: Path) -> list[Mapping]:
    """Every `*.yaml` in `directory`; problems are reported like rule problems."""
    problems = Problems(str(directory))
    found = []
    for path in sorted(directory.glob("*.yaml")):
        root = problems.about(str(path)).load(path)
        if root is None or root.mapping() is None:
            continue
        root.keys(_KEYS, ("framework", "title", "mappings"))
        mappings, not_mapped = root["mappings"], root["not_mapped"]
        if mappings.present:
            mappings.mapping()
        not_mapped.mapping(nothing=True)
        items = {name: _ids(ids) for name, ids in mappings.entries()}
        reasons = {name: reason.text(nonempty=True) for name, reason in not_mapped.entries()}
        found.append(
            Mapping(
                str(root["framework"].text(nonempty=True)),
                root["title"].text(nonempty=True) or "",
                path,
                {name: ids for name, ids in items.items() if ids is not None},
                {name: reason for name, reason in reasons.items() if reason is not None},
            )
        )
    problems.check(RuleLoadError)
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
