"""The journal survives a writer killed mid-line, and refuses real corruption clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import InputError
from auditor.facts.model import Available, DocumentKind, FactDocument, Target
from auditor.journal import Journal, read_journal


def doc(name: str) -> FactDocument:
    return FactDocument(
        Target(DocumentKind.HOST, name),
        {"host.roles": Available(["server"])},
        "2026-01-01T00:00:00Z",
    )


def test_round_trip_and_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path, {"command": "scan host"})
    journal.add(doc("a"), {"messages": 7})
    journal.add(doc("b"), {})
    journal.close()
    with path.open("ab") as handle:
        handle.write(b'{"type":"document","document":{"schema"')  # killed mid-write
    contents = read_journal(path)
    assert sorted(contents.documents) == ["host:a", "host:b"]
    assert contents.infos["host:a"] == {"messages": 7}
    assert contents.truncated
    resumed = Journal(path, None)  # appending after a torn line starts on a new line
    resumed.add(doc("c"), {})
    resumed.close()
    assert sorted(read_journal(path).documents) == ["host:a", "host:b", "host:c"]


def test_corrupt_middle_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path, {"command": "scan host"})
    journal.close()
    with path.open("ab") as handle:
        handle.write(b"garbage\n")
    Journal(path, None).add(doc("a"), {})
    with pytest.raises(InputError, match=r"j.jsonl:2: not a journal line"):
        read_journal(path)


def test_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"type": "document"}\n')
    with pytest.raises(InputError):
        read_journal(path)
    with pytest.raises(InputError, match="no such journal"):
        read_journal(tmp_path / "missing.jsonl")
