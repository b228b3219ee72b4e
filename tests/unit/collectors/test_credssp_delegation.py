"""CredSSP delegation: the CredentialsDelegation key read whole by collect.ps1, every list judged
in Python (auditor/collectors/credssp.py), and the rule that reports wildcards."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from auditor.collectors.credssp import KEY, POLICIES, delegation, reach
from auditor.collectors.winrm.request import build_request
from auditor.collectors.winrm.response import parse_response
from auditor.engine.evaluate import evaluate
from auditor.facts.model import Available, DocumentKind, FactDocument, Target
from auditor.lab.hosts import HostProfile
from auditor.lab.responder import CollectorResponder, HostMaterial
from auditor.pipeline.hosts import wanted_by
from auditor.results.vocabulary import Severity, Status
from auditor.rules.pack import load_pack

DOCS = Path(__file__).resolve().parents[2] / "data" / "windows" / "credssp"
RULE = next(r for r in load_pack() if r.id == "winrm-credssp-delegation-wildcard")


def documented_policies() -> dict[str, str]:
    """Policy -> its description, for each policy of the key in Microsoft's Policy CSP page."""
    text = (DOCS / "policy-csp-admx-credssp.md").read_text("utf-8")
    found = {}
    for name, body in re.findall(r"^## (\w+)\n(.*?)<!-- \1-End -->", text, re.S | re.M):
        key = re.search(r"\| Registry Key Name \| (.+?) \|", body)
        value = re.search(r"\| Registry Value Name \| (.+?) \|", body)
        assert key is not None and value is not None and value.group(1) == name, name
        if ("HKLM\\" + key.group(1)).lower() == KEY.lower():
            found[name] = body
    return found


def test_the_policies_read_are_the_documented_spn_lists() -> None:
    documented = documented_policies()
    assert "RestrictedRemoteAdministration" in documented  # the page is read whole
    lists = {n for n, body in documented.items() if "Service Principal Names (SPNs)" in body}
    assert lists == set(POLICIES)
    assert {n for n in lists if n.startswith("Deny")} == {n for n, p in POLICIES.items() if p.deny}


def test_the_documented_example_spns_reach_what_the_documentation_says() -> None:
    body = documented_policies()["AllowFreshCredentialsWhenNTLMOnly"]
    examples = dict(
        re.findall(r"^(TERMSRV/\S+) Remote Desktop Session Host running on (.+)$", body, re.M)
    )
    assert {spn: reach(spn) for spn in examples} == {
        "TERMSRV/host.humanresources.fabrikam.com": "one_host",  # "... on host... machine."
        "TERMSRV/*": "any_host",  # "... on all machines."
        "TERMSRV/*.humanresources.fabrikam.com": "some_hosts",  # "... all machines in ..."
    }
    assert examples["TERMSRV/*"] == "all machines."


def entry(data: object, kind: str = "REG_SZ") -> dict[str, Any]:
    return {"present": True, "type": kind, "data": data}


def tree(values: dict[str, Any], subkeys: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The key as collect.ps1's Get-RegistryKeyValues returns it."""
    return {
        "present": True,
        "values": values,
        "subkeys": {
            name: {"present": True, "values": listed, "subkeys": {}}
            for name, listed in subkeys.items()
        },
    }


# What Enable-WSManCredSSP -Role Client -DelegateComputer * writes (PowerShell's CredSSP.cs,
# UpdateGPORegistrySettings): the policy and "concatenate OS defaults" on, value 1 = "wsman/*".
ENABLE_WSMANCREDSSP_STAR = tree(
    {"AllowFreshCredentials": entry(1, "REG_DWORD"),
     "ConcatenateDefaults_AllowFresh": entry(1, "REG_DWORD")},
    {"AllowFreshCredentials": {"1": entry("wsman/*")}},
)  # fmt: skip


def wildcards(fact: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (d["policy"], d["pattern"])
        for d in fact["delegations"]
        if d["reach"] == "any_host" and d["denied_by"] is None
    ]


def test_what_enable_wsmancredssp_writes_is_a_wildcard() -> None:
    fact = delegation(ENABLE_WSMANCREDSSP_STAR)
    fresh = next(p for p in fact["policies"] if p["policy"] == "AllowFreshCredentials")
    assert fresh == {
        "policy": "AllowFreshCredentials",
        "credentials": "fresh",
        "ntlm_only": False,
        "deny": False,
        "state": "enabled",
        "concatenate_defaults": True,
        "entries": ["wsman/*"],
    }
    assert wildcards(fact) == [("AllowFreshCredentials", "wsman/*")]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", "any_host"),
        ("*/*", "any_host"),
        ("WSMAN/*", "any_host"),
        (" termsrv/* ", "any_host"),
        ("HTTP/*", "any_host"),
        ("wsman/*.corp.example.com", "some_hosts"),
        ("wsman/jump*", "some_hosts"),
        ("WSMAN/jump01.corp.example.com", "one_host"),
        ("jump01", "one_host"),
    ],
)
def test_reach_of_a_pattern(pattern: str, expected: str) -> None:
    assert reach(pattern) == expected


