"""The CSV report: one row per rule x target x object, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json

import pytest

from auditor.reports.csv_format import COLUMNS, CsvRenderer, neutralise
from auditor.results.model import ScanResult
from auditor.results.vocabulary import Status

from .sample import FORMULA, UNICODE, make_result


@pytest.fixture(scope="module")
def result() -> ScanResult:
    return make_result()


@pytest.fixture(scope="module")
def data(result: ScanResult) -> bytes:
    return CsvRenderer().render(result)


@pytest.fixture(scope="module")
def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_starts_get_an_apostrophe(start: str) -> None:
    assert neutralise(f"{start}1+1") == f"'{start}1+1"


@pytest.mark.parametrize("cell", ["", "fs01", "a=b", "'quoted", " =space", "1-2"])
def test_other_cells_are_unchanged(cell: str) -> None:
    assert neutralise(cell) == cell


def test_one_row_per_rule_target_object(result: ScanResult, rows: list[dict[str, str]]) -> None:
    expected = sum(
        len(r.findings) if r.status is Status.FAIL and r.findings else 1 for r in result.results
    )
    assert len(rows) == expected
    assert list(rows[0]) == list(COLUMNS)
    delegation = [r for r in rows if r["rule_id"] == "ad-unconstrained-delegation"]
    assert [r["severity"] for r in delegation] == ["high", "critical"]
    assert all(r["status"] == "fail" and r["target"] == "corp.example" for r in delegation)
    assert json.loads(delegation[0]["evidence"])["enabled"] is True


def test_no_cell_starts_a_formula(rows: list[dict[str, str]]) -> None:
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    listener = next(r for r in rows if r["rule_id"] == "winrm-http-listener" and r["object"])
    assert listener["object"] == "'" + FORMULA


def test_utf8_with_bom_for_spreadsheets(data: bytes, rows: list[dict[str, str]]) -> None:
    assert data.startswith(b"\xef\xbb\xbfrule_id,")
    assert any(UNICODE in r["object"] for r in rows)
    assert b"\r\n" in data


def test_control_characters_become_visible_replacement_characters() -> None:
    from auditor.reports.csv_format import neutralise
    from auditor.reports.markdown_format import text

    hostile = "name\x1b]0;pwned\x07\x0bnext\u2028line"
    assert neutralise(hostile) == "name\ufffd]0;pwned\ufffd\ufffdnext\ufffdline"
    assert "\x1b" not in text(hostile)
    assert "\x0b" not in text(hostile)


def test_console_summary_prints_markup_in_data_as_text() -> None:
    import io

    from rich.console import Console

    from auditor.reports.console import print_summary
    from auditor.results.model import TargetInfo, TargetStatus

    from .sample import make_result

    base = make_result()
    hostile = TargetInfo(
        "host:x", "host", "[bold]x[/]", None, (), TargetStatus.FAILED, "fault text [/x] [red]", None
    )
    import dataclasses

    result = dataclasses.replace(base, targets=(*base.targets, hostile))
    buffer = io.StringIO()
    print_summary(result, [], Console(file=buffer, width=200))
    assert "could not scan [bold]x[/]: fault text [/x] [red]" in buffer.getvalue()
