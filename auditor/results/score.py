"""The score: 100 minus weighted failures, by severity and by how many objects are affected."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from auditor.results.model import RuleResult
from auditor.rules.model import Severity, Status

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


def penalty(result: RuleResult) -> float:
    """Weight of one failing rule on one target: severity x (1 + log2 of affected objects)."""
    if result.status is not Status.FAIL:
        return 0.0
    return WEIGHTS[result.severity] * (1.0 + math.log2(max(1, len(result.findings))))


def score(results: Iterable[RuleResult]) -> float:
    """0-100: the average penalty per target, halving the score every HALF_SCORE_PENALTY.

    Averaging over targets keeps scores of a 10-host and a 1,000-host estate comparable;
    passing checks do not raise it, and undecided (error) results are reported apart.
    """
    items = list(results)
    targets = {r.target_id for r in items}
    total = sum(penalty(r) for r in items)
    return round(100.0 * math.pow(0.5, total / (HALF_SCORE_PENALTY * max(1, len(targets)))), 1)


def score_by_area(
    results: Iterable[RuleResult], rules: Mapping[str, Mapping[str, Any]]
) -> dict[str, float]:
    grouped: dict[str, list[RuleResult]] = defaultdict(list)
    for result in results:
        grouped[str(rules[result.rule_id]["area"])].append(result)
    return {area: score(items) for area, items in sorted(grouped.items())}
