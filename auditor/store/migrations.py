"""The store's schema, version by version: each migration runs once, in order, in a transaction."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence

from auditor.results.vocabulary import Severity

Migration = Callable[[sqlite3.Connection], None]


def _history(conn: sqlite3.Connection) -> None:
    """Version 1: scans with their targets, results and findings, JSON beside indexed keys."""
    for statement in (
        """CREATE TABLE scans (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            command TEXT NOT NULL,
            metadata TEXT NOT NULL,
            rules TEXT NOT NULL,
            counts TEXT NOT NULL,
            score REAL NOT NULL,
            target_count INTEGER NOT NULL,
            recorded_at TEXT NOT NULL)""",
        """CREATE TABLE targets (
            scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            target_id TEXT NOT NULL,
            document TEXT NOT NULL,
            PRIMARY KEY (scan_id, position))""",
        """CREATE TABLE results (
            scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            rule_id TEXT NOT NULL,
            target_id TEXT NOT NULL,
            status TEXT NOT NULL,
            severity TEXT NOT NULL,
            reason TEXT,
            evidence TEXT NOT NULL,
            sources TEXT NOT NULL,
            PRIMARY KEY (scan_id, position))""",
        "CREATE INDEX results_rule ON results (rule_id, target_id)",
        "CREATE INDEX results_target ON results (target_id)",
        "CREATE INDEX results_status ON results (status)",
        """CREATE TABLE findings (
            scan_id INTEGER NOT NULL,
            result_position INTEGER NOT NULL,
            position INTEGER NOT NULL,
            rule_id TEXT NOT NULL,
            target_id TEXT NOT NULL,
            object_key TEXT,
            label TEXT,
            severity TEXT NOT NULL,
            evidence TEXT NOT NULL,
            PRIMARY KEY (scan_id, result_position, position),
            FOREIGN KEY (scan_id, result_position)
                REFERENCES results (scan_id, position) ON DELETE CASCADE)""",
        "CREATE INDEX findings_key ON findings (rule_id, target_id, object_key)",
        "CREATE INDEX findings_object ON findings (object_key)",
    ):
        conn.execute(statement)


def _waivers(conn: sqlite3.Connection) -> None:
    """Version 2: waived findings, and open findings by severity per scan for the trend."""
    conn.execute("ALTER TABLE findings ADD COLUMN status TEXT NOT NULL DEFAULT 'fail'")
    conn.execute("ALTER TABLE findings ADD COLUMN waiver TEXT")
    conn.execute("CREATE INDEX findings_status ON findings (status)")
    conn.execute("ALTER TABLE scans ADD COLUMN open_findings TEXT NOT NULL DEFAULT '{}'")
    # Scans recorded before waivers existed: nothing was waived, every failing finding is open.
    scans = conn.execute("SELECT id, counts FROM scans").fetchall()
    for scan_id, counts in scans:
        open_findings = {s.value: 0 for s in Severity}
        for severity, n in conn.execute(
            """SELECT f.severity, COUNT(*) FROM findings f JOIN results r
               ON r.scan_id = f.scan_id AND r.position = f.result_position
               WHERE f.scan_id = ? AND r.status = 'fail' GROUP BY f.severity""",
            (scan_id,),
        ):
            open_findings[severity] += n
        for severity, n in conn.execute(
            """SELECT r.severity, COUNT(*) FROM results r WHERE r.scan_id = ? AND r.status = 'fail'
               AND NOT EXISTS (SELECT 1 FROM findings f
                               WHERE f.scan_id = r.scan_id AND f.result_position = r.position)
               GROUP BY r.severity""",
            (scan_id,),
        ):
            open_findings[severity] += n
        conn.execute(
            "UPDATE scans SET open_findings = ?, counts = ? WHERE id = ?",
            (json.dumps(open_findings), json.dumps({**json.loads(counts), "waived": 0}), scan_id),
        )


MIGRATIONS: tuple[Migration, ...] = (_history, _waivers)


class NewerSchema(Exception):
    """The store was written by a newer auditor: reading it could misread its columns."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(f"store schema version {found} is newer than this auditor knows ({known})")


def current_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    version: int = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[
        0
    ]
    return version


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the schema to the last version; returns it. `conn` must be in autocommit mode.

    The version is read again under the write lock, so two processes opening a new store
    at once apply each migration once.
    """
    found = current_version(conn)
    if found > len(migrations):
        raise NewerSchema(found, len(migrations))
    if found == len(migrations):
        return found  # the common case takes no write lock, so read-only stores open
    with write_transaction(conn):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        found = current_version(conn)
        for version, step in enumerate(migrations[found:], start=found + 1):
            step(conn)
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
            )
    return len(migrations)


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """All or nothing, holding the write lock from the start so no reader upgrade can deadlock."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
