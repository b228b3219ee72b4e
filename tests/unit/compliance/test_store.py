"""The history store: migrations, exact round trips, and all-or-nothing writes under SIGKILL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import InputError
from auditor.pipeline.after import build_history_view
from auditor.pipeline.waivers import Waiver, apply_waivers
from auditor.reports.formats import OutputFormat
from auditor.results.diff import open_by_severity
from auditor.results.io import result_to_json
from auditor.results.model import ScanResult
from auditor.results.score import score
from auditor.store import Store
from auditor.store import scans as store_scans
from auditor.store.migrations import MIGRATIONS, current_version, migrate

from ..reports.sample import make_result

ROOT = Path(__file__).resolve().parents[3]


def _waived_sample() -> ScanResult:
    entry = Waiver(
        "ad-*", None, "CN=Ü*", "reviewed", dt.date(2030, 1, 1), "alice", "SEC-9", "w.yaml:1"
    )
    return apply_waivers(make_result(), [entry], dt.date(2025, 1, 1))


def _versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")]


def test_a_new_store_gets_every_migration_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    with Store(path) as store:
        assert store.scans() == []
        assert store.latest() is None
    assert _versions(path) == list(range(1, len(MIGRATIONS) + 1))
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        indexes = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    assert {
        "results_rule",
        "results_target",
        "results_status",
        "findings_key",
        "findings_object",
        "findings_status",
    } <= indexes
    Store(path).close()  # opening again changes nothing
    assert _versions(path) == list(range(1, len(MIGRATIONS) + 1))


def _insert_version_1(conn: sqlite3.Connection, result: ScanResult) -> None:
    """A scan as version 1 of the schema stored it: no waivers, no open-findings column."""
    counts = {k: v for k, v in result.counts().items() if k != "waived"}
    conn.execute(
        "INSERT INTO scans (started_at, finished_at, command, metadata, rules, counts, score, "
        "target_count, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            result.metadata.started_at,
            result.metadata.finished_at,
            result.metadata.command,
            json.dumps(result.metadata.to_json()),
            json.dumps({k: dict(v) for k, v in result.rules.items()}),
            json.dumps(counts),
            score(result.results),
            len(result.targets),
            "2024-05-01T10:03:00+00:00",
        ),
    )
    for i, target in enumerate(result.targets):
        conn.execute(
            "INSERT INTO targets VALUES (1, ?, ?, ?)", (i, target.id, json.dumps(target.to_json()))
        )
    for i, item in enumerate(result.results):
        conn.execute(
            "INSERT INTO results VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                i,
                item.rule_id,
                item.target_id,
                item.status.value,
                item.severity.value,
                item.reason,
                json.dumps(dict(item.evidence)),
                json.dumps(dict(item.sources)),
            ),
        )
        for j, f in enumerate(item.findings):
            conn.execute(
                "INSERT INTO findings VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    i,
                    j,
                    item.rule_id,
                    item.target_id,
                    f.object,
                    f.label,
                    f.severity.value,
                    json.dumps(dict(f.evidence)),
                ),
            )


def test_migration_from_version_1_keeps_and_backfills_scans(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    result = make_result()
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, MIGRATIONS[:1]) == 1
    conn.execute("BEGIN")
    _insert_version_1(conn, result)
    conn.execute("COMMIT")
    conn.close()
    with Store(path) as store:
        (summary,) = store.scans()
        assert summary.open_findings == open_by_severity(result)
        assert summary.counts == result.counts()  # `waived: 0` added
        assert result_to_json(store.load(1)) == result_to_json(result)
        assert store.record(result) == 2
    assert _versions(path) == [1, 2]


def test_a_store_from_a_newer_auditor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'later')")
    with pytest.raises(
        InputError,
        match=r"history\.db: store schema version 99 is newer than this auditor knows \(2\)",
    ):
        Store(path)


def test_other_files_are_refused_with_their_name(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"not": "sqlite"}' * 100, encoding="utf-8")
    with pytest.raises(
        InputError, match=r"report\.json: not a usable auditor store: file is not a database"
    ):
        Store(path)
    with pytest.raises(InputError, match=r"missing\.db: no such store"):
        Store(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.parametrize("make", [make_result, _waived_sample], ids=["sample", "waived"])
def test_record_and_load_round_trip_renders_the_same(
    tmp_path: Path, make: Callable[[], ScanResult]
) -> None:
    result = make()
    with Store(tmp_path / "history.db") as store:
        scan_id = store.record(result)
        again = store.load(scan_id)
    assert again == result
    for fmt in OutputFormat:
        renderer = fmt.renderer()
        assert renderer.render(again) == renderer.render(result), fmt


def test_history_is_not_stored(tmp_path: Path) -> None:
    with Store(tmp_path / "history.db") as store:
        first = make_result()
        scan_id = store.record(first)
        with_history = dataclasses.replace(
            first, history=build_history_view(store, first, scan_id=scan_id)
        )
        second = store.record(with_history)
        assert store.load(second).history is None


def test_scans_latest_and_unknown_ids(tmp_path: Path) -> None:
    first = make_result()
    second = _waived_sample()
    with Store(tmp_path / "history.db") as store:
        assert [store.record(first), store.record(second)] == [1, 2]
        summaries = store.scans()
        assert [s.id for s in summaries] == [1, 2]
        assert summaries[1].counts == second.counts()
        assert summaries[1].open_findings == open_by_severity(second)
        assert (summaries[1].score, summaries[1].targets) == (score(second.results), 6)
        assert summaries[1].command == second.metadata.command
        assert store.latest() == second
        assert store.latest(before=2) == first
        assert store.latest(before=1) is None
        with pytest.raises(InputError, match=r"history\.db: no scan 7"):
            store.load(7)


def test_readers_see_only_committed_scans_while_a_scan_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.db"
    with Store(path) as writer:
        writer.record(make_result())
        seen: list[list[int]] = []
        original = store_scans._finding_rows

        def rows_while_reading(scan_id: int, result: ScanResult) -> Iterator[tuple[Any, ...]]:
            with Store(path) as reader:  # a second connection, mid-transaction
                seen.append([s.id for s in reader.scans()])
            yield from original(scan_id, result)

        monkeypatch.setattr(store_scans, "_finding_rows", rows_while_reading)
        writer.record(make_result())
    assert seen == [[1]]


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from auditor.store import Store, scans
    from tests.unit.reports.sample import make_large_result, make_result

    store = Store(Path(sys.argv[1]))
    store.record(make_result())
    original = scans._finding_rows

    def rows(scan_id, result):
        # Results are written by now (more than the page cache holds, so part of the
        # uncommitted transaction is in the WAL file); stop half-way through the findings.
        for i, row in enumerate(original(scan_id, result)):
            if i == 1000:
                print("in transaction", flush=True)
                time.sleep(600)
            yield row

    scans._finding_rows = rows
    store.record(make_large_result(hosts=400))
    """
)


def test_a_writer_killed_mid_scan_leaves_only_complete_scans(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    wal = tmp_path / "history.db-wal"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), str(ROOT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        line = writer.stdout.readline()
        assert line == "in transaction\n", writer.stderr.read() if writer.stderr else ""
        assert wal.stat().st_size > 1_000_000  # uncommitted pages did reach the disk
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        orphans = conn.execute(
            "SELECT (SELECT COUNT(*) FROM results WHERE scan_id NOT IN (SELECT id FROM scans))"
            " + (SELECT COUNT(*) FROM findings WHERE scan_id NOT IN (SELECT id FROM scans))"
        ).fetchone()
        assert orphans == (0,)
    with Store(path) as store:
        assert [s.id for s in store.scans()] == [1]
        assert store.load(1) == make_result()
        assert store.record(make_result()) == 2  # the store is usable afterwards
    with sqlite3.connect(path) as conn:
        assert current_version(conn) == len(MIGRATIONS)
