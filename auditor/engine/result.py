"""Every rule on every fact document, assembled into the format-free ScanResult."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from auditor import __version__
from auditor.clock import utc_now
from auditor.engine.evaluate import evaluate_all
from auditor.facts.model import FactDocument
from auditor.results.model import RuleResult, ScanMetadata, ScanResult, TargetInfo, TargetStatus
from auditor.results.vocabulary import Status
from auditor.rules.model import Rule


def _target_info(doc: FactDocument, results: Sequence[RuleResult]) -> TargetInfo:
    if doc.failure is not None:
        status, reason = TargetStatus.FAILED, f"{doc.failure.reason.value}: {doc.failure.detail}"
    elif any(r.status is Status.ERROR for r in results):
        status, reason = TargetStatus.PARTIAL, "some facts could not be gathered"
    else:
        status, reason = TargetStatus.COMPLETE, None
    return TargetInfo(
        id=doc.target.id,
        kind=doc.target.kind.value,
        name=doc.target.name,
        address=doc.target.address,
        roles=doc.target.roles,
        status=status,
        reason=reason,
        collected_at=doc.collected_at,
    )


def build_result(
    rules: Sequence[Rule],
    documents: Iterable[FactDocument],
    command: str,
    options: Mapping[str, Any] | None = None,
    params_for: Callable[[FactDocument], Mapping[str, Mapping[str, Any]]] | None = None,
    started_at: str | None = None,
    warnings: Sequence[str] = (),
) -> ScanResult:
    """Evaluate every rule on every document and assemble the format-free result."""
    started = started_at or utc_now()
    targets: list[TargetInfo] = []
    results: list[RuleResult] = []
    for doc in documents:
        mine = list(evaluate_all(rules, [doc], params_for(doc) if params_for else None))
        targets.append(_target_info(doc, mine))
        results.extend(mine)
    used = {r.rule_id for r in results}
    return ScanResult(
        metadata=ScanMetadata(
            __version__, started, utc_now(), command, dict(options or {}), tuple(warnings)
        ),
        targets=tuple(targets),
        rules={rule.id: rule.metadata() for rule in rules if rule.id in used},
        results=tuple(results),
    )
