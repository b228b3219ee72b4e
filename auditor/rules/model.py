"""A rule: metadata, the facts it reads, a CEL condition, the evidence to show, its fixtures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.facts.model import DocumentKind
from auditor.results.vocabulary import Severity, Status


@dataclass(frozen=True)
class Remediation:
    text: str
    powershell: str | None = None
    gpo: str | None = None
    registry: str | None = None


@dataclass(frozen=True)
class RegistrySetting:
    """A registry-backed setting: the policy value wins over the local one, else the default."""

    alias: str
    policy: str | None
    local: str | None
    default: Any


@dataclass(frozen=True)
class Scope:
    target: DocumentKind
    roles: tuple[str, ...] = ()
    when: str | None = None  # CEL over the rule's facts; false means not_applicable


@dataclass(frozen=True)
class Escalation:
    when: str
    severity: Severity


@dataclass(frozen=True)
class ObjectSelector:
    """How an object-list rule finds offending objects: one finding per object."""

    source: str  # CEL yielding a list
    where: str  # CEL over `obj`: true means the object offends
    key: str  # CEL over `obj`: stable identifier (DN, site/path...)
    label: str | None = None
    evidence: Mapping[str, str] = field(default_factory=dict)
    escalate: tuple[Escalation, ...] = ()


@dataclass(frozen=True)
class Fixture:
    """Facts for which the rule must end in `expect` (and, for fails, name these objects)."""

    name: str
    expect: Status
    facts: Mapping[str, Any]
    registry: Mapping[str, Any]
    roles: tuple[str, ...] | None
    params: Mapping[str, Any]
    objects: tuple[str, ...] | None
    line: int


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    area: str
    scope: Scope
    description: str
    rationale: str
    impact: str
    remediation: Remediation
    references: tuple[str, ...]
    facts: tuple[str, ...]
    optional_facts: tuple[str, ...]
    registry: tuple[RegistrySetting, ...]
    parameters: Mapping[str, Any]
    condition: str | None
    expected: str
    evidence: Mapping[str, str]
    objects: ObjectSelector | None
    fixtures: tuple[Fixture, ...]
    tags: tuple[str, ...]
    path: Path
    mappings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        """What a report shows about the rule, independent of any target."""
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity.value,
            "area": self.area,
            "scope": {
                "target": self.scope.target.value,
                "roles": list(self.scope.roles),
                "when": self.scope.when,
            },
            "tags": list(self.tags),
            "description": self.description,
            "rationale": self.rationale,
            "impact": self.impact,
            "remediation": {
                "text": self.remediation.text,
                "powershell": self.remediation.powershell,
                "gpo": self.remediation.gpo,
                "registry": self.remediation.registry,
            },
            "references": list(self.references),
            "expected": self.expected,
            "mappings": {k: list(v) for k, v in sorted(self.mappings.items())},
        }
