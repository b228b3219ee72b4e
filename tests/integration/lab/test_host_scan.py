"""`auditor scan host` against the lab's emulated hosts: every profile gives its seeded findings."""

from __future__ import annotations

import collections
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.collectors.host import HostTarget
from auditor.engine.result import build_result
from auditor.facts.model import Available, DocumentKind, FactDocument
from auditor.facts.schema import schema_errors
from auditor.pipeline import plan
from auditor.pipeline.config import ScanConfig
from auditor.pipeline.hosts import collect_hosts
from auditor.pipeline.plan import Flags
from auditor.results.vocabulary import Status
from auditor.rules.model import Rule
from tests.integration.lab.conftest import Lab

# Get config, Enumerate listeners, then the PSRP shell: Create, Receive, Command,
# Receive (one more when the answer is large), Delete. Documented in docs/collectors.md.
MAX_MESSAGES_PER_HOST = 8


def host_rules() -> list[Rule]:
    from auditor.pipeline.config import parse_config

    return [
        r
        for r in plan.select_rules(parse_config(None, None))
        if r.scope.target is DocumentKind.HOST
    ]


def targets_from(config: ScanConfig, names: list[str]) -> list[HostTarget]:
    hosts = plan.host_collection(config, Flags())
    return [hosts.target(n) for n in names]


def scan(lab: Lab, probe_only: bool = False) -> tuple[list[FactDocument], list[dict[str, object]]]:
    rules = host_rules()
    if probe_only:
        rules = plan.probe_rules(rules)
    settings = plan.host_settings(lab.config, Flags())
    creds = None if probe_only else plan.credential_ref(lab.config, Flags()).resolve()
    targets = targets_from(lab.config, list(lab.config.raw["hosts"]))
    infos: dict[str, dict[str, object]] = {}
    docs = collect_hosts(
        targets, settings, creds, rules, 4, lambda d, i: infos.__setitem__(d.target.name, i)
    ).documents
    return docs, [infos[d.target.name] for d in docs]


FullScan = tuple[list[FactDocument], list[dict[str, object]]]


@pytest.fixture(scope="module")
def full_scan(lab: Lab) -> FullScan:
    return scan(lab)


def test_every_profile_fails_exactly_its_seeded_rules(
    lab: Lab, full_scan: tuple[list[FactDocument], list[dict[str, object]]]
) -> None:
    docs, _ = full_scan
    result = build_result(host_rules(), docs, "test")
    failing = collections.defaultdict(set)
    errors = [
        (r.target_id, r.rule_id, r.reason) for r in result.results if r.status is Status.ERROR
    ]
    for r in result.results:
        if r.status is Status.FAIL:
            failing[r.target_id].add(r.rule_id)
    assert errors == []
    for host in lab.definition.hosts:
        assert failing[f"host:{lab.definition.fqdn(host)}"] == set(host.expect_fail), host.name


def test_hardened_host_passes_everything_applicable(
    lab: Lab, full_scan: tuple[list[FactDocument], list[dict[str, object]]]
) -> None:
    docs, _ = full_scan
    hardened = next(d for d in docs if d.target.name.startswith("srv-hardened"))
    result = build_result(host_rules(), [hardened], "test")
    statuses = collections.Counter(r.status for r in result.results)
    assert statuses[Status.FAIL] == 0
    assert statuses[Status.ERROR] == 0
    assert statuses[Status.PASS] > 20


def test_every_host_rule_is_raised_somewhere_in_the_lab(lab: Lab) -> None:
    seeded = {rule for host in lab.definition.hosts for rule in host.expect_fail}
    assert {r.id for r in host_rules()} <= seeded


def test_fact_documents_validate_against_the_schema(
    full_scan: tuple[list[FactDocument], list[dict[str, object]]],
) -> None:
    for doc in full_scan[0]:
        assert schema_errors(doc.to_json(), DocumentKind.HOST) == [], doc.target.name


def test_round_trips_are_few(full_scan: tuple[list[FactDocument], list[dict[str, object]]]) -> None:
    counts = [int(str(i["messages"])) for i in full_scan[1]]
    assert all(5 <= c <= MAX_MESSAGES_PER_HOST for c in counts), counts


def test_transport_is_https_only_where_the_certificate_validates(
    full_scan: tuple[list[FactDocument], list[dict[str, object]]],
) -> None:
    docs, infos = full_scan
    transports = {
        d.target.name.split(".")[0]: str(i["transport"]) for d, i in zip(docs, infos, strict=True)
    }
    assert transports == {
        "dc1": "HTTP with message encryption (no HTTPS listener)",
        "fs01": "HTTP with message encryption (no HTTPS listener)",
        "jump01": "HTTPS (listener certificate validated)",
        "web01": "HTTP with message encryption (HTTPS certificate did not validate)",  # self-signed
        "wks01": "HTTP with message encryption (no HTTPS listener)",
        "app01": "HTTP with message encryption (no HTTPS listener)",  # HTTPS moved to 8443
        "srv-hardened": "HTTPS (listener certificate validated)",
    }


