"""The score: 100 minus weighted failures, by severity and by how many objects are affected."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.results.model import RuleResult
from auditor.results.vocabulary import Severity, Status

# A critical finding weighs as much as 40 low ones; info findings never lower the score.
WEIGHTS = {
    Severity.INFO: 0.0,
    Severity.LOW: 1.0,
    Severity.MEDIUM: 4.0,
    Severity.HIGH: 12.0,
    Severity.CRITICAL: 40.0,
}
# Average penalty points per target at which the score halves; see docs/scoring.md.
HALF_SCORE_PENALTY = 60.0


@dataclass(frozen=True)
class PenaltyShare:
    """What one rule costs the score: to tell a reader which fix raises it most."""

    rule_id: str
    penalty: float  # summed over the targets it fails on
    share: float  # of all penalties, 0-1
    targets: int  # targets it fails on
    gain: float  # score points won by fixing it everywhere (other failures unchanged)


def penalty(result: RuleResult) -> float:
    """Weight of one failing rule on one target: severity x (1 + log2 of affected objects).

    Waived objects are not counted: a result whose every finding is waived is not failing,
    and a partly waived one weighs by the objects left (its severity is theirs already).
    """
    if result.status is not Status.FAIL:
        return 0.0
    objects = sum(1 for finding in result.findings if finding.waiver is None)
    return WEIGHTS[result.severity] * (1.0 + math.log2(max(1, objects)))


def _from_penalty(total: float, targets: int) -> float:
    return round(100.0 * math.pow(0.5, total / (HALF_SCORE_PENALTY * max(1, targets))), 1)


def score(results: Iterable[RuleResult]) -> float:
    """0-100: the average penalty per target, halving the score every HALF_SCORE_PENALTY.

    Averaging over targets keeps scores of a 10-host and a 1,000-host estate comparable;
    passing checks do not raise it, and undecided (error) results are reported apart.
    """
    items = list(results)
    targets = {r.target_id for r in items}
    return _from_penalty(sum(penalty(r) for r in items), len(targets))


def top_penalties(results: Iterable[RuleResult], limit: int = 5) -> tuple[PenaltyShare, ...]:
    """The rules that lower the score most, largest penalty first (ties by rule id)."""
    items = list(results)
    targets = len({r.target_id for r in items})
    by_rule: dict[str, list[float]] = defaultdict(list)
    for result in items:
        weight = penalty(result)
        if weight > 0:
            by_rule[result.rule_id].append(weight)
    total = sum(sum(weights) for weights in by_rule.values())
    current = _from_penalty(total, targets)
    ranked = sorted(by_rule.items(), key=lambda item: (-sum(item[1]), item[0]))[:limit]
    return tuple(
        PenaltyShare(
            rule_id=rule_id,
            penalty=round(sum(weights), 2),
            share=round(sum(weights) / total, 4),
            targets=len(weights),
            gain=round(_from_penalty(total - sum(weights), targets) - current, 1),
        )
        for rule_id, weights in ranked
    )


def score_by_area(
    results: Iterable[RuleResult], rules: Mapping[str, Mapping[str, Any]]
) -> dict[str, float]:
    grouped: dict[str, list[RuleResult]] = defaultdict(list)
    for result in results:
        grouped[str(rules[result.rule_id]["area"])].append(result)
    return {area: score(items) for area, items in sorted(grouped.items())}
