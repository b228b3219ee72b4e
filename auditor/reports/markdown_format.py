"""Markdown report for tickets: the summary, then each failing rule with its targets and fix."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from auditor.reports.csv_format import neutralise, without_controls
from auditor.reports.interface import Renderer
from auditor.results.history import DriftFinding, HistoryView
from auditor.results.model import RuleResult, ScanResult, TargetStatus
from auditor.results.score import score
from auditor.results.vocabulary import Severity, Status

# Characters that start emphasis, links, code, headings, tables, strikethrough, raw HTML or
# entities; escaped so scanned data (account names, registry values) renders as plain text.
_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_WEB_URL = re.compile(r"https?://[^\s<>]+")
_STATUS_LABEL = {
    "pass": "pass",
    "fail": "fail",
    "error": "undecided",
    "not_applicable": "not applicable",
    "waived": "waived",
}


def text(value: Any) -> str:
    """Inline text: Markdown syntax escaped, line breaks kept as <br> so tables stay intact."""
    return _LINE_BREAK.sub("<br>", _SPECIAL.sub(r"\\\1", without_controls(str(value))))


def value_text(value: Any) -> str:
    """Evidence values are free-form JSON: strings read as text, anything else as JSON."""
    return text(
        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    )


def evidence_text(evidence: Mapping[str, Any]) -> str:
    return "; ".join(f"{text(key)}: {value_text(value)}" for key, value in evidence.items())


def table(header: Sequence[str], body: Iterable[Sequence[str]]) -> list[str]:
    """Cells must already be escaped with `text`. A rendered table pasted into a spreadsheet
    runs cells that start like formulas, so they get the CSV report's leading apostrophe."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(neutralise(cell) for cell in row) + " |" for row in body)
    return [*lines, ""]


