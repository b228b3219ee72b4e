"""`auditor lab up/status/down` with a hosts-only lab: the written config scans as it is."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from auditor.lab.manager import PID_FILE
from tests.cli import auditor

DEFINITION = """
domain:
  realm: corp.auditor.test
  netbios: CORP
  dc: {name: DC1, address: 127.17.0.1}
hosts:
  - name: FS01
    address: 127.17.1.11
    roles: [member_server]
    winrm: {http: true, https: false, service: {basic: true}}
  - name: SRV01
    address: 127.17.1.12
    roles: [member_server]
    winrm: {http: false, https: true, certificate: valid}
"""


def listening(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((address, port)) == 0


def test_up_status_scan_down(tmp_path: Path) -> None:
    definition = tmp_path / "lab.yaml"
    definition.write_text(DEFINITION)
    lab_dir = tmp_path / "lab"
    up = auditor("lab", "up", "--dir", str(lab_dir), "--definition", str(definition), "--no-dc")
    try:
        assert up.returncode == 0, up.stderr
        assert "2 hosts running" in up.stdout
        assert listening("127.17.1.11", 5985)
        assert listening("127.17.1.12", 5986)
        assert "2 hosts running" in auditor("lab", "status", "--dir", str(lab_dir)).stdout
        secret = lab_dir / "secrets" / "scan-password"
        assert oct(secret.stat().st_mode & 0o777) == "0o600"
        scan = auditor(
            "scan",
            "host",
            "--config",
            str(lab_dir / "scan.yaml"),
            "-o",
            str(tmp_path / "out"),
            "-f",
            "json",
            "--quiet",
        )
        assert scan.returncode == 1, scan.stderr  # FS01 offers Basic: a high finding
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        basic = [r for r in report["results"] if r["rule_id"] == "winrm-service-basic-auth"]
        assert sorted((r["target_id"], r["status"]) for r in basic) == [
            ("host:fs01.corp.auditor.test", "fail"),
            ("host:srv01.corp.auditor.test", "pass"),
        ]
        assert secret.read_text().strip() not in json.dumps(report)
    finally:
        down = auditor("lab", "down", "--dir", str(lab_dir))
    assert down.returncode == 0, down.stderr
    assert not (lab_dir / PID_FILE).exists()
    assert not listening("127.17.1.11", 5985)
    assert not listening("127.17.1.12", 5986)
    pid_alive = subprocess.run(
        ["pgrep", "-f", f"auditor.lab.hostd {lab_dir}"], capture_output=True, check=False
    )
    assert pid_alive.returncode == 1, pid_alive.stdout
