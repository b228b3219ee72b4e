"""CSV report: one row per rule x target x object, for spreadsheets and ticket imports."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from auditor.reports.interface import Renderer
from auditor.results.model import AppliedWaiver, ScanResult
from auditor.results.vocabulary import Status

COLUMNS = (
    "rule_id",
    "severity",
    "status",
    "target",
    "object",
    "title",
    "expected",
    "evidence",
    "reason",
    "remediation",
    # Appended, so spreadsheets reading the columns above by position keep working.
    "waiver_justification",
    "waiver_owner",
    "waiver_expires",
    "waiver_ticket",
)
# Spreadsheets run a cell starting with one of these as a formula (or DDE command).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# C0/C1 controls (but tab, line feed, carriage return), and the separators some tools split
# lines on: ESC would restyle a terminal that shows the file, VT/FF/U+2028 would break rows.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def without_controls(value: str) -> str:
    """Scanned data as visible text: control characters become U+FFFD."""
    return _CONTROLS.sub("\ufffd", value)


def neutralise(cell: str) -> str:
    """A leading apostrophe makes Excel, LibreOffice and Sheets show the cell as text."""
    cell = without_controls(cell)
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def compact_json(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), ensure_ascii=False, separators=(",", ":"), default=str)


def _waiver_cells(waiver: AppliedWaiver | None) -> tuple[str, str, str, str]:
    if waiver is None:
        return ("", "", "", "")
    return (waiver.justification, waiver.owner, waiver.expires, waiver.ticket or "")


def rows(result: ScanResult) -> Iterator[tuple[str, ...]]:
    """Every result; a failing (or waived) result gives one row per finding, each with its
    own status: `waived` for a waived finding."""
    names = {t.id: t.name for t in result.targets}
    for item in result.results:
        meta = result.rules.get(item.rule_id, {})
        remediation = meta.get("remediation") or {}
        common = (str(meta.get("title", "")), str(meta.get("expected", "")))
        tail = (item.reason or "", str(remediation.get("text", "")))
        target = names.get(item.target_id, item.target_id)
        if item.status in (Status.FAIL, Status.WAIVED) and item.findings:
            for finding in item.findings:
                yield (
                    item.rule_id,
                    finding.severity.value,
                    Status.WAIVED.value if finding.waiver is not None else Status.FAIL.value,
                    target,
                    finding.object or "",
                    *common,
                    compact_json(finding.evidence),
                    *tail,
                    *_waiver_cells(finding.waiver),
                )
        else:
            yield (
                item.rule_id,
                item.severity.value,
                item.status.value,
                target,
                "",
                *common,
                compact_json(item.evidence),
                *tail,
                *_waiver_cells(None),
            )


class CsvRenderer(Renderer):
    suffix = ".csv"

    def render(self, result: ScanResult) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        writer.writerows(tuple(neutralise(cell) for cell in row) for row in rows(result))
        # The byte-order mark is how Excel recognises UTF-8 (host and account names are not ASCII).
        return out.getvalue().encode("utf-8-sig")
