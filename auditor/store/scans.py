"""The scan history: every result recorded whole in SQLite, read back exactly."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from auditor import jsonfile
from auditor.errors import InputError
from auditor.results.diff import open_by_severity
from auditor.results.model import (
    AppliedWaiver,
    Finding,
    RuleResult,
    ScanMetadata,
    ScanResult,
    TargetInfo,
)
from auditor.results.score import score
from auditor.results.vocabulary import Severity, Status
from auditor.store.migrations import NewerSchema, migrate, write_transaction

# Seconds a writer waits for another (two scans finishing at once) before giving up.
BUSY_TIMEOUT = 60.0


@dataclass(frozen=True)
class ScanSummary:
    """One recorded scan as the history table and the trend show it, without loading it."""

    id: int
    started_at: str
    finished_at: str
    command: str
    counts: Mapping[str, int]  # ScanResult.counts(): by status, and failing by severity
    open_findings: Mapping[str, int]  # severity -> open (failing, not waived) findings
    score: float
    targets: int


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _object(text: str) -> dict[str, Any]:
    """A JSON column that holds an object (ValueError or TypeError if it does not)."""
    value = jsonfile.loads(text)
    if not isinstance(value, dict):
        raise TypeError(f"a JSON object was expected, not {type(value).__name__}")
    return value


def _target_rows(scan_id: int, result: ScanResult) -> Iterator[tuple[Any, ...]]:
    for position, target in enumerate(result.targets):
        yield scan_id, position, target.id, _json(target.to_json())


def _result_rows(scan_id: int, result: ScanResult) -> Iterator[tuple[Any, ...]]:
    for position, item in enumerate(result.results):
        yield (
            scan_id,
            position,
            item.rule_id,
            item.target_id,
            item.status.value,
            item.severity.value,
            item.reason,
            _json(dict(item.evidence)),
            _json(dict(item.sources)),
        )


def _finding_rows(scan_id: int, result: ScanResult) -> Iterator[tuple[Any, ...]]:
    for result_position, item in enumerate(result.results):
        for position, finding in enumerate(item.findings):
            waived = finding.waiver is not None
            yield (
                scan_id,
                result_position,
                position,
                item.rule_id,
                item.target_id,
                finding.object,
                finding.label,
                finding.severity.value,
                _json(dict(finding.evidence)),
                Status.WAIVED.value if waived else Status.FAIL.value,
                _json(finding.waiver.to_json()) if finding.waiver is not None else None,
            )


class Store:
    """A SQLite file of scans. WAL mode: readers never wait for the nightly writer."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        """Open (or, with `create`, make) the store and bring its schema up to date."""
        if not create and not path.is_file():
            raise InputError(f"{path}: no such store (scans record into one with --store)")
        self.path = path
        try:
            self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.Error as exc:
            raise InputError(f"{path}: cannot open the store: {exc}") from None
        try:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            migrate(self._conn)
        except NewerSchema as exc:
            self._conn.close()
            raise InputError(f"{path}: {exc}") from None
        except sqlite3.Error as exc:
            self._conn.close()
            raise InputError(f"{path}: not a usable auditor store: {exc}") from None

    def close(self) -> None:
        self._conn.close()

    def check_writable(self) -> None:
        """Fail before a scan, not after it: a store that opens but cannot record loses the result."""
        try:
            with write_transaction(self._conn):
                # Needs the right to write, and changes nothing.
                self._conn.execute("UPDATE scans SET id = id WHERE 0")
        except sqlite3.Error as exc:
            raise InputError(f"{self.path}: cannot record scans in this store: {exc}") from None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def record(self, result: ScanResult) -> int:
        """Store the whole result in one transaction (a crash leaves all of it or none); its
        id. The history view is not stored: it is derived from the store itself."""
        counts = result.counts()
        try:
            with write_transaction(self._conn):
                cursor = self._conn.execute(
                    """INSERT INTO scans (started_at, finished_at, command, metadata, rules,
                       counts, score, target_count, recorded_at, open_findings)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        result.metadata.started_at,
                        result.metadata.finished_at,
                        result.metadata.command,
                        _json(result.metadata.to_json()),
                        _json({rule_id: dict(meta) for rule_id, meta in result.rules.items()}),
                        _json(counts),
                        score(result.results),
                        len(result.targets),
                        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        _json(open_by_severity(result)),
                    ),
                )
                scan_id = cursor.lastrowid
                assert scan_id is not None
                self._conn.executemany(
                    "INSERT INTO targets VALUES (?, ?, ?, ?)", _target_rows(scan_id, result)
                )
                self._conn.executemany(
                    "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    _result_rows(scan_id, result),
                )
                self._conn.executemany(
                    """INSERT INTO findings (scan_id, result_position, position, rule_id,
                       target_id, object_key, label, severity, evidence, status, waiver)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    _finding_rows(scan_id, result),
                )
        except sqlite3.OperationalError as exc:  # locked past the timeout, disk full, read-only
            raise InputError(f"{self.path}: cannot record the scan: {exc}") from None
        return scan_id

    def scans(self) -> list[ScanSummary]:
        """Every recorded scan, oldest first."""
        with self._reading("the list of scans"):
            return [
                ScanSummary(
                    id=row[0],
                    started_at=row[1],
                    finished_at=row[2],
                    command=row[3],
                    counts=_object(row[4]),
                    open_findings=_object(row[5]),
                    score=row[6],
                    targets=row[7],
                )
                for row in self._conn.execute(
                    """SELECT id, started_at, finished_at, command, counts, open_findings, score,
                       target_count FROM scans ORDER BY id"""
                )
            ]

    def check_readable(self) -> None:
        """Read what a new scan is compared with (the list of scans, the last one), so a damaged
        store fails before a scan, not after recording one."""
        self.scans()
        self.latest()

    @contextlib.contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """A row that does not read back (a bad enum value, broken JSON, a damaged file) is
        one clear error naming the store, not a crash."""
        try:
            yield
        except (ValueError, KeyError, TypeError, AttributeError, sqlite3.DatabaseError) as exc:
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            raise InputError(
                f"{self.path}: {what} cannot be read back, the store is damaged ({detail}); "
                "restore it from a backup or record into a new store"
            ) from None

    def load(self, scan_id: int) -> ScanResult:
        """The result exactly as recorded: it renders the same reports."""
        with self._reading(f"scan {scan_id}"):
            return self._load(scan_id)

    def _load(self, scan_id: int) -> ScanResult:
        row = self._conn.execute(
            "SELECT metadata, rules FROM scans WHERE id = ?", (scan_id,)
        ).fetchone()
        if row is None:
            raise InputError(f"{self.path}: no scan {scan_id} (`auditor history` lists them)")
        findings: dict[int, list[Finding]] = defaultdict(list)
        for position, key, label, severity, evidence, waiver in self._conn.execute(
            """SELECT result_position, object_key, label, severity, evidence, waiver
               FROM findings WHERE scan_id = ? ORDER BY result_position, position""",
            (scan_id,),
        ):
            findings[position].append(
                Finding(
                    key,
                    label,
                    Severity(severity),
                    _object(evidence),
                    AppliedWaiver.from_json(_object(waiver)) if waiver is not None else None,
                )
            )
        results = tuple(
            RuleResult(
                rule_id,
                target_id,
                Status(status),
                Severity(severity),
                reason,
                _object(evidence),
                _object(sources),
                tuple(findings[position]),
            )
            for position, rule_id, target_id, status, severity, reason, evidence, sources in (
                self._conn.execute(
                    """SELECT position, rule_id, target_id, status, severity, reason, evidence,
                       sources FROM results WHERE scan_id = ? ORDER BY position""",
                    (scan_id,),
                )
            )
        )
        targets = tuple(
            TargetInfo.from_json(_object(document))
            for (document,) in self._conn.execute(
                "SELECT document FROM targets WHERE scan_id = ? ORDER BY position", (scan_id,)
            )
        )
        return ScanResult(
            ScanMetadata.from_json(_object(row[0])), targets, _object(row[1]), results
        )

    def latest(self, before: int | None = None) -> ScanResult | None:
        """The last recorded scan, or the last one recorded before scan `before`."""
        row = self._conn.execute(
            "SELECT MAX(id) FROM scans WHERE ? IS NULL OR id < ?", (before, before)
        ).fetchone()
        return None if row[0] is None else self.load(row[0])
