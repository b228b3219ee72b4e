"""The HTML report, parsed and looked up by its stable ids and data attributes."""

from __future__ import annotations

import base64
import hashlib
import re
import time

import pytest

from auditor.reports.html_format import HtmlRenderer, is_web_url
from auditor.results.model import ScanResult, TargetStatus
from auditor.results.vocabulary import Status

from .htmltree import Element, parse
from .sample import IMG, SCRIPT, make_large_result, make_result


@pytest.fixture(scope="module")
def result() -> ScanResult:
    return make_result()


@pytest.fixture(scope="module")
def html(result: ScanResult) -> str:
    return HtmlRenderer().render(result).decode("utf-8")


@pytest.fixture(scope="module")
def doc(html: str) -> Element:
    return parse(html)


def test_summary_counts_equal_the_result(result: ScanResult, doc: Element) -> None:
    summary = doc.by_id("summary")
    shown = {e.attrs["data-count"]: int(e.text()) for e in summary.select(data_count=None)}
    assert shown == result.counts()


def test_every_failing_rule_lists_its_targets_and_objects(result: ScanResult, doc: Element) -> None:
    rules = doc.by_id("rules")
    for item in result.results:
        if item.status is not Status.FAIL:
            continue
        (section,) = rules.select("section", data_rule_id=item.rule_id)
        (row,) = section.select(data_status="fail", data_target=item.target_id)
        assert row.attrs["data-severity"] == item.severity.value
        objects = [e.text() for e in row.find_all(lambda e: "obj" in e.classes())]
        assert objects == [f.object for f in item.findings if f.object is not None]


def test_rules_are_ordered_most_severe_failure_first(doc: Element) -> None:
    rules = doc.by_id("rules").select("section", data_rule_id=None)
    order = [s.attrs["data-rule-id"] for s in rules]
    assert order[:4] == [
        "ad-unconstrained-delegation",  # critical by escalation of one object
        "rdp-nla-required",
        "winrm-service-basic-auth",
        "winrm-http-listener",
    ]


def test_passing_results_are_counts_not_rows(result: ScanResult, doc: Element) -> None:
    for rule_id in result.rules:
        (section,) = doc.by_id("rules").select("section", data_rule_id=rule_id)
        passes = section.select(data_status="pass")
        expected = sum(
            1 for r in result.results if r.rule_id == rule_id and r.status is Status.PASS
        )
        assert len(passes) == (1 if expected else 0)
        if expected:
            assert passes[0].text().startswith(f"{expected} target")


def test_every_undecided_result_and_failed_target_is_listed(
    result: ScanResult, doc: Element
) -> None:
    undecided = doc.by_id("undecided")
    for item in result.results:
        if item.status is Status.ERROR:
            (group,) = undecided.select("details", data_rule_id=item.rule_id)
            (row,) = group.select(data_status="error", data_target=item.target_id)
            assert item.reason is not None and item.reason in row.text()
    failed = doc.by_id("failed-targets")
    for target in result.targets:
        rows = failed.select("tr", data_target=target.id)
        assert len(rows) == (1 if target.status is TargetStatus.FAILED else 0)
        if rows:
            assert target.reason is not None and target.reason in rows[0].text()


def test_warnings_are_shown_first(result: ScanResult, doc: Element) -> None:
    warnings = doc.by_id("warnings")
    texts = [li.text() for li in warnings.select("li")]
    assert texts[0] == result.metadata.warnings[0]
    assert any("incomplete" in t for t in texts)


def test_hostile_strings_are_text_never_markup(html: str, doc: Element) -> None:
    assert "&lt;script&gt;document.title" in html
    assert SCRIPT not in html and IMG not in html
    scripts = doc.select("script")
    assert len(scripts) == 1 and "pwned" not in scripts[0].text()
    assert not doc.select("img")
    assert not doc.select(id="xss-marker")
    assert not doc.find_all(lambda e: any(name.startswith("on") for name in e.attrs))
    # The hostile target name is text inside its cell, complete and unchanged.
    assert any(SCRIPT in td.text() for td in doc.select("td"))


def test_no_inline_styles_and_no_external_resources(doc: Element) -> None:
    assert not doc.select(style=None)
    for element in doc.select(src=None):
        raise AssertionError(f"<{element.tag} src=...> loads an external resource")
    for link in doc.select("link"):
        assert link.attrs["href"] == "data:,"


def test_references_link_only_to_web_urls(doc: Element) -> None:
    (section,) = doc.by_id("rules").select("section", data_rule_id="ad-unconstrained-delegation")
    links = section.select("a")
    assert [a.attrs["href"] for a in links] == ["https://attack.mitre.org/techniques/T1558/"]
    assert all(a.attrs["rel"] == "noopener noreferrer" for a in links)
    assert "javascript:alert(1)" in section.text()


@pytest.mark.parametrize(
    ("reference", "link"),
    [
        ("https://learn.microsoft.com/x", True),
        ("http://example.test/", True),
        ("javascript:alert(1)", False),
        ("JAVASCRIPT:alert(1)", False),
        ("data:text/html,<b>x</b>", False),
        ("//evil.example/x", False),
        ("http://[broken", False),
    ],
)
def test_is_web_url(reference: str, link: bool) -> None:
    assert is_web_url(reference) is link


def test_csp_allows_exactly_the_inline_script_and_style(doc: Element) -> None:
    (meta,) = doc.select("meta", http_equiv="Content-Security-Policy")
    policy = meta.attrs["content"] or ""
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    (script,) = doc.select("script")
    (style,) = doc.select("style")

    def source(element: Element) -> str:
        digest = hashlib.sha256(element.text().encode("utf-8")).digest()
        return f"'sha256-{base64.b64encode(digest).decode()}'"

    assert directives == {
        "default-src": "'none'",
        "script-src": source(script),
        "style-src": source(style),
        "img-src": "data:",
        "base-uri": "'none'",
        "form-action": "'none'",
    }
    head = doc.select("head")[0]
    assert head.children.index(meta) < head.children.index(style)


def test_remediation_has_powershell_with_a_copy_button(doc: Element) -> None:
    (section,) = doc.by_id("rules").select("section", data_rule_id="winrm-service-basic-auth")
    (block,) = section.find_all(lambda e: "code" in e.classes())
    assert block.select("button", data_copy=None)
    (code,) = block.select("code")
    assert code.text().startswith("Set-Item -Path WSMan:\\localhost")


def test_filter_controls_exist(doc: Element) -> None:
    for name in ("severity", "status", "area", "q"):
        doc.by_id(f"filter-{name}")
    areas = {o.attrs["value"] for o in doc.by_id("filter-area").select("option")}
    assert areas == {"", "delegation", "winrm", "smb", "rdp", "services"}


def test_large_estate_stays_small_and_fast() -> None:
    """1,000 hosts x 60 rules: the report must stay openable (a few MB, under a few seconds)."""
    result = make_large_result()
    started = time.perf_counter()
    data = HtmlRenderer().render(result)
    elapsed = time.perf_counter() - started
    fails = sum(1 for r in result.results if r.status is Status.FAIL)
    assert len(re.findall(rb'data-status="fail"', data)) == fails
    assert len(data) < 5_000_000, f"{len(data)} bytes"
    assert elapsed < 10, f"{elapsed:.1f} s"
