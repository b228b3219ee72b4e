"""The result of a scan, independent of any output format."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.results.history import HistoryView
from auditor.results.vocabulary import Severity, Status

RESULT_SCHEMA_VERSION = 1


class TargetStatus(enum.StrEnum):
    COMPLETE = "complete"  # every fact the rules needed was gathered
    PARTIAL = "partial"  # reached, but some facts are unavailable
    FAILED = "failed"  # nothing could be gathered (unreachable, refused...)


@dataclass(frozen=True)
class AppliedWaiver:
    """The waiver entry that accepts a finding for now; reports show it beside the finding."""

    rule: str  # the entry's patterns, so a reader can find the entry in the waivers file
    target: str | None
    object: str | None
    justification: str
    owner: str
    expires: str  # ISO date: from that day on the finding fails again
    ticket: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "target": self.target,
            "object": self.object,
            "justification": self.justification,
            "owner": self.owner,
            "expires": self.expires,
            "ticket": self.ticket,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> AppliedWaiver:
        return cls(
            raw["rule"],
            raw.get("target"),
            raw.get("object"),
            raw["justification"],
            raw["owner"],
            raw["expires"],
            raw.get("ticket"),
        )


@dataclass(frozen=True)
class Finding:
    """One offending object (or the target itself for single-value rules) with its evidence."""

    object: str | None
    label: str | None
    severity: Severity
    evidence: Mapping[str, Any]
    waiver: AppliedWaiver | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "object": self.object,
            "label": self.label,
            "severity": self.severity.value,
            "evidence": dict(self.evidence),
        }
        # Only when waived, so documents without waivers keep their exact shape.
        if self.waiver is not None:
            out["waiver"] = self.waiver.to_json()
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Finding:
        waiver = raw.get("waiver")
        return cls(
            raw.get("object"),
            raw.get("label"),
            Severity(raw["severity"]),
            raw.get("evidence", {}),
            AppliedWaiver.from_json(waiver) if waiver is not None else None,
        )


@dataclass(frozen=True)
class RuleResult:
    """One rule on one target. A failing result's severity is that of its worst finding not
    waived; `waived` means every finding is waived."""

    rule_id: str
    target_id: str
    status: Status
    severity: Severity
    reason: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "target_id": self.target_id,
            "status": self.status.value,
            "severity": self.severity.value,
            "reason": self.reason,
            "evidence": dict(self.evidence),
            "sources": dict(self.sources),
            "findings": [f.to_json() for f in self.findings],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RuleResult:
        return cls(
            rule_id=raw["rule_id"],
            target_id=raw["target_id"],
            status=Status(raw["status"]),
            severity=Severity(raw["severity"]),
            reason=raw.get("reason"),
            evidence=raw.get("evidence", {}),
            sources=raw.get("sources", {}),
            findings=tuple(Finding.from_json(f) for f in raw.get("findings", [])),
        )


@dataclass(frozen=True)
class TargetInfo:
    id: str
    kind: str
    name: str
    address: str | None
    roles: tuple[str, ...]
    status: TargetStatus
    reason: str | None
    collected_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "address": self.address,
            "roles": list(self.roles),
            "status": self.status.value,
            "reason": self.reason,
            "collected_at": self.collected_at,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TargetInfo:
        return cls(
            raw["id"],
            raw["kind"],
            raw["name"],
            raw.get("address"),
            tuple(raw.get("roles", ())),
            TargetStatus(raw["status"]),
            raw.get("reason"),
            raw.get("collected_at"),
        )


@dataclass(frozen=True)
class ScanMetadata:
    tool_version: str
    started_at: str
    finished_at: str
    command: str
    options: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": "auditor",
            "tool_version": self.tool_version,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "command": self.command,
            "options": dict(self.options),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ScanMetadata:
        return cls(
            raw["tool_version"],
            raw["started_at"],
            raw["finished_at"],
            raw["command"],
            raw.get("options", {}),
            tuple(raw.get("warnings", ())),
        )


@dataclass(frozen=True)
class ScanResult:
    metadata: ScanMetadata
    targets: tuple[TargetInfo, ...]
    rules: Mapping[str, Mapping[str, Any]]  # rule id -> rule metadata
    results: tuple[RuleResult, ...]
    # Comparison with earlier scans from a store; derived, so a store never saves it.
    history: HistoryView | None = None

    def counts(self) -> dict[str, int]:
        """Results by status, and failing results by severity."""
        by_status = Counter(r.status.value for r in self.results)
        out = {s.value: by_status.get(s.value, 0) for s in Status}
        for sev in Severity:
            out[f"fail_{sev.value}"] = sum(
                1 for r in self.results if r.status is Status.FAIL and r.severity is sev
            )
        return out

    @property
    def incomplete(self) -> bool:
        return any(r.status is Status.ERROR for r in self.results) or any(
            t.status is not TargetStatus.COMPLETE for t in self.targets
        )

    def worst_failure(self) -> Severity | None:
        fails = [r.severity for r in self.results if r.status is Status.FAIL]
        return max(fails, key=lambda s: s.rank) if fails else None
