"""Two nightly scans of the lab with one host changed in between: drift, history and waivers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
from pathlib import Path

from auditor.lab.definition import load_definition
from tests.cli import auditor as run_auditor
from tests.integration.lab.conftest import relocated, start_lab

PREFIX = "127.22."


def auditor(*args: str) -> subprocess.CompletedProcess[str]:
    return run_auditor(*args, env={"COLUMNS": "250"})  # rich tables fold in an 80-column pipe


def nightly(tmp_path: Path, definition: object, name: str, *extra: str) -> dict[str, object]:
    """One scan of the lab as it is defined now, recorded in the store."""
    with_lab = start_lab(tmp_path / f"lab-{name}", definition)  # type: ignore[arg-type]
    lab = next(with_lab)
    try:
        config = tmp_path / f"{name}.yaml"
        config.write_text(json.dumps(dict(lab.config.raw)))
        scan = auditor(
            "scan",
            "host",
            "--config",
            str(config),
            "-o",
            str(tmp_path / name),
            "-f",
            "json",
            "-f",
            "html",
            "--quiet",
            "--store",
            str(tmp_path / "history.db"),
            *extra,
        )
        assert scan.returncode in (1, 3), scan.stderr
        return dict(json.loads((tmp_path / name / "report.json").read_text()))
    finally:
        with_lab.close()


def test_one_host_changed_shows_exactly_its_drift(tmp_path: Path) -> None:
    base = relocated(load_definition(None), PREFIX)
    base = dataclasses.replace(
        base, hosts=tuple(h for h in base.hosts if h.name in ("FS01", "WKS01", "SRV-HARDENED"))
    )
    nightly(tmp_path, base, "monday")

    # Overnight on FS01: Basic is switched off by GPO, and someone turns WDigest on.
    fs01 = next(h for h in base.hosts if h.name == "FS01")
    changed = dataclasses.replace(
        fs01,
        winrm=dataclasses.replace(fs01.winrm, service={**fs01.winrm.service, "basic": False}),
        registry={
            **fs01.registry,
            "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WinRM\\Service\\AllowBasic": 0,
            "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\WDigest\\UseLogonCredential": 1,
        },
    )
    tuesday = dataclasses.replace(
        base, hosts=tuple(changed if h.name == "FS01" else h for h in base.hosts)
    )
    report = nightly(tmp_path, tuesday, "tuesday")

    drift = auditor("diff", "1", "2", "--store", str(tmp_path / "history.db"), "--format", "json")
    assert drift.returncode == 0, drift.stderr
    data = json.loads(drift.stdout)
    new = {(f["target"], f["rule_id"]) for f in data["new"]}
    fixed = {(f["target"], f["rule_id"]) for f in data["fixed"]}
    assert new == {("fs01.corp.auditor.test", "host-wdigest-disabled")}
    assert fixed == {("fs01.corp.auditor.test", "winrm-service-basic-auth")}
    history = report["history"]
    assert isinstance(history, dict)
    html = (tmp_path / "tuesday" / "report.html").read_text()
    assert "host-wdigest-disabled" in html
    assert "Since the last scan" in html
    listing = auditor("history", "--store", str(tmp_path / "history.db"))
    assert listing.returncode == 0
    assert listing.stdout.count("scan host") == 2


def test_waivers_hide_until_they_expire(tmp_path: Path) -> None:
    base = relocated(load_definition(None), "127.23.")
    base = dataclasses.replace(base, hosts=tuple(h for h in base.hosts if h.name == "WKS01"))
    today = dt.date.today()
    waivers = tmp_path / "waivers.yaml"

    def with_expiry(days: int) -> None:
        waivers.write_text(
            "- rule: host-wdigest-disabled\n  target: 'wks01.*'\n"
            "  justification: kiosk vendor needs it until the Q3 image\n"
            f"  expires: {(today + dt.timedelta(days=days)).isoformat()}\n  owner: alice@corp.example\n"
        )

    with_expiry(10)
    active = nightly(tmp_path, base, "active", "--waivers", str(waivers))
    statuses = {r["rule_id"]: r["status"] for r in active["results"]}  # type: ignore[union-attr]
    assert statuses["host-wdigest-disabled"] == "waived"
    with_expiry(0)  # expires today: it is back
    expired = nightly(tmp_path, base, "expired", "--waivers", str(waivers))
    statuses = {r["rule_id"]: r["status"] for r in expired["results"]}  # type: ignore[union-attr]
    assert statuses["host-wdigest-disabled"] == "fail"
    warnings = expired["metadata"]["warnings"]  # type: ignore[index]
    assert any("expired" in w for w in warnings)
