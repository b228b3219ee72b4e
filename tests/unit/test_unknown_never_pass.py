"""Unknown is never pass: over the whole pack, a rule that lacks what it reads ends in `error`.

Precisely, for every rule of the built-in pack:

- with none of its facts and no registry value, the result is `error`;
- starting from each of its own fixtures (so the other facts hold realistic values), each
  required fact made unavailable in turn, with each `Reason`, gives `error`; so does each
  registry value the rule reads, made unavailable in turn;
- a target that could not be collected at all (`FactDocument.failure`) gives `error`, even when
  every fact the rule reads is there;
- an optional fact made unavailable never turns a result into `pass` that was not one,
  except probe facts (`probe.*`): probes only corroborate a configuration that is itself known
  (a scan may run with probes off), so a rule whose configuration says "off" passes without
  them, as it must when the probe cannot reach the port.

One exception, and only one: a rule scoped to roles (`scope.roles`) on a host whose roles are
known (`host.roles` available) and share none with the scope is `not_applicable`. The engine
decides the role scope first and from `host.roles` alone, so the rule's own facts are
irrelevant there; with `host.roles` unavailable the result is `error`.

A registry value is "read" unless the setting's policy value is present: policy wins over the
local value (docs/rule-format.md), so the local value is then never consulted and its being
unreadable cannot change the outcome.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

import pytest

from auditor.engine.evaluate import evaluate
from auditor.facts.model import (
    Available,
    DocumentKind,
    Fact,
    FactDocument,
    Reason,
    Target,
    Unavailable,
    registry_key,
)
from auditor.results.vocabulary import Status
from auditor.rules.fixtures import fixture_document
from auditor.rules.loader import KNOWN_ROLES
from auditor.rules.model import Fixture, Rule
from auditor.rules.pack import load_pack

PACK = load_pack()
HOST_RULES = [r for r in PACK if r.scope.target is DocumentKind.HOST]
ROLE_SCOPED = [r for r in HOST_RULES if r.scope.roles]


def _by_id(rules: list[Rule]) -> dict[str, object]:
    return {"argvalues": rules, "ids": [r.id for r in rules]}


def document(rule: Rule, facts: Mapping[str, Fact] | None = None) -> FactDocument:
    """A document for the rule's kind of target holding only `facts`: no registry value."""
    return FactDocument(
        Target(rule.scope.target, f"unknown-{rule.id}"), dict(facts or {}), "2026-01-01T00:00:00Z"
    )


def outside_roles(rule: Rule, doc: FactDocument) -> bool:
    """The one case where `not_applicable` is allowed on missing facts (module docstring)."""
    roles = doc.get("host.roles")
    return (
        bool(rule.scope.roles)
        and isinstance(roles, Available)
        and not set(rule.scope.roles) & set(roles.value)
    )


def allowed(rule: Rule, doc: FactDocument) -> set[Status]:
    return {Status.ERROR, Status.NOT_APPLICABLE} if outside_roles(rule, doc) else {Status.ERROR}


def replaced(
    doc: FactDocument, facts: Mapping[str, Fact] = {}, registry: Mapping[str, Fact] = {}
) -> FactDocument:
    """`doc` with some facts or registry values swapped (registry paths compared like Windows)."""
    wanted = {registry_key(p) for p in registry}
    kept = {p: f for p, f in doc.registry.items() if registry_key(p) not in wanted}
    return dataclasses.replace(doc, facts={**doc.facts, **facts}, registry={**kept, **registry})


def read_paths(rule: Rule, doc: FactDocument) -> Iterator[str]:
    """Registry values the engine reads for `rule` on `doc` (policy first, then local)."""
    for setting in rule.registry:
        if setting.policy is not None:
            yield setting.policy
            fact = doc.get_registry(setting.policy)
            if isinstance(fact, Available) and (fact.value or {}).get("present"):
                continue  # the policy value decides; the local one is never read
        if setting.local is not None:
            yield setting.local


def fixture_docs(rule: Rule) -> Iterator[tuple[Fixture, FactDocument]]:
    for fixture in rule.fixtures:
        yield fixture, fixture_document(rule, fixture)


def describe(rule: Rule, fixture: Fixture, what: str, got: object) -> str:
    return f"{rule.path}: {rule.id}, fixture '{fixture.name}', {what}: got {got}"


