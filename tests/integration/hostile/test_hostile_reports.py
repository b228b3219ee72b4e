"""Hostile directory and host data, end to end: scanned from the lab, it reaches every report
intact and stays inert there (no script runs, no table breaks, no formula starts a cell)."""

from __future__ import annotations

import csv
import html as html_module
import io
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xmlschema

from auditor.reports.csv_format import COLUMNS
from auditor.resources import reports_dir
from auditor.terminal import visible
from tests.unit.reports.htmltree import Element, parse

from .conftest import (
    CONTROL,
    FORMULA,
    FORMULA_NAMES,
    HTML_PAYLOAD,
    IFRAME,
    IMG,
    LONG,
    LONG_DESCRIPTION,
    MARKDOWN,
    PAYLOADS,
    REALM,
    SCRIPT,
    SVG,
    TERMINAL,
    UNICODE,
    ScanRun,
    auditor,
    load_json,
)

pytestmark = pytest.mark.samba
# What would have run: every payload leaves one of these in the title, the DOM or the console.
MARKERS = ("PWNED-S1", "PWNED-I2", "PWNED-V3", "PWNED-F5", "PWNED-Q")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",  # console messages, CSP violations and script errors
    "--v=0",
)


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_hostile_values_reach_the_report_unchanged(domain_scan: ScanRun) -> None:
    """Without this, every other test here could pass on a report that dropped the data."""
    report = load_json(domain_scan.output / "report.json")
    shown = list(strings(report["results"])) + list(strings(report["targets"]))
    exact = {
        "HTML in an account description": HTML_PAYLOAD,
        "a spreadsheet formula (session configuration name)": FORMULA,
        "pipes and line breaks in a description": MARKDOWN,
        "control characters in a description": CONTROL,
        "a 1024-character description": LONG_DESCRIPTION,
        "a 10,000-character registry value": LONG,
        "RTL override, CJK, emoji, zero-width space (IIS site name)": UNICODE,
    }
    for what, value in exact.items():
        assert any(value in s for s in shown), what
    for fragment in (
        "PWNED-SPN",  # a servicePrincipalName
        "PWNED-DELEG",  # msDS-AllowedToDelegateTo
        "PWNED-OU",  # an OU name, inside a DN
        "PWNED-P",  # the WinHTTP proxy
        "\u202egnp.exe",  # RTL override in a sAMAccountName
        "管理者😀",  # CJK and emoji in a sAMAccountName
        "'-alert(1)-'",  # quotes and parentheses in a sAMAccountName
        f"Intranet {SCRIPT}",  # an IIS site name
        f"/{IMG}",  # an IIS application path
        f"Helpdesk {SCRIPT}",  # a PowerShell session configuration
        f"HOSTILE\\{IMG}",  # a local group member
    ):
        assert any(fragment in s for s in shown), fragment


# --- HTML, in a real browser -----------------------------------------------------------------


