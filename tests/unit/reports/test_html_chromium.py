"""The HTML report in a real browser: it draws, its filters run under the CSP, data never runs."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from auditor.reports.html_format import HtmlRenderer

from .htmltree import Element, parse
from .sample import make_result

pytestmark = pytest.mark.chromium

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Console messages (CSP violations, script errors) go to stderr.
    "--enable-logging=stderr",
    "--v=0",
)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("Debian chromium is not installed (deselect with -m 'not chromium')")
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    done = subprocess.run(
        [binary, *_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _console_problems(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if ":CONSOLE" in line and ("Content Security Policy" in line or "Uncaught" in line)
    ]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_bytes(HtmlRenderer().render(make_result()))
    return path


def test_screenshot_shows_a_report(report: Path, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    done = _chromium(tmp_path, "--window-size=1280,2400", f"--screenshot={png}", report.as_uri())
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 50_000, "a styled report with tables and colours compresses to more"
    assert _console_problems(done.stderr) == []


def _dom(report: Path, tmp_path: Path, fragment: str) -> tuple[Element, str]:
    done = _chromium(tmp_path, "--dump-dom", f"{report.as_uri()}#{fragment}")
    return parse(done.stdout), done.stderr


def test_severity_filter_from_the_hash(report: Path, tmp_path: Path) -> None:
    doc, stderr = _dom(report, tmp_path, "severity=critical")
    assert _console_problems(stderr) == []
    assert doc.by_id("filter-count").text().endswith(" rows")
    findings = doc.by_id("rules").select(data_status="fail")
    shown = {(e.attrs["data-severity"], e.attrs["data-target"]) for e in findings if not e.hidden()}
    hidden = {e.attrs["data-severity"] for e in findings if e.hidden()}
    assert shown == {("critical", "domain:corp.example"), ("critical", "host:fs01.corp.example")}
    assert hidden == {"high", "medium"}
    rules = doc.by_id("rules").select("section", data_rule_id=None)
    visible = {s.attrs["data-rule-id"] for s in rules if not s.hidden()}
    assert visible == {"ad-unconstrained-delegation", "rdp-nla-required"}


def test_text_filter_opens_matching_rows(report: Path, tmp_path: Path) -> None:
    doc, _ = _dom(report, tmp_path, "status=fail&q=FS01")
    rows = [e for e in doc.by_id("rules").select(data_status="fail") if not e.hidden()]
    assert {e.attrs["data-target"] for e in rows} == {"host:fs01.corp.example"}
    assert doc.by_id("failed-targets").hidden()


def test_hostile_data_never_runs(report: Path, tmp_path: Path) -> None:
    doc, _ = _dom(report, tmp_path, "")
    (title,) = doc.select("title")
    assert "pwned" not in title.text()
    assert doc.select(id="xss-marker") == []
    assert doc.select("img") == []