def test_every_list_every_entry_any_value_name() -> None:
    named = {str(i): entry(f"WSMAN/h{i}.corp.example.com") for i in range(1, 12)}
    named["12"] = entry("WSMAN/*")  # past the ten values the old rule read
    fact = delegation(
        tree(
            {
                "allowfreshcredentials": entry(1, "REG_DWORD"),  # names are case-blind
                "AllowSavedCredentials": entry(1, "REG_DWORD"),
                "AllowDefCredentialsWhenNTLMOnly": entry(1, "REG_DWORD"),
                "AllowDefaultCredentials": entry(0, "REG_DWORD"),  # disabled: its list is moot
            },
            {
                "AllowFreshCredentials": named,
                "AllowSavedCredentials": {"TermSrv": entry("TERMSRV/*"), "2": entry("")},
                "AllowDefCredentialsWhenNTLMOnly": {"1": entry("*/*")},
                "AllowDefaultCredentials": {"1": entry("*")},
                "AllowFreshCredentialsWhenNTLMOnly": {"1": entry("*")},  # never enabled
            },
        )
    )
    assert wildcards(fact) == [
        ("AllowDefCredentialsWhenNTLMOnly", "*/*"),
        ("AllowFreshCredentials", "WSMAN/*"),
        ("AllowSavedCredentials", "TERMSRV/*"),
    ]
    states = {p["policy"]: p["state"] for p in fact["policies"]}
    assert states["AllowDefaultCredentials"] == "disabled"
    assert states["AllowFreshCredentialsWhenNTLMOnly"] == "not_configured"
    fresh = next(p for p in fact["policies"] if p["policy"] == "AllowFreshCredentials")
    assert fresh["entries"][-3:] == [
        "WSMAN/h10.corp.example.com",
        "WSMAN/h11.corp.example.com",
        "WSMAN/*",
    ]  # numbered values in number order, not text order


def test_a_deny_list_takes_back_only_what_it_covers() -> None:
    fact = delegation(
        tree(
            {
                "AllowFreshCredentials": entry(1, "REG_DWORD"),
                "AllowSavedCredentials": entry(1, "REG_DWORD"),
                "DenyFreshCredentials": entry(1, "REG_DWORD"),
                "DenySavedCredentials": entry(1, "REG_DWORD"),
            },
            {
                "AllowFreshCredentials": {"1": entry("WSMAN/*"), "2": entry("TERMSRV/*")},
                "DenyFreshCredentials": {"1": entry("wsman/*")},
                "AllowSavedCredentials": {"1": entry("*")},
                "DenySavedCredentials": {"1": entry("TERMSRV/*")},  # not all of "*"
            },
        )
    )
    denied = {(d["policy"], d["pattern"]): d["denied_by"] for d in fact["delegations"]}
    assert denied == {
        ("AllowFreshCredentials", "WSMAN/*"): "DenyFreshCredentials: wsman/*",
        ("AllowFreshCredentials", "TERMSRV/*"): None,
        ("AllowSavedCredentials", "*"): None,
    }


def test_an_absent_key_delegates_nothing() -> None:
    fact = delegation({"present": False, "values": {}, "subkeys": {}})
    assert fact["delegations"] == []
    assert {p["state"] for p in fact["policies"]} == {"not_configured"}


def _document(answer: str, sections: list[str]) -> FactDocument:
    facts, registry = parse_response(answer, sections)
    return FactDocument(Target(DocumentKind.HOST, "h.corp.test"), facts, "now", "t", registry)


def test_the_rule_fails_on_wildcards_past_the_tenth_value_and_in_other_lists(
    tmp_path: Path,
) -> None:
    """Failed before: the rule read AllowFreshCredentials\\1..10 only, for WSMAN/* only, so this
    host (ten named hosts, then WSMAN/*; TERMSRV/* for saved credentials) was an error."""
    policy = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\CredentialsDelegation"
    registry: dict[str, Any] = {
        f"{policy}\\AllowFreshCredentials": 1,
        f"{policy}\\AllowFreshCredentials\\11": "WSMAN/*",
        f"{policy}\\AllowSavedCredentialsWhenNTLMOnly": 1,
        f"{policy}\\AllowSavedCredentialsWhenNTLMOnly\\1": "TERMSRV/*",
    }
    registry |= {f"{policy}\\AllowFreshCredentials\\{i}": f"WSMAN/h{i}.corp" for i in range(1, 11)}
    host = HostProfile("JUMP09", "127.10.9.9", ("member_server",), registry=registry)
    material = HostMaterial("corp.test", "CORP", "S-1-5-21-1-2-3", None, None)
    request = build_request(wanted_by([RULE]))
    answer = CollectorResponder(host, material).respond(json.loads(json.dumps(request)))
    result = evaluate(RULE, _document(answer, list(request["sections"])))  # type: ignore[arg-type]
    assert result.status is Status.FAIL, result.reason
    assert [(f.object, f.severity) for f in result.findings] == [
        ("AllowFreshCredentials WSMAN/*", Severity.HIGH),
        ("AllowSavedCredentialsWhenNTLMOnly TERMSRV/*", Severity.CRITICAL),  # NTLM-only
    ]
    assert result.severity is Severity.CRITICAL
    assert result.findings[1].evidence == {
        "policy": "AllowSavedCredentialsWhenNTLMOnly",
        "pattern": "TERMSRV/*",
        "credentials": "saved",
        "ntlm_only": True,
    }


def test_the_section_as_collect_ps1_answers_it() -> None:
    answer = json.dumps(
        {
            "version": 1,
            "collected_at": "2026-01-01T00:00:00Z",
            "registry": {},
            "sections": {"credssp_delegation": {"ok": ENABLE_WSMANCREDSSP_STAR}},
        }
    )
    fact = _document(answer, ["credssp_delegation"]).facts["credssp.delegation"]
    assert isinstance(fact, Available)
    assert wildcards(fact.value) == [("AllowFreshCredentials", "wsman/*")]
    result = evaluate(RULE, _document(answer, ["credssp_delegation"]))
    assert result.status is Status.FAIL
