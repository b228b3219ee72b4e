"""JUnit XML report for CI dashboards: one test case per rule × target, one suite per rule."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from typing import Any

from auditor.reports.csv_format import compact_json
from auditor.reports.interface import Renderer
from auditor.results.model import AppliedWaiver, Finding, RuleResult, ScanResult
from auditor.results.vocabulary import Status

# XML 1.0 cannot carry these at all, not even as character references.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> str:
    """Scanned data may hold control characters: each becomes U+FFFD, so the reader sees one was there."""
    return _NOT_XML.sub("\ufffd", str(value))


def _element(parent: ET.Element, tag: str, text: str | None = None, **attrs: Any) -> ET.Element:
    """A child element; ElementTree escapes markup, xml_text removes what escaping cannot."""
    child = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        child.text = xml_text(text)
    return child


def waiver_text(waiver: AppliedWaiver) -> str:
    """Who accepted the finding, until when and why: what a CI reader needs to judge it."""
    ticket = f", ticket {waiver.ticket}" if waiver.ticket else ""
    return f"waived until {waiver.expires} by {waiver.owner}{ticket}: {waiver.justification}"


def _object_line(finding: Finding) -> str:
    label = f" ({finding.label})" if finding.label else ""
    waived = f" ({waiver_text(finding.waiver)})" if finding.waiver is not None else ""
    return (
        f"- {finding.object}{label} [{finding.severity.value}]: "
        f"{compact_json(finding.evidence)}{waived}"
    )


def _body(item: RuleResult, meta: Mapping[str, Any]) -> str:
    """Expected and actual values, each offending object with its evidence, then the fix."""
    lines = [f"Expected: {meta.get('expected', '')}"]
    if item.evidence:
        lines.append(f"Actual: {compact_json(item.evidence)}")
    objects = [f for f in item.findings if f.object is not None]
    open_objects = [f for f in objects if f.waiver is None]
    waived_objects = [f for f in objects if f.waiver is not None]
    if open_objects:
        lines.append(f"Failing objects ({len(open_objects)}):")
        lines.extend(_object_line(f) for f in open_objects)
    if waived_objects:
        lines.append(f"Waived objects ({len(waived_objects)}):")
        lines.extend(_object_line(f) for f in waived_objects)
    if not objects and not item.evidence:
        lines.extend(f"Actual: {compact_json(f.evidence)}" for f in item.findings)
    if item.sources:
        lines.append("Sources: " + ", ".join(f"{k}={v}" for k, v in item.sources.items()))
    remediation = meta.get("remediation") or {}
    if remediation.get("text"):
        lines.append(f"Remediation: {remediation['text']}")
    return "\n".join(lines)


def _testcase(
    suite: ET.Element, item: RuleResult, meta: Mapping[str, Any], classname: str, target: str
) -> None:
    """Fail is a failure, undecided an error; not applicable and waived are skipped."""
    case = _element(suite, "testcase", classname=classname, name=target)
    if item.status is Status.FAIL:
        objects = sum(1 for f in item.findings if f.object is not None and f.waiver is None)
        count = f" ({objects} object{'s' if objects != 1 else ''})" if objects else ""
        _element(
            case,
            "failure",
            _body(item, meta),
            type=item.severity.value,
            message=f"{item.severity.value}: {meta.get('title', item.rule_id)}: "
            f"not met on {target}{count}",
        )
    elif item.status is Status.ERROR:
        reason = item.reason or "undecided"
        _element(case, "error", reason, type="undecided", message=reason)
    elif item.status is Status.NOT_APPLICABLE:
        _element(case, "skipped", message=item.reason or "not applicable")
    elif item.status is Status.WAIVED:
        waivers = dict.fromkeys(waiver_text(f.waiver) for f in item.findings if f.waiver)
        _element(case, "skipped", _body(item, meta), message="; ".join(waivers) or "waived")


def _suite(
    root: ET.Element,
    result: ScanResult,
    rule_id: str,
    items: list[RuleResult],
    names: Mapping[str, str],
) -> None:
    """One rule on every target, its metadata as suite properties, its counts as attributes."""
    meta = result.rules.get(rule_id, {})
    area = str(meta.get("area", ""))
    classname = f"{area}.{rule_id}" if area else rule_id
    statuses = Counter(item.status for item in items)
    suite = _element(
        root,
        "testsuite",
        name=classname,
        package=area,
        tests=len(items),
        failures=statuses[Status.FAIL],
        errors=statuses[Status.ERROR],
        skipped=statuses[Status.NOT_APPLICABLE] + statuses[Status.WAIVED],
        timestamp=result.metadata.started_at,
    )
    properties = _element(suite, "properties")
    mappings = meta.get("mappings") or {}
    for name, value in (
        ("title", meta.get("title", "")),
        ("severity", meta.get("severity", "")),
        ("expected", meta.get("expected", "")),
        ("references", " ".join(meta.get("references", ()))),
        *((f"mapping.{fw}", ", ".join(ids)) for fw, ids in mappings.items()),
    ):
        if value:
            _element(properties, "property", name=name, value=value)
    for item in items:
        _testcase(suite, item, meta, classname, names.get(item.target_id, item.target_id))


def _duration(result: ScanResult) -> str | None:
    """Seconds from start to finish, when both times parse; CI shows it as the run's time."""
    try:
        start = dt.datetime.fromisoformat(result.metadata.started_at)
        end = dt.datetime.fromisoformat(result.metadata.finished_at)
        seconds = (end - start).total_seconds()
    except (ValueError, TypeError):  # unparseable, or one naive and one aware
        return None
    return f"{seconds:.3f}" if seconds >= 0 else None


class JunitRenderer(Renderer):
    """Suites are per rule because classname is `area.rule-id`: Jenkins, GitLab and Surefire
    treat a suite as one test class, so a suite per rule keeps suite, class and fix aligned
    (one rule's failures are one remediation); the target is the test name."""

    suffix = ".junit.xml"

    def render(self, result: ScanResult) -> bytes:
        names = {t.id: t.name for t in result.targets}
        by_rule: dict[str, list[RuleResult]] = {}
        for item in result.results:
            by_rule.setdefault(item.rule_id, []).append(item)
        counts = result.counts()
        root = ET.Element(
            "testsuites",
            {
                "name": "auditor",
                "tests": str(len(result.results)),
                "failures": str(counts[Status.FAIL.value]),
                "errors": str(counts[Status.ERROR.value]),
            },
        )
        duration = _duration(result)
        if duration is not None:
            root.set("time", duration)
        for rule_id, items in by_rule.items():
            _suite(root, result, rule_id, items, names)
        ET.indent(root)
        data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return data + b"\n"
