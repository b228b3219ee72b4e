"""Running a rule's own fixtures: facts in, the expected status (and offending objects) out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor.engine.evaluate import evaluate
from auditor.facts.model import (
    Available,
    Fact,
    FactDocument,
    Reason,
    Source,
    Target,
    Unavailable,
    normalise_registry_path,
)
from auditor.results.vocabulary import Status
from auditor.rules.model import Fixture, Rule

FIXTURE_TIME = "2026-01-01T00:00:00Z"


def _fact(raw: Any) -> Fact:
    """Shorthand: a plain value, {value, source}, or {unavailable: reason[, detail]}."""
    if isinstance(raw, Mapping) and "unavailable" in raw:
        return Unavailable(Reason(raw["unavailable"]), str(raw.get("detail", "fixture")))
    if isinstance(raw, Mapping) and "value" in raw and set(raw) <= {"value", "source"}:
        return Available(raw["value"], Source(raw["source"]) if raw.get("source") else None)
    return Available(raw)


def _registry_fact(raw: Any) -> Fact:
    """A registry fixture: data, 'absent', {type, data}, or {unavailable: reason}."""
    if raw == "absent":
        return Available({"present": False, "type": None, "data": None})
    if isinstance(raw, Mapping) and "unavailable" in raw:
        return _fact(raw)
    if isinstance(raw, Mapping) and "data" in raw:
        return Available({"present": True, "type": raw.get("type"), "data": raw["data"]})
    kind = "REG_DWORD" if isinstance(raw, int) else "REG_SZ"
    return Available({"present": True, "type": kind, "data": raw})


def fixture_document(rule: Rule, fixture: Fixture) -> FactDocument:
    facts = {name: _fact(value) for name, value in fixture.facts.items()}
    if fixture.roles is not None:
        facts["host.roles"] = Available(list(fixture.roles))
    return FactDocument(
        target=Target(rule.scope.target, f"fixture-{rule.id}", roles=fixture.roles or ()),
        facts=facts,
        registry={
            normalise_registry_path(p): _registry_fact(v) for p, v in fixture.registry.items()
        },
        collected_at=FIXTURE_TIME,
        collector="fixture",
    )


@dataclass(frozen=True)
class FixtureOutcome:
    rule: Rule
    fixture: Fixture
    ok: bool
    message: str


def run_fixture(rule: Rule, fixture: Fixture) -> FixtureOutcome:
    result = evaluate(rule, fixture_document(rule, fixture), fixture.params)
    where = f"{rule.path}:{fixture.line}: {rule.id} fixture '{fixture.name}'"
    if result.status is not fixture.expect:
        why = f" ({result.reason})" if result.reason else ""
        return FixtureOutcome(
            rule,
            fixture,
            False,
            f"{where}: expected {fixture.expect.value}, got {result.status.value}{why}",
        )
    if fixture.objects is not None and result.status is Status.FAIL:
        got = sorted(f.object or "" for f in result.findings)
        if got != sorted(fixture.objects):
            return FixtureOutcome(
                rule,
                fixture,
                False,
                f"{where}: expected objects {sorted(fixture.objects)}, got {got}",
            )
    return FixtureOutcome(rule, fixture, True, f"{where}: ok")


def run_all(rules: list[Rule]) -> list[FixtureOutcome]:
    return [run_fixture(rule, fixture) for rule in rules for fixture in rule.fixtures]
