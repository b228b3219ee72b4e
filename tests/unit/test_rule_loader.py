"""Strict rule loading: each broken file gives its exact `path:line: message`."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import RuleLoadError
from auditor.rules.loader import load_rules
from auditor.rules.pack import load_pack

BROKEN = Path(__file__).parent.parent / "data" / "broken-rules"

EXPECTED = {
    "bad-condition.yaml": [
        "17: condition does not compile: line 1 column 28 of the expression: "
        "Syntax error: mismatched input '<EOF>'"
    ],
    "bad-registry.yaml": [
        "19: registry alias 'AllowBasic' must be lower_snake_case",
        "19: registry.AllowBasic.policy must be an HKLM\\... path",
    ],
    "bad-severity.yaml": [
        "3: severity must be one of info, low, medium, high, critical (got 'severe')"
    ],
    "bad-yaml.yaml": ["3: invalid YAML: expected ',' or ']', but got '<stream end>'"],
    "both-condition-and-objects.yaml": ["1: a rule needs exactly one of 'condition' or 'objects'"],
    "duplicate-key.yaml": ["18: duplicate key 'title' (first at line 2)"],
    "id-mismatch.yaml": ["1: id 'wrong-name' does not match the file name 'id-mismatch'"],
    "missing-fail-fixture.yaml": ["13: fixtures need at least one 'fail' case"],
    "no-fixtures.yaml": ["1: missing required key 'fixtures'"],
    "python-tag.yaml": [
        "2: invalid YAML: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'"
    ],
    "unknown-fact.yaml": [
        "11: unknown fact 'winrm.service.auth.telepathy' for host rules "
        "(see auditor/facts/schemas/host-facts-1.json)"
    ],
    "unknown-key.yaml": [
        "18: unknown key 'colour' in rule (allowed: area, condition, description, evidence, "
        "expected, facts, fixtures, id, impact, objects, optional_facts, parameters, rationale, "
        "references, registry, remediation, scope, severity, tags, title)"
    ],
}


def test_every_broken_file_is_covered() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_rule_exact_message(name: str) -> None:
    path = BROKEN / name
    with pytest.raises(RuleLoadError) as caught:
        load_rules([path])
    assert caught.value.problems == [f"{path}:{msg}" for msg in EXPECTED[name]]


def test_all_problems_of_all_files_reported_together() -> None:
    with pytest.raises(RuleLoadError) as caught:
        load_rules([BROKEN])
    files = {p.split(":")[0] for p in caught.value.problems}
    assert files == {str(BROKEN / n) for n in EXPECTED} | {str(BROKEN / "dup" / "same-id.yaml")}


def test_duplicate_ids_across_files() -> None:
    with pytest.raises(RuleLoadError) as caught:
        load_rules([BROKEN / "dup"])
    assert caught.value.problems == [
        f"{BROKEN / 'dup' / 'same-id.yaml'}:1: duplicate rule id 'same-id' "
        f"(also in {BROKEN / 'dup' / 'b' / 'same-id.yaml'})"
    ]


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleLoadError, match="no rule files found"):
        load_rules([tmp_path])


def test_builtin_pack_loads() -> None:
    assert len(load_pack()) >= 2
