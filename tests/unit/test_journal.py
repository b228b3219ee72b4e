"""The journal survives a writer killed mid-line, and refuses real corruption clearly."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import InputError
from auditor.facts.model import Available, DocumentKind, FactDocument, Target
from auditor.pipeline.config import ScanConfig
from auditor.pipeline.journal import Journal, check_same_scan, read_journal, scan_header
from auditor.pipeline.plan import config_digest
from tests.cli import auditor as run_auditor


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


def test_a_complete_last_entry_without_its_newline_is_kept(tmp_path: Path) -> None:
    """The reader uses such an entry; resuming must not then delete it from the file."""
    path = tmp_path / "j.jsonl"
    journal = Journal(path, {"command": "scan host"})
    journal.add(doc("a"), {})
    journal.add(doc("b"), {"messages": 3})
    journal.close()
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # the newline never reached the disk
    assert sorted(read_journal(path).documents) == ["host:a", "host:b"]
    resumed = Journal(path, None)
    resumed.add(doc("c"), {})
    resumed.close()
    contents = read_journal(path)
    assert sorted(contents.documents) == ["host:a", "host:b", "host:c"]
    assert contents.infos["host:b"] == {"messages": 3}
    assert not contents.truncated


def header(command: str = "scan host", **changes: Any) -> dict[str, Any]:
    config = ScanConfig({"hosts": ["a", "b"], "probes": {"enabled": True}, **changes}, None)
    return scan_header(
        command, "2026-01-01T00:00:00Z", {"probe_only": True}, config_digest(config), ["b", "a"]
    )


def test_resume_refuses_a_journal_another_scan_wrote(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    Journal(path, header()).close()
    recorded = read_journal(path).header
    check_same_scan(path, recorded, header())  # the same scan, started again
    # Neither the credentials nor how fast the scan goes decide what it collects.
    check_same_scan(path, recorded, header(credentials={"password": "env:X"}, concurrency=2))
    config = ScanConfig({"hosts": ["a", "b"], "probes": {"enabled": True}}, None)
    same_hosts_in_another_order = scan_header(
        "scan host", "2026-02-02T00:00:00Z", {"probe_only": True}, config_digest(config), ["a", "b"]
    )
    check_same_scan(path, recorded, same_hosts_in_another_order)
    other_options = scan_header(
        "scan host",
        "2026-01-01T00:00:00Z",
        {"probe_only": False},
        config_digest(config),
        ["a", "b"],
    )
    other_targets = scan_header(
        "scan host",
        "2026-01-01T00:00:00Z",
        {"probe_only": True},
        config_digest(config),
        ["a", "c"],
    )
    for current, named in (
        (header("scan domain"), "written by `scan host`, not `scan domain`;"),
        (other_options, "with other options (probe_only);"),
        (other_targets, "for other targets;"),
        (header(probes={"enabled": False}), "with another configuration;"),
    ):
        with pytest.raises(InputError) as caught:
            check_same_scan(path, recorded, current)
        message = str(caught.value)
        assert message.startswith(f"{path}: this journal was written by `scan host`")
        assert named in message and message.endswith("or scan again without --resume")
        assert "\n" not in message


def test_the_header_holds_no_credential(tmp_path: Path) -> None:
    secret = "Journal-Canary-Pw-41x"
    path = tmp_path / "j.jsonl"
    Journal(path, header(credentials={"password": secret, "allow_literal_password": True})).close()
    text = path.read_text("utf-8")
    assert secret not in text and "allow_literal_password" not in text


def test_a_journal_of_the_previous_version_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"type":"scan","version":1,"command":"scan host","options":{}}\n')
    with pytest.raises(InputError, match=r"j.jsonl:1: journal version 1 .* without --resume"):
        read_journal(path)


def auditor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_auditor(*args, cwd=cwd, env={"PW": "not-used-Pw-1"})


def test_resume_from_the_command_line_takes_only_the_scan_that_wrote_it(tmp_path: Path) -> None:
    """Probe-only scans of loopback addresses where nothing listens: quick, and real."""
    host = ("scan", "host", "--probe-only", "-q", "-f", "json")
    with_credentials = ("scan", "host", "-q", "--username", "u", "--password-env", "PW")
    first = auditor(*host, "127.34.0.1", "-o", "first", "--journal", "j.jsonl", cwd=tmp_path)
    assert first.returncode == 3, first.stderr  # probes alone decide few rules
    (tmp_path / "domain.yaml").write_text("domain: {name: corp.test, dc: 127.34.0.9}\n")
    for args, named in (
        ((*host, "127.34.0.2"), "for other targets"),
        ((*with_credentials, "127.34.0.1"), "with other options (probe_only)"),
        (("scan", "domain", "--config", "domain.yaml", "-q"), ", not `scan domain`"),
    ):
        refused = auditor(*args, "-o", "again", "--resume", "j.jsonl", cwd=tmp_path)
        assert refused.returncode == 2, (args, refused.stderr)
        assert refused.stderr.startswith("error: j.jsonl: this journal was written by `scan host`")
        assert named in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
        assert not (tmp_path / "again").exists()
    resumed = auditor(*host, "127.34.0.1", "-o", "again", "--resume", "j.jsonl", cwd=tmp_path)
    assert resumed.returncode == 3, resumed.stderr
    assert sorted(read_journal(tmp_path / "j.jsonl").documents) == ["host:127.34.0.1"]
