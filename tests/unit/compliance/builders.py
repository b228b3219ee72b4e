"""Small scan results built in code for the compliance tests: one rule, one target at a time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from auditor.results.model import Finding, RuleResult, ScanMetadata, ScanResult, TargetInfo
from auditor.results.vocabulary import Severity, Status
from auditor.rules.model import Rule

from ..reports.sample import BASIC, DC01, DELEGATION, DOMAIN, FS01, RULES, SMB_SIGNING

__all__ = ["BASIC", "DC01", "DELEGATION", "DOMAIN", "FS01", "RULES", "SMB_SIGNING"]
RULE_IDS = frozenset(r.id for r in RULES)


def failing(
    rule: Rule,
    target: TargetInfo,
    *objects: str,
    severity: Severity | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> RuleResult:
    """A failure as the engine makes it: one finding per object, or one without an object."""
    level = severity or rule.severity
    values = dict(evidence or {"configured": True})
    findings = (
        tuple(Finding(o, o.split(",")[0], level, {**values, "object": o}) for o in objects)
        if objects
        else (Finding(None, None, level, values),)
    )
    return RuleResult(
        rule.id,
        target.id,
        Status.FAIL,
        level,
        evidence={} if objects else values,
        sources={"fact": "policy"},
        findings=findings,
    )


def passing(rule: Rule, target: TargetInfo) -> RuleResult:
    return RuleResult(rule.id, target.id, Status.PASS, rule.severity, evidence={"configured": 1})


def undecided(rule: Rule, target: TargetInfo) -> RuleResult:
    return RuleResult(rule.id, target.id, Status.ERROR, rule.severity, reason="fact unavailable")


def scan(
    results: Iterable[RuleResult],
    targets: Iterable[TargetInfo] = (DOMAIN, FS01, DC01),
    started: str = "2024-05-01T02:00:00Z",
) -> ScanResult:
    items = tuple(results)
    used = {r.rule_id for r in items}
    return ScanResult(
        metadata=ScanMetadata("0.1.0", started, started, "scan host", {"fail_on": "high"}, ()),
        targets=tuple(targets),
        rules={r.id: r.metadata() for r in RULES if r.id in used},
        results=items,
    )
