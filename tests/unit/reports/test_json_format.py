"""The JSON report against its schema: valid, strict, and a lossless round trip."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from auditor.engine.result import build_result
from auditor.facts.model import DocumentKind, Source
from auditor.reports.json_format import JsonRenderer
from auditor.results.io import result_from_json, result_schema, result_to_json, validate_result_json
from auditor.results.model import ScanResult, TargetStatus
from auditor.results.vocabulary import Severity, Status
from auditor.rules.fixtures import fixture_document
from auditor.rules.pack import load_pack

from .sample import make_result


def _document(result: ScanResult) -> Any:
    return json.loads(JsonRenderer().render(result))


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(result_schema())


def test_report_validates_and_round_trips() -> None:
    result = make_result()
    raw = _document(result)
    assert validate_result_json(raw) == []
    again = result_from_json(raw, "report.json")
    assert again == result
    assert result_to_json(again) == raw


def test_a_real_scan_validates() -> None:
    """Rule.metadata() and the engine's results, not hand-made ones, match the schema."""
    rules = load_pack()
    documents = [fixture_document(rule, fx) for rule in rules for fx in rule.fixtures]
    result = build_result(rules, documents, "auditor scan --fixtures", warnings=("test",))
    assert {r.status for r in result.results} >= {Status.PASS, Status.FAIL, Status.ERROR}
    assert validate_result_json(_document(result)) == []


def test_schema_enums_follow_the_model() -> None:
    defs = result_schema()["$defs"]
    assert defs["status"]["enum"] == [s.value for s in Status]
    assert defs["severity"]["enum"] == [s.value for s in Severity]
    assert defs["source"]["enum"] == [s.value for s in Source]
    assert defs["target"]["properties"]["status"]["enum"] == [s.value for s in TargetStatus]
    assert defs["target"]["properties"]["kind"]["enum"] == [k.value for k in DocumentKind]
    counts = defs["summary"]["properties"]["counts"]
    assert sorted(counts["properties"]) == sorted(make_result().counts())
    # Optional only so results written before waivers existed still validate.
    assert sorted(counts["required"]) == sorted(set(make_result().counts()) - {"waived"})


def _set(raw: Any, path: str, value: Any) -> None:
    *parents, leaf = path.split("/")
    node = raw
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("schema_version", 2, "1 was expected"),
        ("extra", True, "Additional properties"),
        ("metadata/tool", "other", "'auditor' was expected"),
        ("summary/counts/skipped", 1, "Additional properties"),
        ("summary/score", 101, "greater than the maximum"),
        ("targets/0/status", "unknown", "is not one of"),
        ("targets/0/extra", 1, "Additional properties"),
        ("rules/winrm-service-basic-auth/remediation/script", "x", "Additional properties"),
        ("results/0/status", "passed", "is not one of"),
        ("results/0/sources/accounts", "guess", "is not one of"),
        ("results/0/findings/0/severity", "urgent", "is not one of"),
        ("results/0/findings/0/extra", 1, "Additional properties"),
    ],
)
def test_schema_is_strict(path: str, value: Any, message: str) -> None:
    raw = copy.deepcopy(_document(make_result()))
    _set(raw, path, value)
    problems = validate_result_json(raw)
    assert problems and message in problems[0], problems


def test_evidence_values_are_free_form() -> None:
    raw = _document(make_result())
    raw["results"][0]["findings"][0]["evidence"] = {"any": [1, {"nested": None}, "x", 2.5, True]}
    raw["results"][0]["evidence"] = {"list": [], "null": None}
    assert validate_result_json(raw) == []