def test_collector_answers_match_the_profiles(
    lab: Lab, full_scan: tuple[list[FactDocument], list[dict[str, object]]]
) -> None:
    docs = {d.target.name.split(".")[0]: d for d in full_scan[0]}
    web = docs["web01"].facts
    assert isinstance(web["iis.sites"], Available)
    assert web["iis.sites"].value[0]["name"].startswith("Intranet <img src=x")
    assert web["winhttp.proxy"] == Available(
        {"direct": False, "proxy_server": "proxy.corp.auditor.test:8080", "bypass": "<local>"},
        web["winhttp.proxy"].source,
    )
    jump = docs["jump01"].facts
    assert isinstance(jump["ssh.sshd_config"], Available)
    ssh = jump["ssh.sshd_config"].value  # refused globally, turned on by a Match block
    assert ssh["password_authentication"] is False
    assert [
        (b["criteria"], b["password_authentication"])
        for b in ssh["password_authentication_match_blocks"]
    ] == [("Address 192.168.0.0/16", True)]
    assert isinstance(jump["winrm.client.trusted_hosts"], Available)
    assert jump["winrm.client.trusted_hosts"].value == "*"
    fs = docs["fs01"].facts
    basic = fs["winrm.service.auth.basic"]
    assert isinstance(basic, Available)
    assert (basic.value, basic.source.value if basic.source else None) == (True, "policy")
    assert isinstance(fs["winrm.listeners"], Available)
    assert [x["transport"] for x in fs["winrm.listeners"].value] == ["HTTP"]


def test_probe_only_scan_finds_the_credential_free_findings(lab: Lab) -> None:
    docs, infos = scan(lab, probe_only=True)
    assert all(i["transport"] is None and i["messages"] == 0 for i in infos)  # no login at all
    rules = plan.probe_rules(host_rules())
    result = build_result(rules, docs, "probe-only")
    fails = {
        (r.target_id.split(":")[1].split(".")[0], r.rule_id)
        for r in result.results
        if r.status is Status.FAIL
    }
    # WKS01's RDP listener is on 3390: without WinRM to say so, the probe stays on 3389
    # (test_reported_ports.py); a WinRM scan finds standard RDP security accepted there.
    assert ("wks01", "rdp-nla-probe") not in fails
    assert ("fs01", "winrm-service-basic-auth") in fails  # the 401 offers Basic over HTTP
    assert ("web01", "winrm-https-legacy-tls") in fails  # TLS 1.0 accepted on 5986
    assert not any(t.startswith("srv-hardened") for t, _ in fails)


def test_scan_host_command_writes_reports(lab: Lab, tmp_path: Path) -> None:
    config = tmp_path / "scan.yaml"
    config.write_text(json.dumps(dict(lab.config.raw)))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditor",
            "scan",
            "host",
            "--config",
            str(config),
            "-o",
            str(tmp_path / "out"),
            "-f",
            "json",
            "-f",
            "html",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 1, (
        completed.stderr
    )  # findings at or above high, nothing undecided
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"]["targets"] == len(lab.definition.hosts)
    assert (tmp_path / "out" / "report.html").stat().st_size > 10_000
    assert lab.password not in completed.stdout + completed.stderr
    assert lab.password not in (tmp_path / "out" / "report.json").read_text()


def test_host_groups_add_roles_and_parameters(lab: Lab) -> None:
    from auditor.pipeline.config import parse_config

    raw = dict(lab.config.raw)
    raw["host_groups"] = {"jump": {"hosts": ["jump01.*"], "roles": ["jump_host"]}}
    config = parse_config(raw, None)
    targets = targets_from(config, ["jump01.corp.auditor.test"])
    assert targets[0].extra_roles == ("jump_host",)
    rules = [r for r in host_rules() if r.id == "winrm-service-credssp"]
    docs = collect_hosts(
        targets,
        plan.host_settings(config, Flags()),
        plan.credential_ref(config, Flags()).resolve(),
        rules,
        1,
    ).documents
    result = build_result(rules, docs, "test")
    assert [r.status for r in result.results] == [
        Status.PASS
    ]  # an approved jump host may use CredSSP
    assert dataclasses.is_dataclass(docs[0].target)


def test_environment_proxies_are_not_used(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a configured proxy may carry the scanner's traffic (and credentials)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.9:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    rules = [r for r in host_rules() if r.id == "winrm-service-basic-auth"]
    targets = targets_from(lab.config, ["fs01.corp.auditor.test", "jump01.corp.auditor.test"])
    docs = collect_hosts(
        targets,
        plan.host_settings(lab.config, Flags()),
        plan.credential_ref(lab.config, Flags()).resolve(),
        rules,
        2,
    ).documents
    assert [d.failure for d in docs] == [None, None]
