"""After a scheduled scan: waivers applied, the scan recorded, its history shown, a summary."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from auditor.errors import InputError
from auditor.pipeline.after import after_scan, build_history_view
from auditor.reports.html_format import HtmlRenderer
from auditor.reports.json_format import JsonRenderer
from auditor.reports.markdown_format import MarkdownRenderer
from auditor.results.io import result_from_json, validate_result_json
from auditor.results.model import ScanResult
from auditor.results.score import score, top_penalties
from auditor.store import Store

from ..reports.htmltree import Element, parse
from ..reports.sample import RDP_NLA, SCRIPT
from ..reports.test_html_chromium import _chromium, _console_problems
from .builders import (
    BASIC,
    DC01,
    DELEGATION,
    DOMAIN,
    FS01,
    RULE_IDS,
    SMB_SIGNING,
    failing,
    passing,
    scan,
    undecided,
)

TODAY = dt.date(2025, 3, 1)
ALICE = "CN=alice,OU=Users,DC=corp"
HOSTILE = f"CN={SCRIPT},OU=Users,DC=corp"
WAIVERS = """\
- rule: winrm-service-basic-auth
  target: "dc01*"
  justification: Legacy monitoring agent needs Basic until it is replaced.
  expires: 2025-06-30
  owner: alice
  ticket: SEC-42
- rule: smb-signing-required
  justification: Old NAS.
  expires: 2025-01-31
  owner: bob
