"""SARIF 2.1.0 report for code-scanning dashboards: one result per failing object."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from auditor.reports.csv_format import compact_json
from auditor.reports.interface import Renderer
from auditor.reports.markdown_format import code_block, text
from auditor.results.model import Finding, RuleResult, ScanResult, TargetInfo, TargetStatus
from auditor.results.vocabulary import Severity, Status

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "auditorFinding/v1"
# GitHub code scanning reads this property (a string holding a CVSS-like score) to rank alerts.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_WEB_URL = re.compile(r"https?://[^\s<>\"]+")
_WHERE = (("gpo", "Group Policy"), ("registry", "Registry"))


def fingerprint(rule_id: str, target_id: str, obj: str | None) -> str:
    """Stable across scans so dashboards track one alert per rule, target and object."""
    key = "\0".join((rule_id, target_id, obj if obj is not None else ""))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _rule_name(rule_id: str) -> str:
    """SARIF wants an identifier-like name: `winrm-service-basic-auth` -> `WinrmServiceBasicAuth`."""
    return "".join(part.capitalize() for part in re.split(r"[^0-9A-Za-z]+", rule_id))


def _help(meta: Mapping[str, Any]) -> dict[str, str]:
    """Why, the passing state and the fix; the Markdown escapes rule text like the .md report."""
    fix = meta.get("remediation") or {}
    expected, rationale = meta.get("expected", ""), meta.get("rationale", "")
    details = [(label, fix[key]) for key, label in _WHERE if fix.get(key)]
    plain = [str(rationale), f"Expected: {expected}", f"Remediation: {fix.get('text', '')}"]
    blocks = [
        text(rationale),
        f"**Expected:** {text(expected)}",
        f"**Remediation:** {text(fix.get('text', ''))}",
    ]
    if fix.get("powershell"):
        plain.append(f"PowerShell:\n{fix['powershell']}")
        blocks.append("\n".join(code_block(str(fix["powershell"]), "powershell")).rstrip("\n"))
    plain.extend(f"{label}: {value}" for label, value in details)
    if details:
        blocks.append("\n".join(f"- **{label}:** {text(value)}" for label, value in details))
    return {"text": "\n".join(plain), "markdown": "\n\n".join(blocks)}


def _descriptor(rule_id: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The rule as code-scanning tools list it; `security-severity` ranks its alerts."""
    severity = Severity(meta.get("severity", Severity.MEDIUM.value))
    descriptor: dict[str, Any] = {
        "id": rule_id,
        "name": _rule_name(rule_id),
        "shortDescription": {"text": str(meta.get("title", rule_id))},
        "fullDescription": {"text": str(meta.get("description") or meta.get("title", rule_id))},
        "help": _help(meta),
        "defaultConfiguration": {"level": LEVEL[severity]},
        "properties": {
            "severity": severity.value,
            "area": meta.get("area", ""),
            "tags": list(dict.fromkeys(["security", *meta.get("tags", ())])),
            "mappings": dict(meta.get("mappings") or {}),
            "security-severity": SECURITY_SEVERITY[severity],
        },
    }
    links = [ref for ref in meta.get("references", ()) if _WEB_URL.fullmatch(ref)]
    if links:
        descriptor["helpUri"] = links[0]
    return descriptor


def _location(target: TargetInfo, obj: str | None) -> dict[str, Any]:
    """No files are scanned: a logical location names the object, then the host or domain."""
    where = [{"name": target.name, "fullyQualifiedName": target.name, "kind": target.kind}]
    if obj is not None:
        where.insert(
            0, {"name": obj, "fullyQualifiedName": f"{target.name}/{obj}", "kind": "resource"}
        )
    return {"logicalLocations": where}


def _described(target_id: str) -> TargetInfo:
    """Loaded results describe every target; a hand-built one may not, and still renders."""
    return TargetInfo(target_id, "target", target_id, None, (), TargetStatus.FAILED, None, None)


