"""The scan journal: one JSON line per collected target, flushed and synced as it arrives.

An interrupted scan (Ctrl-C, kill -9, a crash) loses nothing already gathered, and
`--resume JOURNAL` collects only the targets the journal does not hold yet, provided the same
scan wrote it (command, options, targets and configuration, as its header records). The journal
holds facts, never credentials.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from auditor import jsonfile
from auditor.errors import InputError
from auditor.facts.io import document_from_json
from auditor.facts.model import FactDocument

# 2: the header records what wrote the journal, so that --resume can refuse another scan's.
JOURNAL_VERSION = 2
# What must match for a scan to resume a journal, and how a mismatch is named.
_SAME_SCAN = {
    "command": ", not `{command}`",
    "options": " with other options ({options})",
    "targets": " for other targets",
    "config": " with another configuration",
}


def _is_torn(line: bytes) -> bool:
    """A line cut short by a kill: an entry is one JSON object, so a cut one never parses."""
    try:
        jsonfile.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return True
    except jsonfile.NestedTooDeep:  # complete, though unacceptable: read_journal refuses it
        return False
    return False


def scan_header(
    command: str,
    started_at: str,
    options: Mapping[str, Any],
    config_digest: str,
    targets: Sequence[str] | None,
) -> dict[str, Any]:
    """What a journal records about the scan writing it; `targets` None when the directory
    names them (scan domain)."""
    return {
        "command": command,
        "started_at": started_at,
        "options": dict(options),
        "targets": sorted(targets) if targets is not None else None,
        "config": config_digest,
    }


def check_same_scan(path: Path, recorded: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """Refuse to resume a journal that another scan wrote: its facts answer other questions."""
    current = json.loads(json.dumps(current))  # as the journal holds it: lists, not tuples
    before, now = recorded.get("options"), current.get("options") or {}
    before = before if isinstance(before, dict) else {}  # a header edited by hand
    changed = ", ".join(sorted(k for k in {*before, *now} if before.get(k) != now.get(k)))
    for key, how in _SAME_SCAN.items():
        if recorded.get(key) != current.get(key):
            raise InputError(
                f"{path}: this journal was written by `{recorded.get('command')}`"
                f"{how.format(command=current.get('command'), options=changed)};"
                " resume it with the same command, options, targets and configuration,"
                " or scan again without --resume"
            )


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
    except OSError as exc:
        raise InputError(f"{path}: cannot read the journal: {exc.strerror}") from None
    header: Mapping[str, Any] | None = None
    documents: dict[str, FactDocument] = {}
    infos: dict[str, Mapping[str, Any]] = {}
    truncated = False
    last = len(lines) - 1
    for number, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            entry = jsonfile.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if number == last:  # no newline yet: the writer died mid-line
                truncated = True
                continue
            raise InputError(f"{path}:{number + 1}: not a journal line (corrupt JSON)") from None
        except jsonfile.NestedTooDeep as exc:
            raise InputError(f"{path}:{number + 1}: not a journal line: {exc}") from None
        kind = entry.get("type") if isinstance(entry, dict) else None
        if kind == "scan":
            if entry.get("version") != JOURNAL_VERSION:
                raise InputError(
                    f"{path}:{number + 1}: journal version {entry.get('version')} is not"
                    f" supported (this auditor writes version {JOURNAL_VERSION}):"
                    " scan again without --resume"
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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not path.exists() or path.stat().st_size == 0
            self._file: IO[bytes] = path.open("ab")
        except OSError as exc:  # its folder is a file, a folder in its place, no permission
            raise InputError(f"{path}: cannot write the journal: {exc.strerror}") from None
        self._lock = threading.Lock()
        if fresh:
            if header is None:
                raise InputError(f"{path}: cannot resume an empty journal")
            self._write({"type": "scan", "version": JOURNAL_VERSION, **header})
        else:
            self._repair_tail()

    def _repair_tail(self) -> None:
        """Make the next entry start on a line of its own: end a complete last entry that lacks
        its newline (read_journal used it), cut a torn one (the writer died mid-line)."""
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        start = data.rfind(b"\n") + 1
        if _is_torn(data[start:]):
            self._file.truncate(start)
        else:
            self._file.write(b"\n")
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