"""


def _monday() -> ScanResult:
    return scan(
        [
            failing(DELEGATION, DOMAIN, ALICE),
            failing(BASIC, FS01),
            failing(BASIC, DC01),
            passing(SMB_SIGNING, FS01),
            failing(RDP_NLA, DC01),
        ],
        started="2025-02-24T02:00:00Z",
    )


def _tuesday() -> ScanResult:
    """Alice fixed, a hostile new object, FS01's Basic fixed, DC01's RDP now undecided."""
    return scan(
        [
            failing(DELEGATION, DOMAIN, HOSTILE),
            passing(BASIC, FS01),
            failing(BASIC, DC01),
            passing(SMB_SIGNING, FS01),
            undecided(RDP_NLA, DC01),
        ],
        started="2025-02-25T02:00:00Z",
    )


@pytest.fixture
def waivers(tmp_path: Path) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text(WAIVERS, encoding="utf-8")
    return path


def _nightly(tmp_path: Path, waivers: Path) -> tuple[ScanResult, ScanResult, dict[str, int]]:
    store, summary = tmp_path / "history.db", tmp_path / "summary.json"
    after_scan(_monday(), store, waivers, summary, TODAY, rule_ids=RULE_IDS)
    second = after_scan(_tuesday(), store, waivers, summary, TODAY, rule_ids=RULE_IDS)
    return _monday(), second, json.loads(summary.read_text(encoding="utf-8"))


def test_summary_json_counts_only(tmp_path: Path, waivers: Path) -> None:
    _, result, summary = _nightly(tmp_path, waivers)
    assert summary == {
        "scan_id": 2,
        "new": 1,  # the hostile account
        "fixed": 2,  # alice, FS01's Basic; DC01's RDP is undecided, not fixed
        "open": 1,
        "waived": 1,  # DC01's Basic
        "expired_waivers": 0,
        "stale_waivers": 1,  # SMB signing passes: the expired waiver matches nothing
        "score": score(result.results),
    }
    assert SCRIPT not in json.dumps(summary)


def test_the_history_view_since_the_last_scan(tmp_path: Path, waivers: Path) -> None:
    _, result, _ = _nightly(tmp_path, waivers)
    history = result.history
    assert history is not None
    assert (history.scan_id, history.previous_id) == (2, 1)
    assert history.previous_started_at == "2025-02-24T02:00:00Z"
    assert [(f.rule_id, f.object) for f in history.new] == [(DELEGATION.id, HOSTILE)]
    assert [(f.rule_id, f.target_id, f.object) for f in history.fixed] == [
        (DELEGATION.id, DOMAIN.id, ALICE),
        (BASIC.id, FS01.id, None),
    ]
    assert [(f.rule_id, f.target_id) for f in history.no_longer_verifiable] == [
        (RDP_NLA.id, DC01.id)
    ]
    assert [(p.scan_id, p.started_at) for p in history.trend] == [
        (1, "2025-02-24T02:00:00Z"),
        (2, "2025-02-25T02:00:00Z"),
    ]
    # Monday: delegation high, RDP critical, FS01 Basic high open; DC01 Basic waived.
    assert history.trend[0].open_findings == {
        "info": 0,
        "low": 0,
        "medium": 0,
        "high": 2,
        "critical": 1,
    }
    assert history.trend[1].open_findings["high"] == 1


def test_the_trend_keeps_the_last_n_scans(tmp_path: Path) -> None:
    with Store(tmp_path / "history.db") as store:
        for day in range(1, 6):
            store.record(scan([failing(BASIC, FS01)], started=f"2025-02-0{day}T02:00:00Z"))
        current = scan([passing(BASIC, FS01)], started="2025-02-06T02:00:00Z")
        view = build_history_view(store, current, length=3)
    assert [p.scan_id for p in view.trend] == [4, 5, None]
    assert view.trend[-1].score == 100.0
    assert (view.previous_id, len(view.fixed)) == (5, 1)


def test_first_scan_without_a_store_counts_every_open_finding_as_new(
    tmp_path: Path, waivers: Path
) -> None:
    summary = tmp_path / "summary.json"
    result = after_scan(_monday(), None, waivers, summary, TODAY, rule_ids=RULE_IDS)
    assert result.history is None
    document = json.loads(summary.read_text(encoding="utf-8"))
    assert (document["scan_id"], document["new"], document["fixed"], document["open"]) == (
        None,
        3,
        0,
        3,
    )
    first = after_scan(_monday(), tmp_path / "h.db", None, None, TODAY)
    assert first.history is not None and first.history.previous_id is None
    assert len(first.history.new) == 4


def test_an_unwritable_summary_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"summary\.json: cannot write the summary"):
        after_scan(_monday(), None, None, tmp_path / "missing" / "summary.json", TODAY)


def test_history_and_waivers_in_the_json_document(tmp_path: Path, waivers: Path) -> None:
    _, result, _ = _nightly(tmp_path, waivers)
    document = json.loads(JsonRenderer().render(result))
    assert validate_result_json(document) == []
    assert document["history"]["previous"] == {"scan_id": 1, "started_at": "2025-02-24T02:00:00Z"}
    again = result_from_json(document, "report.json")
    assert again == result
    # Re-rendered from the file, the HTML is the same as the one the scan wrote.
    assert HtmlRenderer().render(again) == HtmlRenderer().render(result)


def _csp_sources(doc: Element) -> dict[str, str]:
    (meta,) = doc.select("meta", http_equiv="Content-Security-Policy")
    policy = meta.attrs["content"] or ""
    return dict(d.strip().split(" ", 1) for d in policy.split(";"))


def _hash(element: Element) -> str:
    digest = hashlib.sha256(element.text().encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def test_html_since_the_last_scan_and_trend(tmp_path: Path, waivers: Path) -> None:
    _, result, _ = _nightly(tmp_path, waivers)
    html = HtmlRenderer().render(result).decode("utf-8")
    doc = parse(html)
    section = doc.by_id("history")
    shown = {e.attrs["data-drift"]: int(e.text()) for e in section.select(data_drift=None)}
    assert shown == {"new": 1, "fixed": 2, "no-longer-verifiable": 1}
    (row,) = doc.by_id("drift-new").select("tr", data_rule_id=DELEGATION.id)
    assert SCRIPT in row.text()  # the hostile object key is text
    assert SCRIPT not in html
    assert len(doc.by_id("trend-score").select("circle")) == 2
    assert len(doc.by_id("trend-open").select("g")) == 2
    polyline = doc.by_id("trend-score").select("polyline")[0].attrs["points"] or ""
    assert len(polyline.split()) == 2
    # Still one script and one style, both hashed into the CSP; no inline style, no source.
    (script,) = doc.select("script")
    (style,) = doc.select("style")
    directives = _csp_sources(doc)
    assert directives["script-src"] == _hash(script)
    assert directives["style-src"] == _hash(style)
    assert directives["default-src"] == "'none'" and directives["img-src"] == "data:"
    assert not doc.select(style=None) and not doc.select(src=None)
    assert not doc.find_all(lambda e: any(name.startswith("on") for name in e.attrs))


def test_html_waived_findings_and_what_lowers_the_score(tmp_path: Path, waivers: Path) -> None:
    _, result, _ = _nightly(tmp_path, waivers)
    doc = parse(HtmlRenderer().render(result).decode("utf-8"))
    summary = doc.by_id("summary")
    shown = {e.attrs["data-count"]: int(e.text()) for e in summary.select(data_count=None)}
    assert shown == result.counts() and shown["waived"] == 1
    assert doc.by_id("waived-note").text() == "1 waived finding not counted."
    (section,) = doc.by_id("rules").select("section", data_rule_id=BASIC.id)
    (row,) = section.select("tr", data_status="waived")
    assert row.attrs["data-target"] == DC01.id
    cells = [td.text() for td in row.select("td")]
    assert cells[2:] == [
        "Legacy monitoring agent needs Basic until it is replaced.",
        "alice",
        "2025-06-30",
        "SEC-42",
    ]
    penalties = doc.by_id("penalties").select("tr", data_rule_id=None)
    expected = top_penalties(result.results)
    assert [r.attrs["data-rule-id"] for r in penalties] == [p.rule_id for p in expected]
    assert [r.select(data_share=None)[0].attrs["data-share"] for r in penalties] == [
        str(p.share) for p in expected
    ]


def test_reports_without_history_have_no_history_section() -> None:
    result = _monday()
    doc = parse(HtmlRenderer().render(result).decode("utf-8"))
    assert doc.select(id="history") == []
    assert "Since the last scan" not in MarkdownRenderer().render(result).decode("utf-8")


def test_markdown_since_the_last_scan(tmp_path: Path, waivers: Path) -> None:
    _, result, _ = _nightly(tmp_path, waivers)
    markdown = MarkdownRenderer().render(result).decode("utf-8")
    assert "## Since the last scan" in markdown
    assert "Compared with scan 1 of 2025-02-24T02:00:00Z." in markdown
    assert "- **New:** 1\n- **Fixed:** 2\n" in markdown
    assert "| 2 | 2025-02-25T02:00:00Z | " in markdown
    assert "\\<script\\>" in markdown and SCRIPT not in markdown.split("## Failing rules")[0]


def test_top_penalties_share_and_gain() -> None:
    results = _monday().results
    penalties = top_penalties(results, limit=2)
    assert [p.rule_id for p in penalties] == [RDP_NLA.id, BASIC.id]
    assert penalties[0].share == pytest.approx(40 / (40 + 12 + 12 + 12), abs=1e-4)
    assert penalties[1].targets == 2
    fixed_rdp = [r for r in results if r.rule_id != RDP_NLA.id]
    # Targets are unchanged (DC01 keeps its Basic failure), so the gain is exact.
    assert penalties[0].gain == pytest.approx(score(fixed_rdp) - score(results), abs=0.05)
    assert sum(p.share for p in top_penalties(results)) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.chromium
def test_history_report_draws_in_a_browser_without_csp_errors(
    tmp_path: Path, waivers: Path
) -> None:
    _, result, _ = _nightly(tmp_path, waivers)
    report = tmp_path / "report.html"
    report.write_bytes(HtmlRenderer().render(result))
    done = _chromium(tmp_path, "--dump-dom", f"{report.as_uri()}#status=waived")
    assert _console_problems(done.stderr) == []
    doc = parse(done.stdout)
    rows = [e for e in doc.by_id("rules").select(data_status=None) if not e.hidden()]
    assert [(e.attrs["data-status"], e.attrs["data-target"]) for e in rows] == [("waived", DC01.id)]
    assert not doc.by_id("history").hidden()
