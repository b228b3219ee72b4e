"""The scan journal: one JSON line per collected target, flushed and synced as it arrives.

An interrupted scan (Ctrl-C, kill -9, a crash) loses nothing already gathered, and
`--resume JOURNAL` collects only the targets the journal does not hold yet. The journal holds
facts, never credentials.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from auditor.errors import InputError
from auditor.facts.io import document_from_json
from auditor.facts.model import FactDocument

JOURNAL_VERSION = 1


@dataclass(frozen=True)
class JournalContents:
    header: Mapping[str, Any]
    documents: dict[str, FactDocument]  # by target id, the last entry wins
    infos: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    truncated: bool = False  # the last line was cut short (a kill mid-write): ignored


def read_journal(path: Path) -> JournalContents:
    """Every complete line of a journal; a torn last line is skipped, anything else is an error."""
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        raise InputError(f"{path}: no such journal") from None
    header: Mapping[str, Any] | None = None
    documents: dict[str, FactDocument] = {}
    infos: dict[str, Mapping[str, Any]] = {}
    truncated = False
    last = len(lines) - 1
    for number, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if number == last:  # no newline yet: the writer died mid-line
                truncated = True
                continue
            raise InputError(f"{path}:{number + 1}: not a journal line (corrupt JSON)") from None
        kind = entry.get("type") if isinstance(entry, dict) else None
        if kind == "scan":
            if entry.get("version") != JOURNAL_VERSION:
                raise InputError(
                    f"{path}:{number + 1}: journal version {entry.get('version')} is not supported"
                )
            header = entry
        elif kind == "document":
            doc = document_from_json(entry.get("document"), f"{path}:{number + 1}")
            documents[doc.target.id] = doc
            infos[doc.target.id] = entry.get("info") or {}
        else:
            raise InputError(f"{path}:{number + 1}: unknown journal entry {kind!r}")
    if header is None:
        raise InputError(f"{path}: not an auditor journal (no scan header)")
    return JournalContents(header, documents, infos, truncated)


class Journal:
    """Appends entries, each flushed and fsynced before the next target is reported done."""

    def __init__(self, path: Path, header: Mapping[str, Any] | None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists() or path.stat().st_size == 0
        self._file: IO[bytes] = path.open("ab")
        self._lock = threading.Lock()
        if fresh:
            if header is None:
                raise InputError(f"{path}: cannot resume an empty journal")
            self._write({"type": "scan", "version": JOURNAL_VERSION, **header})
        else:
            self._repair_tail()

    def _repair_tail(self) -> None:
        """Cut a torn last line (the writer died mid-line) so the next entry starts clean."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            self._file.truncate(data.rfind(b"\n") + 1)
            self._file.flush()

    def _write(self, entry: Mapping[str, Any]) -> None:
        data = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        with self._lock:
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())

    def add(self, document: FactDocument, info: Mapping[str, Any]) -> None:
        self._write({"type": "document", "document": document.to_json(), "info": dict(info)})

    def close(self) -> None:
        self._file.close()
