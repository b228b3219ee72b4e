"""The built-in rule pack: every fixture, fixture coverage, mappings and the example hosts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.engine.evaluate import applies_to, evaluate_all
from auditor.facts.io import load_documents
from auditor.facts.model import DocumentKind
from auditor.resources import rules_dir
from auditor.results.vocabulary import Status
from auditor.rules.fixtures import run_fixture
from auditor.rules.mappings import load_mappings
from auditor.rules.model import Fixture, Rule
from auditor.rules.pack import load_pack

PACK = load_pack()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HOST_EXAMPLES = sorted((EXAMPLES / "hosts").glob("*.json"))
ALL_EXAMPLES = sorted(EXAMPLES.glob("*.json")) + HOST_EXAMPLES
# Reasons that mean a rule broke on a well-formed document, as opposed to a missing fact.
RULE_BUG = re.compile(r"could not be evaluated|did not give a list|gave \w+, not true/false")


def _fixture_cases() -> Iterator[object]:
    for rule in PACK:
        for fixture in rule.fixtures:
            yield pytest.param(rule, fixture, id=f"{rule.id}::{fixture.name}")


@pytest.mark.parametrize(("rule", "fixture"), list(_fixture_cases()))
def test_fixture(rule: Rule, fixture: Fixture) -> None:
    outcome = run_fixture(rule, fixture)
    assert outcome.ok, outcome.message


@pytest.mark.parametrize("rule", PACK, ids=lambda rule: rule.id)
def test_rule_has_pass_fail_and_error_fixtures(rule: Rule) -> None:
    expects = {fixture.expect for fixture in rule.fixtures}
    missing = sorted(s.value for s in {Status.PASS, Status.FAIL, Status.ERROR} - expects)
    assert not missing, f"{rule.path}: no {', '.join(missing)} fixture"


@pytest.mark.parametrize(
    "rule", [r for r in PACK if r.scope.roles or r.scope.when], ids=lambda rule: rule.id
)
def test_scoped_rule_has_not_applicable_fixture(rule: Rule) -> None:
    expects = {fixture.expect for fixture in rule.fixtures}
    assert Status.NOT_APPLICABLE in expects, (
        f"{rule.path}: scoped rule without a not_applicable fixture"
    )


def test_every_host_rule_is_mapped_or_explained() -> None:
    """A host rule is either in the CIS file or in its not_mapped list, and has ATT&CK ids."""
    by_framework = {m.framework: m for m in load_mappings(rules_dir() / "mappings")}
    cis, mitre = by_framework["cis"], by_framework["mitre"]
    host_ids = {r.id for r in PACK if r.scope.target is DocumentKind.HOST}
    unexplained = sorted(host_ids - set(cis.items) - set(cis.not_mapped))
    assert not unexplained, f"host rules neither mapped to CIS nor explained: {unexplained}"
    assert not set(cis.items) & set(cis.not_mapped), "a rule is both mapped and not_mapped"
    assert sorted(host_ids - set(mitre.items)) == []
    for ids in cis.items.values():
        assert all(re.fullmatch(r"\d+(\.\d+)+", item) for item in ids), ids
    for ids in mitre.items.values():
        assert all(re.fullmatch(r"T\d{4}(\.\d{3})?", item) for item in ids), ids


def test_there_are_example_hosts() -> None:
    assert len(HOST_EXAMPLES) >= 4


@pytest.mark.parametrize("path", ALL_EXAMPLES, ids=lambda path: path.name)
def test_example_validates_and_evaluates(path: Path) -> None:
    documents = load_documents(path)  # schema-validated; raises InputError otherwise
    results = list(evaluate_all(PACK, documents))
    expected = sum(1 for doc in documents for rule in PACK if applies_to(rule, doc))
    assert len(results) == expected
    if path in HOST_EXAMPLES:
        broken = [
            f"{r.rule_id}: {r.reason}" for r in results if r.reason and RULE_BUG.search(r.reason)
        ]
        assert not broken, broken


def test_hardened_example_passes_everything_applicable() -> None:
    (document,) = load_documents(EXAMPLES / "hosts" / "app01-hardened.json")
    results = list(evaluate_all(PACK, [document]))
    bad = [
        f"{r.rule_id}: {r.status.value} {r.reason or ''}"
        for r in results
        if r.status not in (Status.PASS, Status.NOT_APPLICABLE)
    ]
    assert not bad, bad


@pytest.mark.parametrize(
    "path", [p for p in HOST_EXAMPLES if "hardened" not in p.name], ids=lambda path: path.name
)
def test_vulnerable_examples_have_findings(path: Path) -> None:
    results = list(evaluate_all(PACK, load_documents(path)))
    assert any(r.status is Status.FAIL for r in results)


def test_examples_show_an_unavailable_fact_as_error() -> None:
    errors = [
        r
        for path in HOST_EXAMPLES
        for r in evaluate_all(PACK, load_documents(path))
        if r.status is Status.ERROR
    ]
    assert errors
    assert all(r.reason and "unavailable (access_denied" in r.reason for r in errors)