def code_block(code: str, language: str) -> list[str]:
    """A fence longer than any backtick run inside, so the code cannot close it early."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", code, fence, ""]


def _header(result: ScanResult) -> list[str]:
    meta = result.metadata
    targets = Counter(t.status for t in result.targets)
    waived = sum(1 for r in result.results for f in r.findings if f.waiver is not None)
    lines = [
        "# auditor report",
        "",
        f"- **Score:** {score(result.results)}/100"
        + (" (incomplete: undecided results are not counted)" if result.incomplete else ""),
        f"- **Scan:** {text(meta.started_at)} to {text(meta.finished_at)}, "
        f"auditor {text(meta.tool_version)}",
        f"- **Command:** {text(meta.command)}",
        f"- **Targets:** {len(result.targets)} ({targets[TargetStatus.COMPLETE]} complete, "
        f"{targets[TargetStatus.PARTIAL]} partial, {targets[TargetStatus.FAILED]} not scanned); "
        f"**rules:** {len(result.rules)}",
        *([f"- **Waived:** {waived} finding(s), not counted (see *Waived*)"] if waived else []),
        "",
    ]
    lines.extend(f"> **Warning:** {text(warning)}" for warning in meta.warnings)
    if meta.warnings:
        lines.append("")
    counts = result.counts()
    lines += ["## Summary", ""]
    lines += table(
        ["Status", "Results"], ([_STATUS_LABEL[s.value], str(counts[s.value])] for s in Status)
    )
    lines += table(
        ["Severity", "Failing rule × target"],
        ([s.value, str(counts[f"fail_{s.value}"])] for s in reversed(Severity)),
    )
    return lines


def _failure_rows(failures: Sequence[RuleResult], names: Mapping[str, str]) -> Iterator[list[str]]:
    for item in failures:
        target = text(names.get(item.target_id, item.target_id))
        source = text(", ".join(dict.fromkeys(item.sources.values())))
        # Waived objects are listed under "Waived", with their waiver.
        objects = [f for f in item.findings if f.object is not None and f.waiver is None]
        if not objects:
            yield [target, "", "", item.severity.value, evidence_text(item.evidence), source]
        for finding in objects:
            yield [
                target,
                text(finding.object),
                text(finding.label or ""),
                finding.severity.value,
                evidence_text(finding.evidence),
                source,
            ]


def _remediation(meta: Mapping[str, Any]) -> list[str]:
    fix = meta.get("remediation") or {}
    lines = [f"**Remediation:** {text(fix.get('text', ''))}", ""]
    if fix.get("powershell"):
        lines += code_block(str(fix["powershell"]), "powershell")
    details = []
    if fix.get("gpo"):
        details.append(f"- **Group Policy:** {text(fix['gpo'])}")
    if fix.get("registry"):
        details.append(f"- **Registry:** {text(fix['registry'])}")
    references = [
        f"<{ref}>" if _WEB_URL.fullmatch(ref) else text(ref) for ref in meta.get("references", ())
    ]
    if references:
        details.append("- **References:** " + ", ".join(references))
    mappings = meta.get("mappings") or {}
    if mappings:
        details.append(
            "- **Mappings:** "
            + "; ".join(
                f"{text(framework)}: {text(', '.join(ids))}" for framework, ids in mappings.items()
            )
        )
    return [*lines, *details, ""] if details else lines


def _failing_rules(result: ScanResult) -> list[str]:
    """Most severe first, then the rules failing on the most targets."""
    names = {t.id: t.name for t in result.targets}
    failing: dict[str, list[RuleResult]] = defaultdict(list)
    for item in result.results:
        if item.status is Status.FAIL:
            failing[item.rule_id].append(item)

    def worst(rule_id: str) -> Severity:
        return max((r.severity for r in failing[rule_id]), key=lambda s: s.rank)

    lines = ["## Failing rules", ""]
    if not failing:
        lines += ["No rule failed.", ""]
    for rule_id in sorted(failing, key=lambda rid: (-worst(rid).rank, -len(failing[rid]), rid)):
        meta = result.rules.get(rule_id, {})
        items = sorted(
            failing[rule_id], key=lambda r: (-r.severity.rank, names.get(r.target_id, ""))
        )
        lines += [
            f"### {worst(rule_id).value.upper()}: {text(meta.get('title', rule_id))}",
            "",
            f"Rule {text(rule_id)}, area {text(meta.get('area', ''))}, failing on "
            f"{len(items)} target{'s' if len(items) != 1 else ''}.  ",
            f"**Expected:** {text(meta.get('expected', ''))}",
            "",
        ]
        lines += table(
            ["Target", "Object", "Label", "Severity", "Actual", "Source"],
            _failure_rows(items, names),
        )
        lines += _remediation(meta)
    return lines


def _undecided(result: ScanResult) -> list[str]:
    names = {t.id: t.name for t in result.targets}
    errors = [r for r in result.results if r.status is Status.ERROR]
    failed = [t for t in result.targets if t.status is TargetStatus.FAILED]
    if not errors and not failed:
        return []
    lines = ["## Undecided (not passing)", ""]
    if failed:
        lines += ["Targets not scanned:", ""]
        lines += table(
            ["Target", "Address", "Reason"],
            ([text(t.name), text(t.address or ""), text(t.reason or "")] for t in failed),
        )
    if errors:
        lines += table(
            ["Rule", "Target", "Reason"],
            (
                [text(r.rule_id), text(names.get(r.target_id, r.target_id)), text(r.reason or "")]
                for r in sorted(errors, key=lambda r: (r.rule_id, names.get(r.target_id, "")))
            ),
        )
    return lines


def _waived(result: ScanResult) -> list[str]:
    names = {t.id: t.name for t in result.targets}
    rows = [
        [
            text(item.rule_id),
            text(names.get(item.target_id, item.target_id)),
            text(finding.object or ""),
            finding.severity.value,
            text(finding.waiver.justification),
            text(finding.waiver.owner),
            finding.waiver.expires,
            text(finding.waiver.ticket or ""),
        ]
        for item in result.results
        for finding in item.findings
        if finding.waiver is not None
    ]
    if not rows:
        return []
    header = ["Rule", "Target", "Object", "Severity", "Justification", "Owner", "Expires", "Ticket"]
    return [
        "## Waived (not counted)",
        "",
        *table(header, sorted(rows, key=lambda row: (row[6], row[0], row[1], row[2]))),
    ]


def _drift_rows(found: Sequence[DriftFinding]) -> Iterator[list[str]]:
    for f in found:
        yield [f.severity.value, text(f.rule_id), text(f.target), text(f.object or "")]


def _history(history: HistoryView | None) -> list[str]:
    if history is None:
        return []
    since = (
        f"Compared with scan {history.previous_id} of {text(history.previous_started_at)}."
        if history.previous_id is not None
        else "No earlier scan in the store: every open finding counts as new."
    )
    lines = [
        "## Since the last scan",
        "",
        since,
        "",
        f"- **New:** {len(history.new)}",
        f"- **Fixed:** {len(history.fixed)}",
        f"- **No longer verifiable** (now undecided, not fixed): "
        f"{len(history.no_longer_verifiable)}",
        "",
    ]
    for title, found in (
        ("New", history.new),
        ("Fixed", history.fixed),
        ("No longer verifiable", history.no_longer_verifiable),
    ):
        if found:
            lines += [f"### {title}", ""]
            lines += table(["Severity", "Rule", "Target", "Object"], _drift_rows(found))
    lines += ["### Trend", ""]
    lines += table(
        ["Scan", "Started", "Score", *(f"Open {s.value}" for s in reversed(Severity))],
        (
            [
                str(p.scan_id) if p.scan_id is not None else "this scan",
                text(p.started_at),
                str(p.score),
                *(str(p.open_findings.get(s.value, 0)) for s in reversed(Severity)),
            ]
            for p in history.trend
        ),
    )
    return lines


class MarkdownRenderer(Renderer):
    suffix = ".md"

    def render(self, result: ScanResult) -> bytes:
        lines = [
            *_header(result),
            *_history(result.history),
            *_failing_rules(result),
            *_waived(result),
            *_undecided(result),
        ]
        return ("\n".join(lines).rstrip("\n") + "\n").encode("utf-8")
