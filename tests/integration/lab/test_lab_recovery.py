"""A `lab up` that was interrupted mid-provision: `lab down` cleans it up, `lab up` recovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from auditor.lab.manager import DC_READY
from auditor.lab.samba import processes_of
from tests.cli import AUDITOR, auditor

DEFINITION = """
domain:
  realm: recover.auditor.test
  netbios: RECOVER
  dc: {name: DC1, address: 127.24.0.1}
hosts:
  - name: FS01
    address: 127.24.1.11
    roles: [member_server]
    winrm: {http: true, https: false}
"""


def interrupted_up(lab_dir: Path, definition: Path, *, whole_group: bool) -> None:
    """Start `lab up` and kill it while samba-tool is provisioning.

    Killing the whole process group is a closed terminal; killing `auditor` alone leaves
    samba-tool running as an orphan, still writing into the directory.
    """
    up = subprocess.Popen(
        [*AUDITOR, "lab", "up", "--dir", str(lab_dir), "--definition", str(definition)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not processes_of(lab_dir / "dc"):
        assert up.poll() is None, f"lab up ended ({up.returncode}) before provisioning"
        assert time.monotonic() < deadline, "samba-tool never started"
        time.sleep(0.02)
    if whole_group:
        os.killpg(up.pid, signal.SIGKILL)
    else:
        os.kill(up.pid, signal.SIGKILL)
    up.wait(timeout=30)
    assert not (lab_dir / DC_READY).exists()
    assert (lab_dir / "dc").is_dir()


@pytest.mark.samba
def test_interrupted_up_is_cleaned_by_down_and_recovered_by_up(tmp_path: Path) -> None:
    definition = tmp_path / "lab.yaml"
    definition.write_text(DEFINITION)
    lab_dir = tmp_path / "lab"
    dc_dir = (lab_dir / "dc").resolve()
    try:
        interrupted_up(lab_dir, definition, whole_group=False)
        assert processes_of(dc_dir), "the orphaned samba-tool should still be provisioning"
        down = auditor("lab", "down", "--dir", str(lab_dir))
        assert down.returncode == 0, down.stderr
        assert "left unfinished" in down.stdout
        assert not dc_dir.exists()
        assert processes_of(dc_dir) == []

        interrupted_up(lab_dir, definition, whole_group=True)
        up = auditor("lab", "up", "--dir", str(lab_dir), "--definition", str(definition))
        assert up.returncode == 0, up.stdout + up.stderr
        assert "made anew" in up.stdout
        assert "DC running" in auditor("lab", "status", "--dir", str(lab_dir)).stdout

        # The rebuilt DC is seeded: the scan account the config names binds and reads the domain.
        out = tmp_path / "out"
        scan = auditor(
            "scan",
            "domain",
            "--config",
            str(lab_dir / "scan.yaml"),
            "--no-hosts",
            "-o",
            str(out),
            "-f",
            "json",
            "--quiet",
        )
        assert scan.returncode in {0, 1, 3}, scan.stderr
        results = json.loads((out / "report.json").read_text())["results"]
        quota = [r for r in results if r["rule_id"] == "ad-machine-account-quota"]
        assert [r["status"] for r in quota] == ["fail"], quota  # Samba's default quota is 10
    finally:
        down = auditor("lab", "down", "--dir", str(lab_dir))
    assert down.returncode == 0, down.stderr
    assert "left unfinished" not in down.stdout
    assert processes_of(dc_dir) == []
