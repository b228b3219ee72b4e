"""Every status the engine can give, and that unknown is never pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auditor.engine.evaluate import evaluate
from auditor.engine.result import build_result
from auditor.errors import ExitCode
from auditor.facts.model import (
    Available,
    DocumentKind,
    FactDocument,
    Reason,
    Source,
    Target,
    Unavailable,
)
from auditor.pipeline.run import exit_code
from auditor.results.vocabulary import Severity, Status
from auditor.rules.loader import load_rules
from auditor.rules.model import Rule
from auditor.yamlio import load_text

RULE = """
id: {id}
title: Test rule passes
severity: medium
area: test
scope: {scope}
description: d
rationale: r
impact: i
remediation: {{text: t}}
references: ["https://example.invalid/"]
expected: e
fixtures:
  - {{name: p, expect: pass, facts: {{}}}}
  - {{name: f, expect: fail, facts: {{}}}}
  - {{name: e, expect: error, facts: {{}}}}
"""


def make_rule(tmp_path: Path, rule_id: str, extra: str, scope: str = "{target: host}") -> Rule:
    path = tmp_path / f"{rule_id}.yaml"
    path.write_text(RULE.format(id=rule_id, scope=scope) + extra)
    (rule,) = load_rules([path])
    return rule


def host(facts: dict[str, Any], registry: dict[str, Any] | None = None, **kw: Any) -> FactDocument:
    return FactDocument(
        Target(DocumentKind.HOST, "srv01"),
        {
            k: v if isinstance(v, Available | Unavailable) else Available(v)
            for k, v in facts.items()
        },
        "2026-01-01T00:00:00Z",
        registry=registry or {},
        **kw,
    )


@pytest.fixture
def basic_rule(tmp_path: Path) -> Rule:
    return make_rule(
        tmp_path,
        "basic",
        "facts: [winrm.service.auth.basic]\ncondition: '!winrm.service.auth.basic'\n"
        "evidence: {basic: winrm.service.auth.basic}\n",
    )


def test_pass_and_fail_with_evidence_and_source(basic_rule: Rule) -> None:
    ok = evaluate(basic_rule, host({"winrm.service.auth.basic": False}))
    assert (ok.status, ok.evidence) == (Status.PASS, {"basic": False})
    bad = evaluate(basic_rule, host({"winrm.service.auth.basic": Available(True, Source.POLICY)}))
    assert bad.status is Status.FAIL
    assert bad.sources == {"winrm.service.auth.basic": "policy"}
    assert bad.findings[0].evidence == {"basic": True}


@pytest.mark.parametrize("reason", list(Reason))
def test_unavailable_fact_is_error_never_pass(basic_rule: Rule, reason: Reason) -> None:
    result = evaluate(basic_rule, host({"winrm.service.auth.basic": Unavailable(reason, "x")}))
    assert result.status is Status.ERROR
    assert reason.value in (result.reason or "")


def test_missing_fact_is_error(basic_rule: Rule) -> None:
    result = evaluate(basic_rule, host({}))
    assert result.status is Status.ERROR
    assert "not_collected" in (result.reason or "")


def test_unreachable_target_is_error(basic_rule: Rule) -> None:
    doc = host({}, failure=Unavailable(Reason.HOST_UNREACHABLE, "connection refused"))
    result = evaluate(basic_rule, doc)
    assert result.status is Status.ERROR
    assert "connection refused" in (result.reason or "")


def test_role_scope_gives_not_applicable_and_unknown_roles_error(tmp_path: Path) -> None:
    rule = make_rule(
        tmp_path,
        "dc-only",
        "facts: [winrm.service.auth.basic]\ncondition: 'true'\n",
        scope="{target: host, roles: [domain_controller]}",
    )
    member = host({"winrm.service.auth.basic": True, "host.roles": ["member_server"]})
    dc = host({"winrm.service.auth.basic": True, "host.roles": ["domain_controller"]})
    unknown = host({"winrm.service.auth.basic": True})
    assert evaluate(rule, member).status is Status.NOT_APPLICABLE
    assert evaluate(rule, dc).status is Status.PASS
    assert evaluate(rule, unknown).status is Status.ERROR


def test_null_condition_is_error(tmp_path: Path) -> None:
    rule = make_rule(
        tmp_path,
        "maybe",
        "optional_facts: [winrm.service.auth.basic]\n"
        "condition: 'winrm.service.auth.basic == null ? null : !winrm.service.auth.basic'\n",
    )
    assert evaluate(rule, host({})).status is Status.ERROR
    assert evaluate(rule, host({"winrm.service.auth.basic": True})).status is Status.FAIL


def test_non_boolean_condition_is_error(tmp_path: Path) -> None:
    rule = make_rule(tmp_path, "num", "facts: [winrm.service.auth.basic]\ncondition: '1'\n")
    result = evaluate(rule, host({"winrm.service.auth.basic": True}))
    assert result.status is Status.ERROR
    assert "not true/false" in (result.reason or "")


REG = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WinRM\\Service\\AllowBasic"
LOCAL = "HKLM\\SOFTWARE\\Microsoft\\Windows\\WinRM\\Service\\AllowBasic"


def reg(data: Any) -> Available:
    if data is None:
        return Available({"present": False, "type": None, "data": None})
    return Available({"present": True, "type": "REG_DWORD", "data": data})


@pytest.fixture
def reg_rule(tmp_path: Path) -> Rule:
    return make_rule(
        tmp_path,
        "reg",
        f"registry:\n  basic: {{policy: '{REG}', local: '{LOCAL}', default: 0}}\n"
        "condition: 'reg.basic.value == 0'\nevidence: {value: reg.basic.value, source: reg.basic.source}\n",
    )


@pytest.mark.parametrize(
    ("policy", "local", "status", "source"),
    [
        (1, 0, Status.FAIL, "policy"),  # policy wins over local
        (0, 1, Status.PASS, "policy"),
        (None, 1, Status.FAIL, "local"),
        (None, None, Status.PASS, "default"),
    ],
)
def test_registry_policy_over_local_over_default(
    reg_rule: Rule, policy: Any, local: Any, status: Status, source: str
) -> None:
    result = evaluate(reg_rule, host({}, registry={REG: reg(policy), LOCAL: reg(local)}))
    assert result.status is status
    assert result.evidence["source"] == source


def test_registry_lookup_ignores_case(reg_rule: Rule) -> None:
    result = evaluate(reg_rule, host({}, registry={REG.upper(): reg(1), LOCAL: reg(0)}))
    assert result.status is Status.FAIL


def test_unreadable_registry_is_error_unless_policy_decides(reg_rule: Rule) -> None:
    denied = Unavailable(Reason.ACCESS_DENIED, "")
    assert (
        evaluate(reg_rule, host({}, registry={REG: denied, LOCAL: reg(0)})).status is Status.ERROR
    )
    assert evaluate(reg_rule, host({}, registry={REG: reg(1), LOCAL: denied})).status is Status.FAIL


ACCOUNTS = [
    {"dn": "CN=a", "sam": "a", "admin": True, "old": False},
    {"dn": "CN=b", "sam": "b", "admin": False, "old": True},
    {"dn": "CN=c", "sam": "c", "admin": False, "old": False},
]


def test_object_rule_one_finding_per_object_with_escalation(tmp_path: Path) -> None:
    rule = make_rule(
        tmp_path,
        "objs",
        "facts: [accounts]\nobjects:\n  from: accounts\n  where: obj.admin || obj.old\n"
        "  key: obj.dn\n  label: obj.sam\n  evidence: {name: obj.sam}\n"
        "  escalate: [{when: obj.admin, severity: critical}]\n",
        scope="{target: domain}",
    )
    doc = FactDocument(
        Target(DocumentKind.DOMAIN, "corp"),
        {"accounts": Available(ACCOUNTS)},
        "2026-01-01T00:00:00Z",
    )
    result = evaluate(rule, doc)
    assert result.status is Status.FAIL
    assert result.severity is Severity.CRITICAL
    assert [(f.object, f.label, f.severity, dict(f.evidence)) for f in result.findings] == [
        ("CN=a", "a", Severity.CRITICAL, {"name": "a"}),
        ("CN=b", "b", Severity.MEDIUM, {"name": "b"}),
    ]
    clean = FactDocument(doc.target, {"accounts": Available(ACCOUNTS[2:])}, doc.collected_at)
    assert evaluate(rule, clean).status is Status.PASS


def test_exit_codes(basic_rule: Rule) -> None:
    passing = build_result([basic_rule], [host({"winrm.service.auth.basic": False})], "t")
    failing = build_result([basic_rule], [host({"winrm.service.auth.basic": True})], "t")
    broken = build_result([basic_rule], [host({})], "t")
    assert exit_code(passing, Severity.HIGH) is ExitCode.CLEAN
    assert exit_code(failing, Severity.HIGH) is ExitCode.CLEAN  # medium < high
    assert exit_code(failing, Severity.MEDIUM) is ExitCode.FINDINGS
    assert exit_code(broken, Severity.LOW) is ExitCode.INCOMPLETE


def test_yaml_loader_is_safe() -> None:
    from auditor.yamlio import YamlProblem

    with pytest.raises(YamlProblem):
        load_text("!!python/object/apply:os.system ['echo pwned']")


def test_object_rule_with_undecided_object_is_error(tmp_path: Path) -> None:
    rule = make_rule(
        tmp_path,
        "maybe-objs",
        "facts: [accounts]\nobjects:\n  from: accounts\n  where: 'obj.admin == null ? null : obj.admin'\n"
        "  key: obj.dn\n",
        scope="{target: domain}",
    )
    accounts = [{"dn": "CN=a", "admin": True}, {"dn": "CN=b", "admin": None}]
    doc = FactDocument(
        Target(DocumentKind.DOMAIN, "corp"),
        {"accounts": Available(accounts)},
        "2026-01-01T00:00:00Z",
    )
    result = evaluate(rule, doc)
    assert result.status is Status.ERROR
    assert result.reason == "objects.where is undecided for CN=b"


def test_role_scope_is_decided_before_the_rules_facts(tmp_path: Path) -> None:
    rule = make_rule(
        tmp_path,
        "dc-setting",
        "facts: [winrm.service.auth.basic]\ncondition: 'true'\n",
        scope="{target: host, roles: [domain_controller]}",
    )
    member = host({"host.roles": ["member_server"]})  # the rule's own fact was not collected
    assert evaluate(rule, member).status is Status.NOT_APPLICABLE


@pytest.mark.parametrize("text", ["d: 2025-02-30", "x: !!timestamp x", 'x: "\\U00110000"'])
def test_yaml_values_pyyaml_cannot_construct_are_clean_errors(text: str) -> None:
    from auditor.yamlio import YamlProblem

    with pytest.raises(YamlProblem, match="invalid YAML"):
        load_text(text)


def test_object_rules_across_chunk_boundaries_keep_order_and_every_offender(tmp_path: Path) -> None:
    rule = make_rule(
        tmp_path,
        "many",
        "facts: [accounts]\nobjects:\n  from: accounts\n  where: obj.bad\n  key: obj.dn\n"
        "  evidence: {n: obj.n}\n",
        scope="{target: domain}",
    )
    bad = {0, 63, 64, 127, 128, 199}
    accounts = [{"dn": f"CN={i}", "n": i, "bad": i in bad} for i in range(200)]
    doc = FactDocument(
        Target(DocumentKind.DOMAIN, "corp"),
        {"accounts": Available(accounts)},
        "2026-01-01T00:00:00Z",
    )
    result = evaluate(rule, doc)
    assert [f.object for f in result.findings] == [f"CN={i}" for i in sorted(bad)]
    assert [f.evidence["n"] for f in result.findings] == sorted(bad)
