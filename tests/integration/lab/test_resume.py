"""A scan killed with SIGKILL midway, then resumed, equals an uninterrupted scan."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.lab.conftest import Lab


def statuses(report: Path) -> dict[tuple[str, str], str]:
    data = json.loads(report.read_text())
    return {(r["rule_id"], r["target_id"]): r["status"] for r in data["results"]}


def scan(config: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "auditor",
            "scan",
            "host",
            "--config",
            str(config),
            "-o",
            str(out),
            "-f",
            "json",
            "--quiet",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_scan_resumes_to_the_same_result(lab: Lab, tmp_path: Path) -> None:
    config = tmp_path / "scan.yaml"
    config.write_text(json.dumps({**lab.config.raw, "concurrency": 1}))
    reference = scan(config, tmp_path / "reference")
    assert reference.wait(300) == 1, reference.communicate()[1]

    interrupted = scan(config, tmp_path / "resumed")
    journal = tmp_path / "resumed" / "journal.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count("\n") >= 3:  # header + 2 hosts
            break
        time.sleep(0.02)
    interrupted.send_signal(signal.SIGKILL)
    interrupted.wait(30)
    lines_before = journal.read_text().count('"type":"document"')
    assert 2 <= lines_before < len(lab.definition.hosts), "the kill must land midway"
    assert not (tmp_path / "resumed" / "report.json").exists()

    resumed = scan(config, tmp_path / "resumed", "--resume", str(journal))
    assert resumed.wait(300) == 1, resumed.communicate()[1]
    entries = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    targets = [e["document"]["target"]["name"] for e in entries if e["type"] == "document"]
    assert len(targets) == len(set(targets)) == len(lab.definition.hosts)  # none collected twice
    assert statuses(tmp_path / "resumed" / "report.json") == statuses(
        tmp_path / "reference" / "report.json"
    )
    assert lab.password not in journal.read_text()
