"""JUnit and SARIF reports: every status, valid against the vendored schemas, hostile data inert."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from functools import cache
from typing import Any

import jsonschema
import pytest
import xmlschema

from auditor.reports.interface import Renderer
from auditor.reports.junit_format import JunitRenderer, xml_text
from auditor.reports.sarif_format import FINGERPRINT_KEY, SarifRenderer
from auditor.resources import reports_dir
from auditor.results.model import AppliedWaiver, Finding, RuleResult, ScanResult, TargetStatus
from auditor.results.vocabulary import Severity, Status

from .sample import (
    BASIC,
    DC01,
    DELEGATION,
    DOMAIN,
    FS01,
    HTTP_LISTENER,
    OFFLINE,
    OFFLINE_REASON,
    SMB_SIGNING,
    SPOOLER,
    make_large_result,
    make_result,
)

# What XML 1.0 cannot hold (C0 controls, a lone surrogate, U+FFFF), what ends a CDATA section,
# and markup that would declare an external entity or open a CDATA section if passed through.
CONTROL = "nul\x00 bell\x07 esc\x1b vt\x0b ff\x0c lone\ud800 nonchar\uffff"
XML_PAYLOAD = "]]> <![CDATA[x]]> <!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>&e;"
HOSTILE = f"{CONTROL} {XML_PAYLOAD}"
JUNIT_TAGS = {"testsuites", "testsuite", "properties", "property", "testcase"}
JUNIT_TAGS |= {"failure", "error", "skipped"}


@cache
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(reports_dir() / "schema" / "junit" / "junit-10.xsd"))


@cache
def sarif_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(
        (reports_dir() / "schema" / "sarif" / "sarif-schema-2.1.0.json").read_text("utf-8")
    )
    return jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def _poison(item: RuleResult) -> RuleResult:
    findings = tuple(
        dataclasses.replace(
            f,
            object=None if f.object is None else f.object + HOSTILE,
            label=HOSTILE,
            evidence={**f.evidence, "payload": HOSTILE},
        )
        for f in item.findings
    )
    return dataclasses.replace(
        item,
        reason=None if item.reason is None else item.reason + HOSTILE,
        evidence={**item.evidence, HOSTILE: HOSTILE} if item.evidence else {},
        findings=findings,
    )


WAIVER = AppliedWaiver(
    rule="ad-unconstrained-*",
    target=None,
    object="CN=*",
    justification="legacy print server, replaced in CHG-42",
    owner="infra-team",
    expires="2099-12-31",
    ticket="CHG-42",
)
# What each status becomes: a new status must be given a rendering here before it ships.
JUNIT_ELEMENT = {
    Status.PASS: None,
    Status.FAIL: "failure",
    Status.ERROR: "error",
    Status.NOT_APPLICABLE: "skipped",
    Status.WAIVED: "skipped",
}
SARIF_PLACE = {
    Status.PASS: None,
    Status.FAIL: "result",
    Status.ERROR: "notification",
    Status.NOT_APPLICABLE: None,
    Status.WAIVED: "suppressed result",
}


def one_of_each() -> ScanResult:
    """One result per status on fs01, the waived one an object-list result."""
    base = make_result()
    finding = Finding("CN=svc,OU=Servers,DC=corp", "svc", Severity.HIGH, {"enabled": True})
    results = {
        Status.PASS: RuleResult(SMB_SIGNING.id, FS01.id, Status.PASS, Severity.LOW),
        Status.FAIL: RuleResult(BASIC.id, FS01.id, Status.FAIL, Severity.HIGH, findings=(finding,)),
        Status.ERROR: RuleResult(
            HTTP_LISTENER.id, FS01.id, Status.ERROR, Severity.MEDIUM, reason="facts unavailable"
        ),
        Status.NOT_APPLICABLE: RuleResult(
            SPOOLER.id, FS01.id, Status.NOT_APPLICABLE, Severity.INFO, reason="not a DC"
        ),
        Status.WAIVED: RuleResult(
            DELEGATION.id,
            FS01.id,
            Status.WAIVED,
            Severity.HIGH,
            findings=(dataclasses.replace(finding, waiver=WAIVER),),
        ),
    }
    assert set(results) == set(Status) == set(JUNIT_ELEMENT) == set(SARIF_PLACE)
    return dataclasses.replace(base, targets=(FS01,), results=tuple(results.values()))


def test_junit_renders_each_status_as_ci_expects() -> None:
    root = _junit(one_of_each())
    for item in one_of_each().results:
        children = [child.tag for child in _case(root, item.rule_id, FS01.name)]
        expected = JUNIT_ELEMENT[item.status]
        assert children == ([expected] if expected else []), item.status
    waived = _case(root, DELEGATION.id, FS01.name).find("skipped")
    assert waived is not None
    assert waived.get("message") == (
        "waived until 2099-12-31 by infra-team, ticket CHG-42: "
        "legacy print server, replaced in CHG-42"
    )
    assert "Waived objects (1):\n- CN=svc,OU=Servers,DC=corp (svc) [high]" in (waived.text or "")


def test_sarif_renders_each_status_in_its_place() -> None:
    run = _sarif(one_of_each())["runs"][0]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    for item in one_of_each().results:
        results = [r for r in run["results"] if r["ruleId"] == item.rule_id]
        noted = [n for n in notes if n["associatedRule"]["id"] == item.rule_id]
        place = SARIF_PLACE[item.status]
        assert len(results) == (1 if place and "result" in place else 0), item.status
        assert len(noted) == (1 if place == "notification" else 0), item.status
        assert all(("suppressions" in r) == (place == "suppressed result") for r in results)
    (waived,) = [r for r in run["results"] if r["ruleId"] == DELEGATION.id]
    assert waived["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": WAIVER.justification,
            "properties": WAIVER.to_json(),
        }
    ]


def test_junit_partly_waived_result_counts_open_objects() -> None:
    base = make_result()
    results = tuple(
        dataclasses.replace(
            r, findings=(r.findings[0], dataclasses.replace(r.findings[1], waiver=WAIVER))
        )
        if r.rule_id == DELEGATION.id
        else r
        for r in base.results
    )
    failure = _case(_junit(dataclasses.replace(base, results=results)), DELEGATION.id, DOMAIN.name)
    element = failure.find("failure")
    assert element is not None and "(1 object)" in element.get("message", "")
    assert "Failing objects (1):" in (element.text or "")
    assert "Waived objects (1):" in (element.text or "")
    waived = SarifRenderer().render(dataclasses.replace(base, results=results))
    unwaived = SarifRenderer().render(base)
    assert _fingerprints(json.loads(waived)) == _fingerprints(json.loads(unwaived))


def hostile_result() -> ScanResult:
    """The sample with control characters, CDATA ends and XML markup in every free-text field."""
    base = make_result()
    rules: dict[str, Mapping[str, Any]] = {
        rule_id: {
            **meta,
            "title": meta["title"] + HOSTILE,
            "expected": HOSTILE,
            "remediation": {**meta["remediation"], "powershell": f"Write-Output '{HOSTILE}'"},
            "mappings": {HOSTILE: [HOSTILE]},
        }
        for rule_id, meta in base.rules.items()
    }
    return ScanResult(
        metadata=dataclasses.replace(
            base.metadata, command=HOSTILE, warnings=(*base.metadata.warnings, HOSTILE)
        ),
        targets=tuple(dataclasses.replace(t, name=t.name + HOSTILE) for t in base.targets),
        rules=rules,
        results=tuple(_poison(r) for r in base.results),
    )


def _junit(result: ScanResult) -> ET.Element:
    data = JunitRenderer().render(result)
    junit_schema().validate(data.decode("utf-8"))
    return ET.fromstring(data)


def _case(root: ET.Element, rule_id: str, target: str) -> ET.Element:
    matches = [
        case
        for case in root.iter("testcase")
        if case.get("classname", "").endswith(f".{rule_id}") and case.get("name") == target
    ]
    assert len(matches) == 1, (rule_id, target)
    return matches[0]


def test_junit_renders_every_status() -> None:
    root = _junit(make_result())
    failure = _case(root, BASIC.id, FS01.name).find("failure")
    assert failure is not None
    assert failure.get("type") == "high"
    assert BASIC.title in failure.get("message", "") and FS01.name in failure.get("message", "")
    assert '"offered_on_http":true' in (failure.text or "")
    assert "Expected: Basic = false" in (failure.text or "")
    error = _case(root, BASIC.id, OFFLINE.name).find("error")
    assert error is not None and error.get("message") == OFFLINE_REASON
    skipped = _case(root, SPOOLER.id, DC01.name).find("skipped")
    assert skipped is not None and skipped.get("message") == "outside the rule's scope"
    assert list(_case(root, SMB_SIGNING.id, DC01.name)) == []


def test_junit_lists_each_failing_object_with_its_evidence() -> None:
    failure = _case(_junit(make_result()), DELEGATION.id, DOMAIN.name).find("failure")
    assert failure is not None and "(2 objects)" in failure.get("message", "")
    body = (failure.text or "").splitlines()
    objects = [line for line in body if line.startswith("- CN=")]
    assert len(objects) == 2
    assert "[critical]" in objects[1] and '"account":"Ünïcødé 管理$"' in objects[1]


def test_junit_suites_are_rules_with_counts() -> None:
    result = make_result()
    root = _junit(result)
    counts = result.counts()
    assert root.get("tests") == str(len(result.results))
    assert root.get("failures") == str(counts["fail"])
    assert root.get("errors") == str(counts["error"])
    assert root.get("time") == "120.000"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        f"{meta['area']}.{rule_id}" for rule_id, meta in result.rules.items()
    ]
    for suite in suites:
        cases = suite.findall("testcase")
        assert {c.get("classname") for c in cases} == {suite.get("name")}
        assert suite.get("tests") == str(len(cases))
        for attribute, child in (("failures", "failure"), ("errors", "error")):
            assert suite.get(attribute) == str(sum(c.find(child) is not None for c in cases))
        assert suite.get("skipped") == str(sum(c.find("skipped") is not None for c in cases))
    assert sum(int(s.get("skipped", 0)) for s in suites) == counts["not_applicable"]


def test_junit_hostile_data_is_valid_and_inert() -> None:
    result = hostile_result()
    data = JunitRenderer().render(result)
    root = _junit(result)
    assert {element.tag for element in root.iter()} <= JUNIT_TAGS
    for raw in (b"<!DOCTYPE", b"<![CDATA[", b"<script", b"]]>", b"\x00", b"\x1b"):
        assert raw not in data
    body = _case(root, BASIC.id, xml_text(FS01.name + HOSTILE)).findtext("failure") or ""
    assert XML_PAYLOAD in body
    assert "nul\ufffd bell\ufffd esc\ufffd vt\ufffd ff\ufffd lone\ufffd nonchar\ufffd" in body


def _sarif(result: ScanResult) -> Any:
    log = json.loads(SarifRenderer().render(result))
    errors = sorted(sarif_validator().iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]
    return log


def _results(log: Any, rule_id: str, target: str) -> list[Any]:
    return [
        r
        for r in log["runs"][0]["results"]
        if r["ruleId"] == rule_id and r["properties"]["target"] == target
    ]


def test_sarif_results_are_failing_objects() -> None:
    log = _sarif(make_result())
    basic = _results(log, BASIC.id, FS01.id)
    assert len(basic) == 1 and basic[0]["level"] == "error"
    assert basic[0]["locations"][0]["logicalLocations"] == [
        {"name": FS01.name, "fullyQualifiedName": FS01.name, "kind": "host"}
    ]
    assert FS01.name in basic[0]["message"]["text"]
    assert '"offered_on_http":true' in basic[0]["message"]["text"]
    delegation = _results(log, DELEGATION.id, DOMAIN.id)
    assert [r["level"] for r in delegation] == ["error", "error"]
    assert [r["properties"]["severity"] for r in delegation] == ["high", "critical"]
    first = delegation[0]["locations"][0]["logicalLocations"]
    assert first[0]["kind"] == "resource" and first[0]["name"].startswith("CN=")
    assert first[1] == {"name": DOMAIN.name, "fullyQualifiedName": DOMAIN.name, "kind": "domain"}
    assert delegation[0]["properties"]["evidence"]["account"] == "=cmd|' /C calc'!A0"
    listener = [r for r in log["runs"][0]["results"] if r["ruleId"] == HTTP_LISTENER.id]
    assert [r["level"] for r in listener] == ["warning"]
    # Passing and not-applicable results are not alerts.
    assert _results(log, SMB_SIGNING.id, DC01.id) == []
    assert [r for r in log["runs"][0]["results"] if r["ruleId"] == SPOOLER.id] == []


def test_sarif_undecided_results_are_tool_notifications() -> None:
    result = make_result()
    invocation = _sarif(result)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    errors = [r for r in result.results if r.status is Status.ERROR]
    assert len(notes) == len(errors)
    offline = [n for n in notes if OFFLINE.name in n["message"]["text"]]
    assert {n["associatedRule"]["id"] for n in offline} == {
        r.rule_id for r in errors if r.target_id == OFFLINE.id
    }
    assert all(OFFLINE_REASON in n["message"]["text"] and n["level"] == "error" for n in offline)
    assert [n["message"]["text"] for n in invocation["toolConfigurationNotifications"]] == list(
        result.metadata.warnings
    )
    assert invocation["startTimeUtc"] == "2024-05-01T10:00:00Z"


def test_sarif_complete_scan_is_successful() -> None:
    base = make_result()
    targets = tuple(t for t in base.targets if t.status is TargetStatus.COMPLETE)
    complete = dataclasses.replace(
        base,
        targets=targets,
        results=tuple(r for r in base.results if r.target_id in {t.id for t in targets}),
    )
    assert not complete.incomplete
    invocation = _sarif(complete)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    assert invocation["toolExecutionNotifications"] == []


def test_sarif_rules_carry_metadata_and_remediation() -> None:
    driver = _sarif(make_result())["runs"][0]["tool"]["driver"]
    rules = {r["id"]: r for r in driver["rules"]}
    delegation = rules[DELEGATION.id]
    assert delegation["name"] == "AdUnconstrainedDelegation"
    assert delegation["shortDescription"]["text"] == DELEGATION.title
    assert delegation["helpUri"] == "https://attack.mitre.org/techniques/T1558/"
    assert delegation["properties"]["mappings"] == {"mitre": ["T1558"]}
    assert "security" in delegation["properties"]["tags"]
    assert "```powershell\nSet-ADAccountControl" in delegation["help"]["markdown"]
    assert "Set-ADAccountControl" in delegation["help"]["text"]
    # Markdown in rule text is escaped, so the help renders it as plain text.
    assert r"\*\*bold\*\*" in rules[HTTP_LISTENER.id]["help"]["markdown"]
    assert {r["id"]: r["properties"]["security-severity"] for r in driver["rules"]} == {
        "ad-unconstrained-delegation": "8.0",
        "winrm-service-basic-auth": "8.0",
        "winrm-http-listener": "5.5",
        "smb-signing-required": "3.0",
        "rdp-nla-required": "9.5",
        "dc-print-spooler-disabled": "1.0",
    }
    for rule in driver["rules"]:
        assert float(rule["properties"]["security-severity"]) <= 10.0


def _fingerprints(log: Any) -> list[str]:
    return [r["partialFingerprints"][FINGERPRINT_KEY] for r in log["runs"][0]["results"]]


def test_sarif_fingerprints_are_stable_and_distinct() -> None:
    result = make_result()
    first = _fingerprints(_sarif(result))
    # A later scan with other times, a reordered estate and changed evidence: same alerts.
    later = dataclasses.replace(
        result,
        metadata=dataclasses.replace(result.metadata, started_at="2024-06-01T10:00:00Z"),
        results=tuple(
            dataclasses.replace(r, evidence={"changed": True}) for r in reversed(result.results)
        ),
    )
    assert sorted(_fingerprints(_sarif(later))) == sorted(first)
    assert _fingerprints(_sarif(result)) == first
    assert len(set(first)) == len(first)
    delegation = _results(_sarif(result), DELEGATION.id, DOMAIN.id)
    assert len({r["partialFingerprints"][FINGERPRINT_KEY] for r in delegation}) == 2


def test_sarif_hostile_data_is_valid() -> None:
    data = SarifRenderer().render(hostile_result())
    data.decode("utf-8")  # strict: a lone surrogate must not leak out as invalid UTF-8
    log = _sarif(hostile_result())
    basic = _results(log, BASIC.id, FS01.id)
    assert HOSTILE in basic[0]["message"]["text"]
    assert basic[0]["properties"]["evidence"]["payload"] == HOSTILE


@pytest.mark.parametrize("renderer", [JunitRenderer(), SarifRenderer()])
def test_large_estate_renders(renderer: Renderer) -> None:
    assert len(renderer.render(make_large_result(hosts=200))) > 100_000
