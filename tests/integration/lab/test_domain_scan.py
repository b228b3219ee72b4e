"""The demo path end to end: `auditor lab up` (Samba DC + hosts), `auditor scan domain`, `lab down`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from pypsrp.wsman import WSMan

from auditor import netmap
from auditor.lab.definition import SCAN_ACCOUNT
from tests.cli import auditor
from tests.kerberos import kinit

# Seeded weaknesses of auditor/lab/default_domain.yaml, by rule: the offending objects' labels.
EXPECTED_DIRECTORY_FINDINGS = {
    "ad-asrep-roastable": {"vpn_legacy"},
    "ad-constrained-delegation-targets": {"svc_oldapp", "svc_backup"},
    "ad-des-kerberos-keys": {"unix_old"},
    "ad-disabled-privileged-accounts": {"former_admin"},
    "ad-kerberoastable-users": {"svc_oldapp", "svc_iis", "svc_backup", "svc_sql"},
    "ad-password-not-required": {"scanner_svc"},
    "ad-privileged-accounts-delegable": {"Administrator", "adm_alice", "ops_dave", "svc_deploy"},
    "ad-protocol-transition": {"WEB01$"},
    "ad-remote-access-groups": {"Remote Management Users", "Remote Desktop Users"},
    "ad-reversible-password-encryption": {"legacy_auth"},
    "ad-unconstrained-delegation": {"FS01$"},
    "ad-machine-account-quota": {None},
    "ad-password-min-length": {None},
    "ad-account-lockout-threshold": {None},
    "ad-rbcd": {"APP01$"},  # every Domain Computer may act on APP01
    "ad-privileged-password-never-expires": {"svc_deploy"},
    "ad-privileged-group-size": {"Domain Admins", "Administrators"},  # the lab allows 5
}
PREFIX = "127.18."


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = Path(tmp_path_factory.mktemp("dl"))
    text = "".join(
        resources.files("auditor.lab").joinpath(n).read_text("utf-8")
        for n in ("default_domain.yaml", "default_hosts.yaml")
    )
    definition = base / "lab.yaml"
    definition.write_text(text.replace("127.10.", PREFIX))
    directory = base / "lab"
    up = auditor("lab", "up", "--dir", str(directory), "--definition", str(definition))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield directory
    finally:
        down = auditor("lab", "down", "--dir", str(directory))
        assert down.returncode == 0, down.stderr


@pytest.mark.samba
def test_domain_scan_reports_every_seeded_weakness(lab_dir: Path, tmp_path: Path) -> None:
    scan = auditor(
        "scan",
        "domain",
        "--config",
        str(lab_dir / "scan.yaml"),
        "-o",
        str(tmp_path),
        "-f",
        "json",
        "-f",
        "html",
        "--quiet",
    )
    assert scan.returncode in (1, 3), scan.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    targets = {t["name"] for t in report["targets"]}
    assert "corp.auditor.test" in targets
    assert {t for t in targets if t != "corp.auditor.test"} == {
        "dc1.corp.auditor.test",
        "fs01.corp.auditor.test",
        "jump01.corp.auditor.test",
        "web01.corp.auditor.test",
        "wks01.corp.auditor.test",
        "app01.corp.auditor.test",
        "srv-hardened.corp.auditor.test",
    }
    assert all(t["status"] != "failed" for t in report["targets"])
    domain = [r for r in report["results"] if r["target_id"] == "domain:corp.auditor.test"]
    found = {
        r["rule_id"]: {f["label"] for f in r["findings"]} for r in domain if r["status"] == "fail"
    }
    assert found == EXPECTED_DIRECTORY_FINDINGS
    for result in domain:
        for finding in result["findings"]:
            assert finding["evidence"], result["rule_id"]  # every finding explains itself
    errors = {r["rule_id"] for r in report["results"] if r["status"] == "error"}
    assert errors <= {"ad-delegation-privilege", "ad-ldap-channel-binding-enforced"}
    password = (lab_dir / "secrets" / "scan-password").read_text().strip()
    for artefact in tmp_path.iterdir():
        assert password not in artefact.read_text(errors="replace"), artefact


@pytest.mark.samba
def test_lab_hosts_accept_kerberos_from_the_lab_kdc(
    lab_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lab up` gave each host its keys: a TGT from the lab's KDC opens FS01 with Kerberos."""
    keytab = lab_dir / "secrets" / "host-keys" / "fs01.keytab"
    assert oct(keytab.stat().st_mode & 0o777) == "0o600"
    environment = kinit(
        lab_dir / "dc" / "etc" / "krb5.conf",
        f"{SCAN_ACCOUNT}@CORP.AUDITOR.TEST",
        (lab_dir / "secrets" / "scan-password").read_text().strip(),
        tmp_path / "ccache",
    )
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    fqdn = "fs01.corp.auditor.test"
    with (
        netmap.mapped({fqdn: f"{PREFIX}1.11"}),
        WSMan(fqdn, ssl=False, auth="kerberos", encryption="always", no_proxy=True) as wsman,
    ):
        config = wsman.get_server_config("config/service/auth")
        context = wsman.transport.session.auth.contexts[fqdn]  # type: ignore[union-attr]
    assert config.find(".//{*}Kerberos") is not None
    assert context.negotiated_protocol == "kerberos" and context.complete
