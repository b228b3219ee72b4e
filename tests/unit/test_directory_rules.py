"""The Active Directory rules end to end on examples/domain.json: exact offenders, severities."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from auditor.engine.evaluate import evaluate, evaluate_all
from auditor.facts.io import load_documents
from auditor.facts.model import FactDocument, Reason, Unavailable
from auditor.results.model import RuleResult
from auditor.results.vocabulary import Severity, Status
from auditor.rules.fixtures import fixture_document
from auditor.rules.loader import load_rules
from auditor.rules.model import Rule

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "domain.json"
DOMAIN_SID = "S-1-5-21-3623811015-3361044348-30300820"
BASE = "DC=corp,DC=auditor,DC=test"
HOSTILE_GROUP = "<script>alert(1)</script> \"Ops\" 'Ünïcødé — 管理'"


def users(*names: str) -> set[str]:
    return {f"CN={n},CN=Users,{BASE}" for n in names}


def services(*names: str) -> set[str]:
    return {f"CN={n},OU=Service Accounts,{BASE}" for n in names}


def servers(*names: str) -> set[str]:
    return {f"CN={n},OU=Servers,{BASE}" for n in names}


# Rule id -> the exact offending objects in the example (None: a single-value rule that fails).
EXPECTED: dict[str, set[str] | None] = {
    "ad-unconstrained-delegation": servers("FS01") | services("svc_oldweb"),
    "ad-protocol-transition": servers("WEB01"),
    "ad-constrained-delegation-targets": services("svc_backup", "svc_oldapp"),
    "ad-rbcd": servers("SQL01"),
    "ad-privileged-accounts-delegable": users("adm_alice", "ops_dave", "tmp_contractor")
    | services("svc_deploy"),
    "ad-asrep-roastable": users("vpn_legacy"),
    "ad-kerberoastable-users": services("svc_sql", "svc_iis", "svc_backup", "svc_oldapp"),
    "ad-password-not-required": users("scanner_svc"),
    "ad-reversible-password-encryption": users("legacy_auth"),
    "ad-des-kerberos-keys": users("unix_old"),
    "ad-krbtgt-password-age": users("krbtgt"),
    "ad-machine-account-quota": None,
    "ad-privileged-group-size": {f"CN=Administrators,CN=Builtin,{BASE}"},
    "ad-remote-access-groups": {
        f"CN=Remote Management Users,CN=Builtin,{BASE}",
        f"CN=Remote Desktop Users,CN=Builtin,{BASE}",
    },
    "ad-ldap-signing-enforced": None,
    "ad-ldap-channel-binding-enforced": None,
    "ad-password-min-length": None,
    "ad-account-lockout-threshold": None,
    "ad-privileged-password-never-expires": users("Administrator")
    | services("svc_deploy", "svc_sccm"),
    "ad-disabled-privileged-accounts": users("former_admin"),
    "ad-delegation-privilege": {f"{DOMAIN_SID}-1450"},
}


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    return load_rules([ROOT / "rules" / "directory"])


@pytest.fixture(scope="module")
def domain() -> FactDocument:
    (document,) = load_documents(EXAMPLE)
    return document


@pytest.fixture(scope="module")
def results(rules: list[Rule], domain: FactDocument) -> dict[str, RuleResult]:
    return {r.rule_id: r for r in evaluate_all(rules, [domain])}


def test_every_directory_rule_is_covered(rules: list[Rule]) -> None:
    assert {r.id for r in rules} == set(EXPECTED)


def test_example_is_one_valid_domain_document(domain: FactDocument) -> None:
    assert domain.target.name == "corp.auditor.test"
    assert domain.target.kind.value == "domain"


@pytest.mark.parametrize("rule_id", sorted(EXPECTED))
def test_exact_offenders_on_the_example(results: dict[str, RuleResult], rule_id: str) -> None:
    result = results[rule_id]
    assert result.status is Status.FAIL, result.reason
    expected = EXPECTED[rule_id]
    if expected is None:
        assert [f.object for f in result.findings] == [None]
    else:
        assert {f.object for f in result.findings} == expected


def test_clean_objects_are_never_reported(results: dict[str, RuleResult]) -> None:
    clean = {
        f"CN=DC1,OU=Domain Controllers,{BASE}",
        f"CN=RODC1,OU=Domain Controllers,{BASE}",
        f"CN=APP01,OU=Servers,{BASE}",
        f"CN=SRV-HARDENED,OU=Servers,{BASE}",
        *users("adm_bob", "adm_carol", "jsmith", "Guest", "helpdesk"),
    }
    reported = {f.object for r in results.values() for f in r.findings}
    assert not clean & reported


def test_severities_follow_the_escalations(results: dict[str, RuleResult]) -> None:
    kerberoast = {f.label: f.severity for f in results["ad-kerberoastable-users"].findings}
    assert kerberoast == {
        "svc_sql": Severity.HIGH,  # password 1462 days old
        "svc_oldapp": Severity.HIGH,  # 900 days
        "svc_iis": Severity.MEDIUM,  # 45 days, unprivileged
        "svc_backup": Severity.MEDIUM,  # 200 days, unprivileged
    }
    assert results["ad-kerberoastable-users"].severity is Severity.HIGH
    assert results["ad-krbtgt-password-age"].severity is Severity.HIGH  # 412 days > 365
    assert results["ad-unconstrained-delegation"].severity is Severity.CRITICAL


def test_disabled_accounts_say_so(results: dict[str, RuleResult]) -> None:
    by_label = {f.label: f for f in results["ad-unconstrained-delegation"].findings}
    assert by_label["svc_oldweb"].evidence["enabled"] is False
    assert by_label["svc_oldweb"].evidence["status"].startswith("disabled")
    assert by_label["FS01$"].evidence["status"].startswith("enabled")


def test_hostile_strings_survive_unchanged(results: dict[str, RuleResult]) -> None:
    (holder,) = results["ad-delegation-privilege"].findings
    assert holder.label == HOSTILE_GROUP
    assert holder.evidence["granted_by"] == "Default Domain Controllers Policy"
    (asrep,) = results["ad-asrep-roastable"].findings
    assert "<script>alert(1)</script>" in asrep.evidence["description"]
    assert "Ünïcødé — 管理" in asrep.evidence["description"]
    text = json.dumps(results["ad-delegation-privilege"].to_json(), ensure_ascii=False)
    assert HOSTILE_GROUP in json.loads(text)["findings"][0]["label"]


def test_parameters_override_the_thresholds(rules: list[Rule], domain: FactDocument) -> None:
    params = {
        "ad-privileged-group-size": {"max_members": 20},
        "ad-kerberoastable-users": {"kerberoast_password_age_days": 5000},
        "ad-krbtgt-password-age": {"krbtgt_max_age_days": 500, "krbtgt_high_age_days": 1000},
    }
    results = {r.rule_id: r for r in evaluate_all(rules, [domain], params)}
    assert results["ad-privileged-group-size"].status is Status.PASS
    assert results["ad-krbtgt-password-age"].status is Status.PASS
    kerberoast = results["ad-kerberoastable-users"]
    assert {f.severity for f in kerberoast.findings} == {Severity.MEDIUM}


def test_unknown_is_never_pass(rules: list[Rule], domain: FactDocument) -> None:
    missing = Unavailable(Reason.ACCESS_DENIED, "bind refused")
    blind = dataclasses.replace(domain, facts={name: missing for name in domain.facts})
    for result in evaluate_all(rules, [blind]):
        assert result.status is Status.ERROR, result.rule_id
        assert "access_denied" in (result.reason or "")


# Fixture cases whose point is the escalated severity, which fixtures cannot assert themselves.
ESCALATIONS = [
    ("ad-protocol-transition", "a web server with protocol transition", Severity.HIGH),
    (
        "ad-protocol-transition",
        "a domain controller with protocol transition (escalated to critical)",
        Severity.CRITICAL,
    ),
    (
        "ad-constrained-delegation-targets",
        "a backup agent delegating to services on the DC",
        Severity.HIGH,
    ),
    (
        "ad-constrained-delegation-targets",
        "delegation to krbtgt with protocol transition (escalated to critical)",
        Severity.CRITICAL,
    ),
    ("ad-rbcd", "a quota-created computer may act on behalf of users to a server", Severity.HIGH),
    (
        "ad-rbcd",
        "RBCD on the domain controller and on krbtgt (escalated to critical)",
        Severity.CRITICAL,
    ),
    ("ad-rbcd", "RBCD on a domain admin's account", Severity.CRITICAL),
    ("ad-asrep-roastable", "an ordinary VPN account without pre-authentication", Severity.HIGH),
    (
        "ad-asrep-roastable",
        "a privileged account without pre-authentication (escalated to critical)",
        Severity.CRITICAL,
    ),
    ("ad-kerberoastable-users", "a recent, unprivileged service account (medium)", Severity.MEDIUM),
    (
        "ad-kerberoastable-users",
        "an old password and a privileged service account (escalated to high)",
        Severity.HIGH,
    ),
    (
        "ad-kerberoastable-users",
        "a 7-day age limit (params) escalates the same account, the object list is unchanged",
        Severity.HIGH,
    ),
    ("ad-krbtgt-password-age", "changed 200 days ago (medium)", Severity.MEDIUM),
    ("ad-krbtgt-password-age", "never changed since the domain was built (high)", Severity.HIGH),
]


@pytest.mark.parametrize(("rule_id", "fixture_name", "severity"), ESCALATIONS)
def test_fixture_severities(
    rules: list[Rule], rule_id: str, fixture_name: str, severity: Severity
) -> None:
    rule = next(r for r in rules if r.id == rule_id)
    fixture = next(f for f in rule.fixtures if f.name == fixture_name)
    result = evaluate(rule, fixture_document(rule, fixture), fixture.params)
    assert result.status is Status.FAIL
    assert {f.severity for f in result.findings} == {severity}
