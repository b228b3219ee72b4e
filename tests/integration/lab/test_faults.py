"""Broken hosts (dropped connections, HTTP 500, bad XML, slowness, refused logons) never pass
and never stop the healthy ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.collectors.host import HostTarget
from auditor.engine.result import build_result
from auditor.errors import ExitCode
from auditor.facts.model import DocumentKind, Reason
from auditor.lab.definition import load_definition
from auditor.lab.pki import create_ca
from auditor.pipeline import plan
from auditor.pipeline.config import ScanConfig, parse_config
from auditor.pipeline.hosts import collect_hosts
from auditor.pipeline.plan import Flags
from auditor.pipeline.run import exit_code
from auditor.results.model import ScanResult, TargetStatus
from auditor.results.vocabulary import Severity, Status
from tests.integration.lab.conftest import Lab, relocated, start_lab

FAULTS = {
    "drop": ({"drop_connection": True}, Reason.PROTOCOL_ERROR, "connection"),
    "h500": ({"http_500": True}, Reason.PROTOCOL_ERROR, "HTTP 500"),
    "badxml": ({"malformed_xml": True}, Reason.PROTOCOL_ERROR, "XML"),
    "slow": ({"slow_seconds": 6.0}, Reason.TIMEOUT, "timeout"),
    "refused": ({"auth_refused": True}, Reason.AUTH_FAILED, "authentication refused"),
}


def targets_from(config: ScanConfig, names: list[str]) -> list[HostTarget]:
    hosts = plan.host_collection(config, Flags())
    return [hosts.target(n) for n in names]


@pytest.fixture(scope="module")
def faulty_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = relocated(load_definition(None), "127.16.")
    healthy = [h for h in base.hosts if h.name in ("FS01", "SRV-HARDENED")]
    template = healthy[0]
    broken = [
        dataclasses.replace(
            template,
            name=f"BAD-{name.upper()}",
            address=f"127.16.9.{i + 1}",
            faults=faults,
            expect_fail=(),
        )
        for i, (name, (faults, _, _)) in enumerate(FAULTS.items())
    ]
    definition = dataclasses.replace(base, hosts=(*healthy, *broken))
    yield from start_lab(tmp_path_factory.mktemp("faults"), definition)


def _scan(lab: Lab, only: set[str] | None = None) -> ScanResult:
    """Every host of the lab (or those named in `only`), collected together at concurrency 8."""
    raw = dict(lab.config.raw)
    raw["winrm"] = {**raw["winrm"], "operation_timeout": 2, "read_timeout": 3, "retries": 1}
    config = parse_config(raw, None)
    rules = [r for r in plan.select_rules(config) if r.scope.target is DocumentKind.HOST]
    names = [h for h in config.raw["hosts"] if only is None or h.split(".")[0] in only]
    targets = targets_from(config, names)
    docs = collect_hosts(
        targets,
        plan.host_settings(config, Flags()),
        plan.credential_ref(config, Flags()).resolve(),
        rules,
        8,
    ).documents
    return build_result(rules, docs, "faults")


@pytest.fixture(scope="module")
def faulty_scan(faulty_lab: Lab) -> ScanResult:
    return _scan(faulty_lab)


def test_faulty_hosts_are_errors_with_their_reason_and_healthy_hosts_complete(
    faulty_lab: Lab, faulty_scan: ScanResult
) -> None:
    result = faulty_scan
    by_target = {t.name.split(".")[0]: t for t in result.targets}
    for name, (_, reason, words) in FAULTS.items():
        target = by_target[f"bad-{name}"]
        assert target.status is TargetStatus.FAILED, name
        assert (target.reason or "").startswith(reason.value), (name, target.reason)
        assert words.lower() in (target.reason or "").lower(), (name, target.reason)
        mine = [r for r in result.results if r.target_id == target.id]
        assert mine
        assert {r.status for r in mine} == {Status.ERROR}, name  # never a pass, never a fail
    for host in ("fs01", "srv-hardened"):
        assert by_target[host].status is TargetStatus.COMPLETE
    healthy = {
        r.target_id.split(":")[1].split(".")[0]: r
        for r in result.results
        if r.status is Status.FAIL
    }
    expected = {h.name.lower() for h in faulty_lab.definition.hosts if h.expect_fail}
    assert set(healthy) == expected  # FS01's findings are all there despite its broken neighbours
    assert exit_code(result, Severity.HIGH) is ExitCode.INCOMPLETE


def test_healthy_hosts_get_the_results_of_a_fault_free_scan(
    faulty_lab: Lab, faulty_scan: ScanResult
) -> None:
    """Broken neighbours change nothing on a healthy host: same statuses, objects, evidence."""
    healthy = {"fs01", "srv-hardened"}
    alone = _scan(faulty_lab, healthy)

    def outcomes(result: ScanResult) -> dict[tuple[str, str], object]:
        return {
            (r.target_id, r.rule_id): (
                r.status,
                r.severity,
                r.reason,
                r.evidence,
                [(f.object, f.label, f.severity, f.evidence) for f in r.findings],
            )
            for r in result.results
            if r.target_id.split(":")[1].split(".")[0] in healthy
        }

    expected = outcomes(alone)
    assert expected and {t.status for t in alone.targets} == {TargetStatus.COMPLETE}
    assert outcomes(faulty_scan) == expected


def test_basic_over_http_is_refused_before_any_packet(faulty_lab: Lab) -> None:
    from auditor.errors import InputError

    raw = dict(faulty_lab.config.raw)
    raw["winrm"] = {**raw["winrm"], "auth": "basic", "transport": "http"}
    with pytest.raises(InputError, match="refusing Basic authentication over HTTP"):
        plan.host_settings(parse_config(raw, None), Flags())


def test_certificate_validation_failure_stops_the_host_unless_insecure(
    faulty_lab: Lab, tmp_path: Path
) -> None:
    other_ca = create_ca(tmp_path / "other-ca", "Some Other Root CA")  # not the lab's issuer
    raw = dict(faulty_lab.config.raw)
    raw["winrm"] = {**raw["winrm"], "transport": "https", "ca_bundle": str(other_ca.cert_path)}
    config = parse_config(raw, None)
    rules = [r for r in plan.select_rules(config) if r.id == "winrm-service-basic-auth"]
    targets = targets_from(config, ["srv-hardened.corp.auditor.test"])
    creds = plan.credential_ref(config, Flags()).resolve()
    docs = collect_hosts(targets, plan.host_settings(config, Flags()), creds, rules, 1).documents
    assert docs[0].failure is not None
    assert docs[0].failure.reason is Reason.TLS_ERROR
    assert "CA bundle" in docs[0].failure.detail
    insecure = plan.host_settings(config, Flags(insecure=True))
    docs = collect_hosts(targets, insecure, creds, rules, 1).documents
    assert docs[0].failure is None