def chromium(tmp_path: Path, url: str) -> tuple[str, str]:
    """(dumped DOM after load, console log) of `url` in headless Chromium."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("Debian chromium is not installed (deselect with -m 'not chromium')")
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    done = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = "\n".join(line for line in done.stderr.splitlines() if ":CONSOLE" in line)
    return done.stdout, console


def ran(dom: Element, console: str) -> list[str]:
    """Traces a payload leaves when it runs or becomes markup: title, element ids, console
    lines (its own, or the CSP refusing it, or a script error)."""
    (title,) = dom.select("title")
    traces = [f"title {title.text()!r}" for m in MARKERS if m in title.text()]
    ids = (e.attrs.get("id") or "" for e in dom.iter())
    traces += [f"element id {i}" for i in ids if i.startswith("pwned")]
    alarms = (*MARKERS, "Content Security Policy", "Uncaught")
    traces += [
        f"console: {line}" for line in console.splitlines() if any(a in line for a in alarms)
    ]
    return traces


@pytest.mark.chromium
def test_the_detector_sees_payloads_that_run(tmp_path: Path) -> None:
    """Control: the same payloads in a page without escaping or CSP are caught by `ran`."""
    page = tmp_path / "control.html"
    page.write_text(f"<!doctype html><title>control</title><body>{' '.join(PAYLOADS)}</body>")
    dom, console = chromium(tmp_path, page.as_uri())
    traces = ran(parse(dom), console)
    for marker in ("pwned-s1", "pwned-i2", "pwned-v3", "pwned-f5"):
        assert any(marker in t.lower() for t in traces), (marker, traces)


@cache
def csp_free_copy(report: Path) -> Path:
    html = report.read_text("utf-8")
    stripped, count = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    assert count == 1
    path = report.with_name("report-without-csp.html")
    path.write_text(stripped, "utf-8")
    return path


@pytest.mark.chromium
@pytest.mark.parametrize(
    "variant",
    ["as written", "without its CSP", "with a hostile filter in the URL"],
)
def test_no_script_runs_in_the_html_report(
    domain_scan: ScanRun, tmp_path: Path, variant: str
) -> None:
    """With the CSP, and without it (escaping alone must hold), nothing from the data runs."""
    report = domain_scan.output / "report.html"
    url = report.as_uri()
    if variant == "without its CSP":
        url = csp_free_copy(report).as_uri()
    elif variant == "with a hostile filter in the URL":
        url += (
            "#status=fail&q=%3Cimg%20src%3Dx%20id%3Dpwned-q%20onerror%3Dconsole.log('PWNED-Q')%3E"
        )
    dom_text, console = chromium(tmp_path, url)
    dom = parse(dom_text)
    assert ran(dom, console) == []
    assert dom.select("iframe") == [] and dom.select("img") == []
    assert len(dom.select("script")) == 1  # the report's own, allowed by its hash
    for link in dom.select("a"):
        href = link.attrs.get("href") or ""
        assert href.startswith(("#", "https://", "http://")), href
    # The text shows the payloads as text: escaped, not dropped.
    text = dom.text()
    for payload in (SCRIPT, IMG.split('"')[0], SVG.split('"')[1], IFRAME.split('"')[0]):
        assert payload in text, payload


def test_the_csp_is_in_force(domain_scan: ScanRun) -> None:
    html = (domain_scan.output / "report.html").read_text("utf-8")
    head = html[: html.index("</head>")]
    metas = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', head)
    assert len(metas) == 1
    policy = dict(part.strip().split(" ", 1) for part in html_module.unescape(metas[0]).split(";"))
    assert policy["default-src"] == "'none'"
    assert re.fullmatch(r"'sha256-[A-Za-z0-9+/]+={0,2}'", policy["script-src"])
    assert "unsafe" not in metas[0]
    assert head.index("Content-Security-Policy") < head.index("<title>")  # before any content
    parse(html)  # well nested despite the data


# --- Markdown ------------------------------------------------------------------------------


def unescaped(line: str, wanted: str) -> list[int]:
    """Positions of `wanted` characters that Markdown does not see as backslash-escaped."""
    found, i = [], 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] in wanted:
            found.append(i)
        i += 1
    return found


def markdown_lines(scan: ScanRun) -> list[str]:
    """Lines as CommonMark splits them, without the fenced code (rule remediation, not data)."""
    text = (scan.output / "report.md").read_text("utf-8")
    lines, fenced = [], False
    for line in re.split(r"\r\n|\r|\n", text):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def tables(lines: list[str]) -> Iterator[list[str]]:
    block: list[str] = []
    for line in [*lines, ""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            yield block
            block = []


def test_markdown_tables_keep_their_shape(domain_scan: ScanRun) -> None:
    found = list(tables(markdown_lines(domain_scan)))
    assert found
    assert any("PWNED-MD" in row for table in found for row in table)
    for table in found:
        columns = len(unescaped(table[0], "|"))
        for row in table:
            assert len(unescaped(row, "|")) == columns, row[:300]


def test_markdown_has_no_raw_html(domain_scan: ScanRun) -> None:
    lines = markdown_lines(domain_scan)
    for line in lines:
        for at in unescaped(line, "<"):
            rest = line[at:]
            assert rest.startswith("<br>") or re.match(r"<https?://[^\s<>]+>", rest), rest[:120]
        assert unescaped(line, "&") == [], line[:120]  # no character reference either
    assert any("\\<script\\>" in line for line in lines)  # the payloads are there, escaped


def markdown_cells(lines: list[str]) -> Iterator[str]:
    for table in tables(lines):
        for row in table[2:]:  # after the header and the --- line
            cuts = unescaped(row, "|")
            for start, end in itertools.pairwise(cuts):
                # As rendered: the escapes gone, then the cell padding.
                yield re.sub(r"\\(.)", r"\1", row[start + 1 : end]).strip(" ")


def test_no_markdown_cell_starts_a_formula(domain_scan: ScanRun) -> None:
    """A rendered table pasted into a spreadsheet runs a cell that starts with = + - @."""
    cells = list(markdown_cells(markdown_lines(domain_scan)))
    assert any("PWNED-XL" in c for c in cells)
    starting = [c[:80] for c in cells if c.startswith(FORMULA_START)]
    assert not starting, starting


# --- CSV, JUnit, SARIF, JSON ---------------------------------------------------------------


def test_csv_cells_are_neutralised(domain_scan: ScanRun) -> None:
    text = (domain_scan.output / "report.csv").read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == COLUMNS
    for row in rows[1:]:
        assert len(row) == len(COLUMNS), row[:3]
        for cell in row:
            assert not cell.startswith(FORMULA_START), cell[:80]
    cells = [c for row in rows[1:] for c in row]
    for name in FORMULA_NAMES:  # session configurations named like formulas, defused
        assert "'" + name in cells, name
    # Evidence is compact JSON: the line breaks of a description stay inside its cell.
    assert any(json.dumps(MARKDOWN, ensure_ascii=False)[1:-1] in c for c in cells)


@cache
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(reports_dir() / "schema" / "junit" / "junit-10.xsd"))


def test_junit_parses_and_validates(domain_scan: ScanRun) -> None:
    path = domain_scan.output / "report.junit.xml"
    ET.parse(path)
    junit_schema().validate(str(path))
    assert "PWNED-S1" in path.read_text("utf-8")


def test_sarif_parses_and_validates(domain_scan: ScanRun) -> None:
    schema = json.loads(
        (reports_dir() / "schema" / "sarif" / "sarif-schema-2.1.0.json").read_text()
    )
    sarif = load_json(domain_scan.output / "report.sarif")
    jsonschema.Draft7Validator(schema).validate(sarif)
    assert "PWNED-S1" in json.dumps(sarif)


# What a terminal acts on: C0 but tab and line feed, DEL, C1.
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_console_output_carries_no_terminal_escapes(domain_scan: ScanRun, tmp_path: Path) -> None:
    """The scan's summary; then `auditor diff`, text and JSON, of this scan against one that had
    not seen EVIL-WEB, whose session configuration is named with terminal escapes."""
    printed = domain_scan.console.read_text("utf-8")
    assert not RAW_CONTROL.search(printed), printed[-2000:]
    assert "PWNED" not in printed
    new = domain_scan.output / "report.json"
    web = f"host:evil-web.{REALM}"
    earlier = load_json(new)
    earlier["targets"] = [t for t in earlier["targets"] if t["id"] != web]
    earlier["results"] = [r for r in earlier["results"] if r["target_id"] != web]
    old = tmp_path / "earlier.json"
    old.write_text(json.dumps(earlier), "utf-8")
    text = auditor("diff", str(old), str(new))
    assert text.returncode == 0, text.stderr[-2000:]
    assert not RAW_CONTROL.search(text.stdout + text.stderr), text.stdout[-3000:]
    lines = text.stdout.splitlines()
    assert f"targets added: {web}" in lines
    # The finding is there, escapes shown as text, on its one line.
    assert any(line.endswith(f" on evil-web.{REALM} Ops {visible(TERMINAL)}") for line in lines)
    assert not any(line.startswith("FORGED") for line in lines)
    as_json = auditor("diff", str(old), str(new), "--format", "json")
    assert as_json.returncode == 0, as_json.stderr[-2000:]
    assert not RAW_CONTROL.search(as_json.stdout + as_json.stderr), as_json.stdout[-3000:]
    assert f"Ops {TERMINAL}" in {f["object"] for f in json.loads(as_json.stdout)["new"]}