def _utc(timestamp: str) -> str | None:
    """SARIF times must be UTC date-times; a time that does not parse is left out."""
    try:
        moment = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _result(
    item: RuleResult, finding: Finding, target: TargetInfo, rule_index: int, title: str
) -> dict[str, Any]:
    """One alert per offending object, identified by rule, target and object alone."""
    where = target.name if finding.object is None else f"{target.name}, object {finding.object}"
    label = f" ({finding.label})" if finding.label else ""
    evidence = finding.evidence or item.evidence
    sarif: dict[str, Any] = {
        "ruleId": item.rule_id,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": LEVEL[finding.severity],
        "message": {
            "text": f"Not met on {where}{label}: {title}. Actual: {compact_json(evidence)}"
        },
        "locations": [_location(target, finding.object)],
        "partialFingerprints": {
            FINGERPRINT_KEY: fingerprint(item.rule_id, item.target_id, finding.object)
        },
        "properties": {
            "severity": finding.severity.value,
            "target": target.id,
            "object": finding.object,
            "evidence": dict(evidence),
            "sources": dict(item.sources),
        },
    }
    if finding.waiver is not None:
        # SARIF's word for an accepted finding; the fingerprint stays, so the alert is the same one.
        sarif["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": finding.waiver.justification,
                "properties": finding.waiver.to_json(),
            }
        ]
    return sarif


def _notification(item: RuleResult, target: TargetInfo, rule_index: int) -> dict[str, Any]:
    """An undecided result is the tool failing to judge, not a finding: SARIF's notification."""
    return {
        "level": "error",
        "message": {
            "text": f"{item.rule_id} undecided on {target.name}: {item.reason or 'no reason given'}"
        },
        "locations": [_location(target, None)],
        "associatedRule": {"id": item.rule_id, "index": rule_index},
    }


class SarifRenderer(Renderer):
    """Failing objects are results (waived ones suppressed); undecided results are tool
    notifications and mark the invocation unsuccessful, so a dashboard never reads an
    incomplete scan as a clean one. Passing and not-applicable results are not alerts."""

    suffix = ".sarif"

    def render(self, result: ScanResult) -> bytes:
        rule_ids = list(result.rules)
        rule_ids += sorted({r.rule_id for r in result.results} - set(result.rules))
        index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
        targets = {t.id: t for t in result.targets}
        results: list[dict[str, Any]] = []
        notifications: list[dict[str, Any]] = []
        for item in result.results:
            target = targets.get(item.target_id) or _described(item.target_id)
            if item.status in (Status.FAIL, Status.WAIVED):
                title = str(result.rules.get(item.rule_id, {}).get("title", item.rule_id))
                findings = item.findings or (Finding(None, None, item.severity, item.evidence),)
                results.extend(
                    _result(item, f, target, index[item.rule_id], title) for f in findings
                )
            elif item.status is Status.ERROR:
                notifications.append(_notification(item, target, index[item.rule_id]))
        meta = result.metadata
        invocation: dict[str, Any] = {
            "executionSuccessful": not result.incomplete,
            "commandLine": meta.command,
            "toolExecutionNotifications": notifications,
            "toolConfigurationNotifications": [
                {"level": "warning", "message": {"text": warning}} for warning in meta.warnings
            ],
        }
        for key, value in (("startTimeUtc", meta.started_at), ("endTimeUtc", meta.finished_at)):
            if (utc := _utc(value)) is not None:
                invocation[key] = utc
        log = {
            "$schema": SCHEMA_URI,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "auditor",
                            "version": meta.tool_version,
                            "rules": [
                                _descriptor(r, result.rules.get(r, {"title": r})) for r in rule_ids
                            ],
                        }
                    },
                    "invocations": [invocation],
                    "results": results,
                    "properties": {"counts": result.counts(), "targets": len(result.targets)},
                }
            ],
        }
        # A lone surrogate (from a \ud800 escape in hostile input) cannot be UTF-8 encoded;
        # backslashreplace turns it back into the same \ud800 escape, which is valid JSON.
        return json.dumps(log, indent=1, ensure_ascii=False).encode("utf-8", "backslashreplace")
