"""The air-gapped path decides what a WinRM scan decides: every lab host runs collect.ps1 with
the offline request (`auditor collector-script`), `auditor scan facts` reads the outputs, and
each host rule ends as it does in the online scan of the same host, WinRM's configuration
included. Only the rules that need a probe differ: a probe is the scanner's own connection to
the host's ports, which no output written on the host can carry, so offline they are `error`."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from auditor.collectors.winrm.request import collector_script, request_json
from auditor.credentials import Credentials
from auditor.engine.result import build_result
from auditor.lab.hosts import HostProfile
from auditor.pipeline import plan
from auditor.pipeline.hosts import wanted_by
from auditor.pipeline.plan import Flags
from auditor.results.vocabulary import Status
from auditor.rules.pack import load_pack
from tests.integration.lab.conftest import Lab
from tests.integration.lab.test_host_scan import FullScan, host_rules, scan

# The rules that cannot be decided without a probe of the host's ports (facts: probe.*).
PROBE_ONLY = {"rdp-nla-probe", "winrm-https-legacy-tls"}
# The rules judging the certificate a listener presents: offline they still fail on what the
# store shows, but a pass needs the live listener (its chain trusted, the name the scan used).
LIVE_CERTIFICATE = {"winrm-https-listener-certificate", "rdp-certificate"}


@pytest.fixture(scope="module")
def full_scan(lab: Lab) -> FullScan:
    return scan(lab)


def offline_output(lab: Lab, host: HostProfile, credentials: Credentials) -> str:
    """What collect.ps1 prints on the host for `auditor collector-script`'s request: here the
    lab host runs it (its responder answers from the profile, the WS-Man side included)."""
    https = not host.winrm.http
    client = WSMan(
        lab.definition.fqdn(host),
        port=host.winrm.https_port if https else host.winrm.http_port,
        ssl=https,
        username=credentials.username,
        password=credentials.password.reveal() if credentials.password else None,
        auth="ntlm",
        encryption="auto" if https else "always",
        cert_validation=str(lab.state.pki_dir / "lab-ca.pem"),
        no_proxy=True,
    )
    request = request_json(wanted_by(load_pack()), offline=True)  # what collector-script writes
    with RunspacePool(client) as pool:
        shell = PowerShell(pool)
        shell.add_script(collector_script()).add_parameter("RequestJson", request)
        output = shell.invoke()
    assert not shell.had_errors and len(output) == 1, shell.streams.error
    return str(output[0])


def statuses(results: list[tuple[str, str, str]]) -> dict[str, dict[str, str]]:
    by_host: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for target, rule, status in results:
        by_host[target.split(":", 1)[1]][rule] = status
    return dict(by_host)


def test_the_offline_path_decides_every_rule_the_winrm_scan_decides(
    lab: Lab, full_scan: FullScan, tmp_path: Path
) -> None:
    credentials = plan.credential_ref(lab.config, Flags()).resolve()
    files = []
    for host in lab.definition.hosts:
        path = tmp_path / f"{host.name}.json"
        path.write_text(offline_output(lab, host, credentials), encoding="utf-8")
        files.append(str(path))
    command = ["scan", "facts", *files, "-o", str(tmp_path / "out"), "-f", "json", "--quiet"]
    completed = subprocess.run(
        [sys.executable, "-m", "auditor", *command],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 3, completed.stderr  # undecided: the probe-only rules
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    offline = statuses(
        [
            (r["target_id"], r["rule_id"], r["status"])
            for r in report["results"]
            if r["target_id"].startswith("host:")
        ]
    )
    rules = host_rules()
    online = statuses(
        [
            (r.target_id, r.rule_id, r.status.value)
            for r in build_result(rules, full_scan[0], "online").results
        ]
    )
    assert set(offline) == set(online) == {lab.definition.fqdn(h) for h in lab.definition.hosts}
    for host in online:
        assert set(offline[host]) == set(online[host]) == {r.id for r in rules}
        differ = {rule for rule in online[host] if offline[host][rule] != online[host][rule]}
        assert differ <= PROBE_ONLY | LIVE_CERTIFICATE, (
            host,
            {r: (online[host][r], offline[host][r]) for r in differ},
        )
        for rule in differ & LIVE_CERTIFICATE:
            assert (online[host][rule], offline[host][rule]) == ("pass", "error"), (host, rule)
        for rule in PROBE_ONLY:
            assert offline[host][rule] == Status.ERROR.value, (host, rule)
    for rule in PROBE_ONLY:  # which the online scan does decide
        assert any(online[host][rule] != Status.ERROR.value for host in online), rule
    # WinRM's own configuration is decided offline: every winrm-* rule somewhere fails or passes
    winrm = {r.id for r in rules if r.id.startswith("winrm-")} - PROBE_ONLY
    decided = {
        rule
        for host in offline
        for rule, status in offline[host].items()
        if rule in winrm and status in (Status.PASS.value, Status.FAIL.value)
    }
    assert decided == winrm