@pytest.mark.parametrize("rule", **_by_id(PACK))
def test_nothing_known_is_error(rule: Rule) -> None:
    result = evaluate(rule, document(rule))
    assert result.status is Status.ERROR, (result.status, result.reason)
    assert result.reason, "an undecided result says why"


@pytest.mark.parametrize("rule", **_by_id(HOST_RULES))
def test_roles_alone_decide_nothing(rule: Rule) -> None:
    """Roles inside every scope, nothing else: still undecided."""
    roles = {"host.roles": Available(sorted(KNOWN_ROLES))}
    result = evaluate(rule, document(rule, roles))
    assert result.status is Status.ERROR, (result.status, result.reason)


@pytest.mark.parametrize("rule", **_by_id(ROLE_SCOPED))
def test_known_roles_outside_the_scope_are_not_applicable(rule: Rule) -> None:
    outside = sorted(KNOWN_ROLES - set(rule.scope.roles))
    result = evaluate(rule, document(rule, {"host.roles": Available(outside)}))
    assert result.status is Status.NOT_APPLICABLE, (result.status, result.reason)
    unknown = {"host.roles": Unavailable(Reason.ACCESS_DENIED, "test")}
    assert evaluate(rule, document(rule, unknown)).status is Status.ERROR


@pytest.mark.parametrize("rule", **_by_id(PACK))
def test_each_required_fact_unavailable_is_error(rule: Rule) -> None:
    problems = []
    for fixture, doc in fixture_docs(rule):
        for name in rule.facts:
            for reason in Reason:
                changed = replaced(doc, facts={name: Unavailable(reason, "test")})
                status = evaluate(rule, changed, fixture.params).status
                if status not in allowed(rule, changed):
                    problems.append(describe(rule, fixture, f"{name} {reason.value}", status))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("rule", **_by_id([r for r in PACK if r.registry]))
def test_each_registry_value_unavailable_is_error(rule: Rule) -> None:
    problems = []
    checked = 0
    for fixture, doc in fixture_docs(rule):
        for path in read_paths(rule, doc):
            for reason in Reason:
                changed = replaced(doc, registry={path: Unavailable(reason, "test")})
                status = evaluate(rule, changed, fixture.params).status
                checked += 1
                if status not in allowed(rule, changed):
                    problems.append(describe(rule, fixture, f"{path} {reason.value}", status))
    assert checked, "every registry setting is read on some fixture"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("rule", **_by_id(PACK))
def test_an_uncollected_target_is_error_everywhere(rule: Rule) -> None:
    """Even with the facts of a passing fixture in the document."""
    problems = []
    for fixture, doc in fixture_docs(rule):
        for reason in Reason:
            failed = dataclasses.replace(doc, failure=Unavailable(reason, "test"))
            status = evaluate(rule, failed, fixture.params).status
            if status is not Status.ERROR:
                problems.append(describe(rule, fixture, f"target failure {reason.value}", status))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("rule", **_by_id([r for r in PACK if r.optional_facts]))
def test_an_unavailable_optional_fact_never_makes_a_pass(rule: Rule) -> None:
    problems = []
    for fixture, doc in fixture_docs(rule):
        before = evaluate(rule, doc, fixture.params).status
        if before is Status.PASS:
            continue
        for name in rule.optional_facts:
            if name.startswith("probe."):
                continue  # see the module docstring
            for reason in Reason:
                changed = replaced(doc, facts={name: Unavailable(reason, "test")})
                after = evaluate(rule, changed, fixture.params).status
                if after is Status.PASS:
                    problems.append(
                        describe(rule, fixture, f"{name} {reason.value}", f"pass (was {before})")
                    )
    assert not problems, "\n".join(problems)


def test_the_pack_has_rules_of_every_shape() -> None:
    """The properties above mean something only if the pack exercises each path."""
    assert any(r.registry for r in PACK)
    assert any(r.objects is not None for r in PACK)
    assert any(r.scope.when is not None for r in PACK)
    assert ROLE_SCOPED
    assert any(r.scope.target is DocumentKind.DOMAIN for r in PACK)
    assert any(not r.facts and not r.registry for r in PACK), "a rule with only optional facts"
