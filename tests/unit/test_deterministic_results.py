"""Results never depend on map iteration order (the CEL binding iterates maps in hash order),
or nightly drift would report evidence that merely moved."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from auditor.engine.evaluate import evaluate
from auditor.facts.model import Available, FactDocument
from auditor.rules.fixtures import fixture_document
from auditor.rules.model import Fixture, Rule
from auditor.rules.pack import load_pack

CASES = [(rule, fixture) for rule in load_pack() for fixture in rule.fixtures]


def shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


@pytest.mark.parametrize(("rule", "fixture"), CASES, ids=[f"{r.id}:{f.name}" for r, f in CASES])
def test_same_result_whatever_the_map_order(rule: Rule, fixture: Fixture) -> None:
    doc = fixture_document(rule, fixture)
    seen = set()
    for seed in range(4):
        rng = random.Random(seed)
        facts = {
            name: Available(shuffled(f.value, rng), f.source) if isinstance(f, Available) else f
            for name, f in doc.facts.items()
        }
        result = evaluate(
            rule, FactDocument(doc.target, facts, doc.collected_at, registry=doc.registry)
        )
        seen.add(
            json.dumps(
                [
                    result.status.value,
                    result.evidence,
                    [(f.object, f.evidence) for f in result.findings],
                ],
                sort_keys=True,
                default=str,
            )
        )
    assert len(seen) == 1
