"""A scan seen against the stored ones before it: what changed since the last, and the trend."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor.results.vocabulary import Severity


@dataclass(frozen=True)
class DriftFinding:
    """One finding named by its key, with what a reader needs to recognise it."""

    rule_id: str
    target_id: str
    target: str  # display name
    object: str | None
    severity: Severity

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "target_id": self.target_id,
            "target": self.target,
            "object": self.object,
            "severity": self.severity.value,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> DriftFinding:
        return cls(
            raw["rule_id"],
            raw["target_id"],
            raw["target"],
            raw["object"],
            Severity(raw["severity"]),
        )

    def describe(self) -> str:
        where = f"{self.target} {self.object}" if self.object is not None else self.target
        return f"{self.severity.value.upper()} {self.rule_id} on {where}"


@dataclass(frozen=True)
class TrendPoint:
    """One scan on the trend chart."""

    scan_id: int | None  # None: the scan being reported, when it was not recorded
    started_at: str
    score: float
    open_findings: Mapping[str, int]  # severity -> open (failing, not waived) findings

    def to_json(self) -> dict[str, Any]:
        return {
            "scan_id": self.scan_id,
            "started_at": self.started_at,
            "score": self.score,
            "open_findings": dict(self.open_findings),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TrendPoint:
        return cls(raw["scan_id"], raw["started_at"], raw["score"], raw["open_findings"])


@dataclass(frozen=True)
class HistoryView:
    """What reports show about history. With no earlier scan every open finding is new."""

    scan_id: int | None
    previous_id: int | None
    previous_started_at: str | None
    new: tuple[DriftFinding, ...]
    fixed: tuple[DriftFinding, ...]
    no_longer_verifiable: tuple[DriftFinding, ...]
    trend: tuple[TrendPoint, ...]  # oldest first, ending with this scan

    def to_json(self) -> dict[str, Any]:
        return {
            "scan_id": self.scan_id,
            "previous": None
            if self.previous_id is None
            else {"scan_id": self.previous_id, "started_at": self.previous_started_at},
            "new": [f.to_json() for f in self.new],
            "fixed": [f.to_json() for f in self.fixed],
            "no_longer_verifiable": [f.to_json() for f in self.no_longer_verifiable],
            "trend": [p.to_json() for p in self.trend],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> HistoryView:
        previous = raw["previous"] or {}
        return cls(
            scan_id=raw["scan_id"],
            previous_id=previous.get("scan_id"),
            previous_started_at=previous.get("started_at"),
            new=tuple(DriftFinding.from_json(f) for f in raw["new"]),
            fixed=tuple(DriftFinding.from_json(f) for f in raw["fixed"]),
            no_longer_verifiable=tuple(
                DriftFinding.from_json(f) for f in raw["no_longer_verifiable"]
            ),
            trend=tuple(TrendPoint.from_json(p) for p in raw["trend"]),
        )
