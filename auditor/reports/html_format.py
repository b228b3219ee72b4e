"""HTML report: one self-contained file a reviewer can open offline, locked down by a strict CSP."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup

from auditor.reports.interface import Renderer
from auditor.resources import reports_dir
from auditor.results.model import Finding, RuleResult, ScanResult, TargetInfo, TargetStatus
from auditor.results.score import score, score_by_area
from auditor.rules.model import Severity, Status

WORST_FIRST = tuple(reversed(Severity))


@dataclass(frozen=True)
class FailureView:
    """One failing target of a rule: its actual values and, for object-list rules, the objects."""

    result: RuleResult
    target: str  # display name
    actual: Mapping[str, Any]
    objects: tuple[Finding, ...]


@dataclass(frozen=True)
class RuleView:
    """One rule and its outcomes on every target: the unit the report is grouped by."""

    id: str
    meta: Mapping[str, Any]
    severity: str  # the worst failing severity (objects can escalate), else the rule's own
    counts: Mapping[str, int]
    failures: tuple[FailureView, ...]
    errors: tuple[RuleResult, ...]
    # Evidence labels become table columns, so a reviewer reads one value down many targets.
    actual_keys: tuple[str, ...]
    object_keys: tuple[str, ...]

    @property
    def has_objects(self) -> bool:
        return any(f.objects for f in self.failures)


@dataclass(frozen=True)
class AreaView:
    """One bar of the per-area chart: stacked status shares, in percent of the bar."""

    name: str
    score: float
    counts: Mapping[str, int]
    segments: tuple[tuple[str, float, float], ...]  # (status, x, width)


@dataclass(frozen=True)
class ReportView:
    """Everything the template needs, already grouped and ordered."""

    result: ScanResult
    counts: Mapping[str, int]
    score: float
    rules: tuple[RuleView, ...]
    areas: tuple[AreaView, ...]
    target_names: Mapping[str, str]
    target_counts: Mapping[str, int]
    failed_targets: tuple[TargetInfo, ...]


def _failure(result: RuleResult, names: Mapping[str, str]) -> FailureView:
    objects = tuple(f for f in result.findings if f.object is not None)
    # A single-value rule's one finding repeats the rule-level evidence; older results may
    # carry it only on the finding.
    actual = result.evidence or (
        result.findings[0].evidence if result.findings and not objects else {}
    )
    return FailureView(result, names.get(result.target_id, result.target_id), actual, objects)


def _keys(evidence: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """Every label in order of first appearance."""
    return tuple(dict.fromkeys(key for values in evidence for key in values))


def _rule_view(
    rule_id: str, meta: Mapping[str, Any], items: list[RuleResult], names: Mapping[str, str]
) -> RuleView:
    failures = sorted(
        (_failure(r, names) for r in items if r.status is Status.FAIL),
        key=lambda f: (-f.result.severity.rank, f.target),
    )
    errors = sorted(
        (r for r in items if r.status is Status.ERROR),
        key=lambda r: names.get(r.target_id, r.target_id),
    )
    worst = max((f.result.severity for f in failures), key=lambda s: s.rank, default=None)
    return RuleView(
        id=rule_id,
        meta=meta,
        severity=worst.value if worst else str(meta["severity"]),
        counts=Counter(r.status.value for r in items),
        failures=tuple(failures),
        errors=tuple(errors),
        actual_keys=_keys(f.actual for f in failures),
        object_keys=_keys(o.evidence for f in failures for o in f.objects),
    )


def _rule_views(result: ScanResult, names: Mapping[str, str]) -> tuple[RuleView, ...]:
    """Failing rules (worst severity, widest spread first), then undecided ones, then the rest."""
    by_rule: dict[str, list[RuleResult]] = defaultdict(list)
    for item in result.results:
        by_rule[item.rule_id].append(item)
    views = [
        _rule_view(rule_id, meta, by_rule.get(rule_id, []), names)
        for rule_id, meta in result.rules.items()
    ]
    return tuple(
        sorted(
            views,
            key=lambda v: (
                0 if v.failures else 1 if v.errors else 2,
                -Severity(v.severity).rank,
                -len(v.failures),
                v.id,
            ),
        )
    )


def _area_views(result: ScanResult, rules: tuple[RuleView, ...]) -> tuple[AreaView, ...]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for view in rules:
        counts[str(view.meta["area"])].update(view.counts)
    scores = score_by_area(result.results, result.rules)
    areas = []
    for name, tally in sorted(counts.items()):
        total = sum(tally.values()) or 1
        x, segments = 0.0, []
        for status in (Status.FAIL, Status.ERROR, Status.PASS, Status.NOT_APPLICABLE):
            width = round(100.0 * tally[status.value] / total, 2)
            if width:
                segments.append((status.value, x, width))
                x = round(x + width, 2)
        areas.append(AreaView(name, scores.get(name, 100.0), tally, tuple(segments)))
    return tuple(areas)


def report_view(result: ScanResult) -> ReportView:
    names = {t.id: t.name for t in result.targets}
    rules = _rule_views(result, names)
    return ReportView(
        result=result,
        counts=result.counts(),
        score=score(result.results),
        rules=rules,
        areas=_area_views(result, rules),
        target_names=names,
        target_counts=Counter(t.status.value for t in result.targets),
        failed_targets=tuple(t for t in result.targets if t.status is TargetStatus.FAILED),
    )


def display_value(value: Any) -> str:
    """Evidence values are free-form JSON: strings read as text, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def is_web_url(value: Any) -> bool:
    """Only http(s) references become links; `javascript:` and friends stay plain text."""
    if not isinstance(value, str):
        return False
    try:
        return urlsplit(value).scheme in ("http", "https")
    except ValueError:  # e.g. an unbalanced IPv6 bracket: not a usable link either
        return False


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(reports_dir() / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["value"] = display_value
    env.tests["web_url"] = is_web_url
    return env


@cache
def _asset(name: str) -> str:
    """Inline CSS/JS, shipped beside the templates; hashed into the CSP at render time."""
    text = (reports_dir() / "templates" / name).read_text(encoding="utf-8")
    # A closing tag inside the asset would end the <style>/<script> element early.
    if "</" in text:
        raise ValueError(f"{name}: inline assets must not contain '</'")
    return text


def csp_source(text: str) -> str:
    """The CSP source expression allowing exactly this inline script or style."""
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


def content_security_policy(script: str, style: str) -> str:
    return (
        f"default-src 'none'; script-src {csp_source(script)}; style-src {csp_source(style)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


class HtmlRenderer(Renderer):
    suffix = ".html"

    def render(self, result: ScanResult) -> bytes:
        script, style = _asset("report.js"), _asset("report.css")
        html = (
            _environment()
            .get_template("report.html.j2")
            .render(
                report=report_view(result),
                severities=WORST_FIRST,
                statuses=tuple(Status),
                csp=content_security_policy(script, style),
                # Markup: the assets are our own files, and escaping would corrupt CSS and JS.
                script=Markup(script),  # noqa: S704
                style=Markup(style),  # noqa: S704
            )
        )
        return html.encode("utf-8")
