"""HTML report: one self-contained file a reviewer can open offline, locked down by a strict CSP."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup

from auditor.reports.interface import Renderer
from auditor.resources import reports_dir
from auditor.results.history import DriftFinding, HistoryView
from auditor.results.model import (
    AppliedWaiver,
    Finding,
    RuleResult,
    ScanResult,
    TargetInfo,
    TargetStatus,
)
from auditor.results.score import PenaltyShare, score, score_by_area, top_penalties
from auditor.results.vocabulary import Severity, Status

WORST_FIRST = tuple(reversed(Severity))


@dataclass(frozen=True)
class FailureView:
    """One failing target of a rule: its actual values and, for object-list rules, the objects."""

    result: RuleResult
    target: str  # display name
    actual: Mapping[str, Any]
    objects: tuple[Finding, ...]


@dataclass(frozen=True)
class WaivedView:
    """One waived finding with the waiver that accepts it, for the rule's waived table."""

    result: RuleResult
    target: str
    finding: Finding
    waiver: AppliedWaiver


@dataclass(frozen=True)
class RuleView:
    """One rule and its outcomes on every target: the unit the report is grouped by."""

    id: str
    meta: Mapping[str, Any]
    severity: str  # the worst failing severity (objects can escalate), else the rule's own
    counts: Mapping[str, int]
    failures: tuple[FailureView, ...]
    errors: tuple[RuleResult, ...]
    waived: tuple[WaivedView, ...]
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


# The trend charts' SVG box; the margin keeps the score dots at 0 and 100 inside it.
TREND_WIDTH, TREND_HEIGHT, TREND_MARGIN = 800.0, 120.0, 4.0


@dataclass(frozen=True)
class TrendBar:
    """One scan's open findings, stacked by severity (worst at the bottom)."""

    x: float  # left edge
    segments: tuple[tuple[str, float, float], ...]  # (severity, y, height)
    label: str


@dataclass(frozen=True)
class TrendChart:
    """The trend as SVG geometry in a TREND_WIDTH x TREND_HEIGHT box, computed here so the
    template only places shapes."""

    score_line: str  # polyline points
    dots: tuple[tuple[float, float, str], ...]  # (x, y, label)
    bars: tuple[TrendBar, ...]
    bar_width: float
    max_open: int
    first: str
    last: str
    width: ClassVar[float] = TREND_WIDTH
    height: ClassVar[float] = TREND_HEIGHT
    # Score grid lines: (y, score).
    grid: ClassVar[tuple[tuple[float, int], ...]] = (
        (TREND_MARGIN, 100),
        (TREND_HEIGHT / 2, 50),
        (TREND_HEIGHT - TREND_MARGIN, 0),
    )


@dataclass(frozen=True)
class HistorySection:
    """The "since the last scan" lists and the trend chart."""

    view: HistoryView
    lists: tuple[tuple[str, str, tuple[DriftFinding, ...]], ...]  # (id, title, findings)
    chart: TrendChart


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
    penalties: tuple[PenaltyShare, ...]
    waived: int  # waived findings
    history: HistorySection | None


def _failure(result: RuleResult, names: Mapping[str, str]) -> FailureView:
    # Waived objects are listed apart, with their waiver.
    objects = tuple(f for f in result.findings if f.object is not None and f.waiver is None)
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
    waived = [
        WaivedView(r, names.get(r.target_id, r.target_id), f, f.waiver)
        for r in items
        for f in r.findings
        if f.waiver is not None
    ]
    worst = max((f.result.severity for f in failures), key=lambda s: s.rank, default=None)
    return RuleView(
        id=rule_id,
        meta=meta,
        severity=worst.value if worst else str(meta["severity"]),
        counts=Counter(r.status.value for r in items),
        failures=tuple(failures),
        errors=tuple(errors),
        waived=tuple(sorted(waived, key=lambda w: (w.target, w.finding.object or ""))),
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
        for status in (
            Status.FAIL,
            Status.ERROR,
            Status.WAIVED,
            Status.PASS,
            Status.NOT_APPLICABLE,
        ):
            width = round(100.0 * tally[status.value] / total, 2)
            if width:
                segments.append((status.value, x, width))
                x = round(x + width, 2)
        areas.append(AreaView(name, scores.get(name, 100.0), tally, tuple(segments)))
    return tuple(areas)


def trend_chart(view: HistoryView) -> TrendChart:
    """Score on a 0-100 scale; open findings scaled to the most any scan shown had."""
    points = view.trend
    step = TREND_WIDTH / max(1, len(points))
    bar_width = round(min(step * 0.6, 48.0), 2)
    usable = TREND_HEIGHT - 2 * TREND_MARGIN
    max_open = max((sum(p.open_findings.values()) for p in points), default=0)
    dots, bars = [], []
    for i, point in enumerate(points):
        x = round(step * (i + 0.5), 2)
        name = f"scan {point.scan_id}" if point.scan_id is not None else "this scan"
        y = round(TREND_MARGIN + usable * (100.0 - point.score) / 100.0, 2)
        dots.append((x, y, f"{name}, {point.started_at}: score {point.score}"))
        top, segments = TREND_HEIGHT, []
        for severity in WORST_FIRST:
            n = point.open_findings.get(severity.value, 0)
            height = round(TREND_HEIGHT * n / max(1, max_open), 2)
            if height:
                top = round(top - height, 2)
                segments.append((severity.value, top, height))
        counts = ", ".join(f"{point.open_findings.get(s.value, 0)} {s.value}" for s in WORST_FIRST)
        label = f"{name}, {point.started_at}: open {counts}"
        bars.append(TrendBar(round(x - bar_width / 2, 2), tuple(segments), label))
    return TrendChart(
        score_line=" ".join(f"{x},{y}" for x, y, _ in dots),
        dots=tuple(dots),
        bars=tuple(bars),
        bar_width=bar_width,
        max_open=max_open,
        first=points[0].started_at if points else "",
        last=points[-1].started_at if points else "",
    )


def _history(view: HistoryView | None) -> HistorySection | None:
    if view is None:
        return None
    lists = (
        ("new", "New", view.new),
        ("fixed", "Fixed", view.fixed),
        ("no-longer-verifiable", "No longer verifiable (now undecided)", view.no_longer_verifiable),
    )
    return HistorySection(view, lists, trend_chart(view))


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
        penalties=top_penalties(result.results),
        waived=sum(1 for r in result.results for f in r.findings if f.waiver is not None),
        history=_history(result.history),
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
