"""Host-written strings reach the terminal as visible text: no escape sequence is obeyed.

Facts documents are what a host wrote (the collect.ps1 path), so their names, failure
reasons and IIS site names are the attacker's choice; here they carry terminal escapes.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.markup import escape
from rich.table import Table

from auditor.terminal import DataConsole, json_text, visible, visible_lines
from tests.cli import auditor as run_auditor

REPO = Path(__file__).resolve().parents[2]
# Clear screen, set the window title, a hyperlink (OSC 8), DEL, 8-bit CSI/OSC/ST, a carriage
# return that would overwrite the line, and a line break that would forge a line of its own.
PAYLOAD = (
    "ctl\x01\x07\x1b[2J\x1b]0;PWNED-TITLE\x07\x1b]8;;http://evil.invalid/\x1b\\link"
    "\x1b]8;;\x1b\\\x7f\x9b2J\x9d0;PWNED-C1\x9c\rend\nFORGED line"
)
# What a terminal acts on: C0 but line feed and tab, DEL, C1.
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def auditor(*args: str) -> subprocess.CompletedProcess[str]:
    return run_auditor(*args, env={"COLUMNS": "1000"})  # no wrapping: a line per target


def printed(completed: subprocess.CompletedProcess[str]) -> list[str]:
    """Everything the command printed, line by line, with no raw control character."""
    lines = (completed.stdout + completed.stderr).split("\n")
    for line in lines:
        assert not RAW_CONTROL.search(line), repr(line[:300])
    return lines


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REPO / "examples" / "hosts" / name).read_text("utf-8"))
    return loaded


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document), "utf-8")
    return path


def hostile_web(tmp_path: Path) -> Path:
    """web01 with a hostile IIS site name: its findings' object."""
    text = (REPO / "examples" / "hosts" / "web01-iis.json").read_text("utf-8")
    site = json.dumps(
        "<img src=x onerror=alert(1)> \"Café-Intranet\" 'ü' & </td>", ensure_ascii=False
    )
    assert site in text
    return write(tmp_path / "web01.json", json.loads(text.replace(site, json.dumps(PAYLOAD))))


def failed_host(tmp_path: Path) -> Path:
    """A host named and failed with the payload, as a collector output could say."""
    document = example("app01-hardened.json")
    document["target"]["name"] = f"app-{PAYLOAD}.corp"
    document["failure"] = {"reason": "protocol_error", "detail": f"WS-Man fault: {PAYLOAD}"}
    return write(tmp_path / "app-hostile.json", document)


def test_scan_summary_shows_escapes_and_keeps_each_target_on_one_line(tmp_path: Path) -> None:
    completed = auditor(
        "scan", "facts", str(failed_host(tmp_path)), "-o", str(tmp_path / "out"), "-f", "json"
    )
    assert completed.returncode == 3, completed.stderr[-2000:]
    lines = printed(completed)
    (line,) = [x for x in lines if x.startswith("could not scan ")]
    name, reason = visible(f"app-{PAYLOAD}.corp"), visible(f"WS-Man fault: {PAYLOAD}")
    assert line == f"could not scan {name}: protocol_error: {reason}"
    assert "\\x1b]0;PWNED-TITLE\\x07" in line and "\\x9d0;PWNED-C1\\x9c" in line
    assert not any(x.startswith("FORGED") for x in lines)
    # The report keeps the value as it was: only the terminal sees it escaped.
    report = json.loads((tmp_path / "out" / "report.json").read_text("utf-8"))
    assert report["targets"][0]["name"] == f"app-{PAYLOAD}.corp"


def diff_inputs(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    web = str(REPO / "examples" / "hosts" / "web01-iis.json")
    assert auditor("scan", "facts", web, "-o", str(old), "-f", "json", "-q").returncode == 1
    scanned = auditor(
        "scan",
        "facts",
        str(hostile_web(tmp_path)),
        str(failed_host(tmp_path)),
        "-o",
        str(new),
        "-f",
        "json",
        "-q",
    )
    assert scanned.returncode == 3, scanned.stderr[-2000:]
    return old / "report.json", new / "report.json"


def test_diff_text_shows_escapes_one_finding_per_line(tmp_path: Path) -> None:
    old, new = diff_inputs(tmp_path)
    completed = auditor("diff", str(old), str(new))
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = printed(completed)
    shown = visible(PAYLOAD)
    added = visible(f"host:app-{PAYLOAD}.corp".lower())
    assert f"targets added: {added}" in lines, lines
    new_findings = [x for x in lines if x.startswith("  ") and shown in x]
    assert any(x.startswith("  HIGH iis-basic-auth-without-tls on web01") for x in new_findings)
    assert not any(x.startswith("FORGED") for x in lines)


def test_diff_json_is_the_same_value_with_no_raw_control(tmp_path: Path) -> None:
    old, new = diff_inputs(tmp_path)
    completed = auditor("diff", str(old), str(new), "--format", "json")
    assert completed.returncode == 0, completed.stderr[-2000:]
    printed(completed)
    drift = json.loads(completed.stdout)
    objects = {f["object"] for f in drift["new"]}
    assert PAYLOAD in objects
    assert drift["targets_added"] == [f"host:app-{PAYLOAD}.corp".lower()]


def test_the_neutralising_functions() -> None:
    assert visible("a\x1b[2J\tb\nc\x9b\x7f") == "a\\x1b[2J\\x09b\\x0ac\\x9b\\x7f"
    assert visible_lines("a\x1b[2J\tb\nc\x9b") == "a\\x1b[2J\tb\nc\\x9b"
    assert visible("管理者😀 \u202egnp.exe") == "管理者😀 \u202egnp.exe"  # printable: unchanged
    value = {"name": PAYLOAD, "管理": "ü"}
    text = json_text(value)
    assert not RAW_CONTROL.search(text.replace("\n", ""))
    assert json.loads(text) == value


@settings(max_examples=300, deadline=None)
@given(text=st.text() | st.lists(st.characters(max_codepoint=0xA0)).map("".join))
def test_any_text_comes_out_inert(text: str) -> None:
    """Whatever the data: no raw control character, and JSON that still reads back the same."""
    assert not RAW_CONTROL.search(visible(text)) and "\n" not in visible(text)
    assert not RAW_CONTROL.search(visible_lines(text))
    assert json.loads(json_text(text)) == text and not RAW_CONTROL.search(json_text(text))
    buffer = io.StringIO()
    table = Table(title=text)
    table.add_column(text)
    table.add_row(escape(text))
    DataConsole(file=buffer, width=80).print(table, escape(text), markup=True)
    assert not RAW_CONTROL.search(buffer.getvalue())
