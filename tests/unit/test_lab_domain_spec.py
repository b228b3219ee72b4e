"""The lab's `domain:` parser: strict, every problem at once, each naming its key path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from auditor.lab.directory_seed import build_plan
from auditor.lab.domain_spec import (
    AccountFlag,
    DomainSpecError,
    load_default_domain,
    load_domain_file,
    parse_domain_spec,
)

MINIMAL: dict[str, Any] = {
    "realm": "corp.example.test",
    "netbios": "CORP",
    "dc": {"name": "DC1", "address": "127.10.0.1"},
}


def _problems(data: object) -> list[str]:
    with pytest.raises(DomainSpecError) as caught:
        parse_domain_spec(data, source="lab.yaml")
    assert str(caught.value) == "\n".join(caught.value.problems)
    return list(caught.value.problems)


def _with(**extra: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data.update(extra)
    return data


def test_minimal_domain_gets_defaults() -> None:
    spec = parse_domain_spec(_with(users=[{"name": "u1"}], computers=[{"name": "PC1"}]))
    assert spec.machine_account_quota == 10
    assert spec.base_dn == "DC=corp,DC=example,DC=test"
    assert spec.dc_fqdn == "DC1.corp.example.test"
    user = spec.users[0]
    assert (user.enabled, user.flags, user.password, user.primary_group) == (True, (), None, None)
    computer = spec.computers[0]
    assert computer.dns_host_name == "pc1.corp.example.test"
    assert computer.default_spns == ("HOST/PC1", "HOST/pc1.corp.example.test")


def test_unknown_keys_are_named_by_path_and_all_reported() -> None:
    problems = _problems(
        _with(
            colour="blue",
            dc={"name": "DC1", "address": "127.10.0.1", "port": 389},
            users=[{"name": "ok"}, {"name": "u2", "flagz": ["DONT_REQ_PREAUTH"]}],
            groups=[{"name": "G", "memebers": []}],
        )
    )
    assert problems == [
        "lab.yaml: domain.colour: unknown key",
        "lab.yaml: domain.dc.port: unknown key",
        "lab.yaml: domain.users[1].flagz: unknown key",
        "lab.yaml: domain.groups[0].memebers: unknown key",
    ]


def test_missing_required_keys() -> None:
    assert _problems({"users": [{"description": "x"}]}) == [
        "lab.yaml: domain.dc: required key is missing",
        "lab.yaml: domain.netbios: required key is missing",
        "lab.yaml: domain.realm: required key is missing",
        "lab.yaml: domain.users[0].name: required key is missing",
    ]


def test_wrong_types() -> None:
    problems = _problems(
        _with(
            machine_account_quota="10",
            users=[
                {
                    "name": "u",
                    "enabled": "yes",
                    "spns": "HTTP/x",
                    "supported_encryption_types": True,
                    "description": 5,
                }
            ],
            computers="FS01",
        )
    )
    assert problems == [
        "lab.yaml: domain.machine_account_quota: expected an integer, got str",
        "lab.yaml: domain.users[0].description: expected a string, got int",
        "lab.yaml: domain.users[0].enabled: expected true or false, got str",
        "lab.yaml: domain.users[0].spns: expected a list, got str",
        "lab.yaml: domain.users[0].supported_encryption_types: expected an integer, got bool",
        "lab.yaml: domain.computers: expected a list, got str",
    ]


def test_unknown_flag_lists_the_allowed_ones() -> None:
    [problem] = _problems(_with(users=[{"name": "u", "flags": ["DONT_REQ_PREAUTH", "ADMIN"]}]))
    assert problem.startswith("lab.yaml: domain.users[0].flags[1]: unknown flag 'ADMIN'; allowed: ")
    assert all(flag in problem for flag in AccountFlag.__members__)


def test_bad_names_and_addresses() -> None:
    problems = _problems(
        _with(
            realm="localdomain",
            netbios="TOO-LONG-NETBIOS-NAME",
            dc={"name": "DC1", "address": "10.0.0.5"},
            users=[{"name": "bad<user>"}, {"name": "a" * 21}],
            computers=[{"name": "FS01$"}, {"name": "X", "ou": " Servers"}],
            groups=[{"name": "tab\there"}],
        )
    )
    assert problems == [
        "lab.yaml: domain.realm: 'localdomain' is not a DNS domain name with two or more labels",
        "lab.yaml: domain.netbios: 'TOO-LONG-NETBIOS-NAME' is not a NetBIOS name "
        "(1-15 letters/digits/-)",
        "lab.yaml: domain.dc.address: 10.0.0.5 is not in 127.0.0.0/8: the lab only runs on "
        "loopback",
        "lab.yaml: domain.users[0].name: 'bad<user>' is not a valid sAMAccountName "
        '(1-20 characters, none of "/\\[]:;|=,+*?<>@)',
        f"lab.yaml: domain.users[1].name: '{'a' * 21}' is not a valid sAMAccountName "
        '(1-20 characters, none of "/\\[]:;|=,+*?<>@)',
        "lab.yaml: domain.computers[0].name: 'FS01$' is not a NetBIOS host name (1-15 letters, "
        "digits or '-', without the trailing '$')",
        "lab.yaml: domain.computers[1].ou: must be 1-64 characters without surrounding spaces",
        "lab.yaml: domain.groups[0].name: must be 1-64 printable characters without "
        "surrounding spaces",
    ]


def test_not_an_ip_address() -> None:
    assert _problems(_with(dc={"name": "DC1", "address": "dc1.local"})) == [
        "lab.yaml: domain.dc.address: 'dc1.local' is not an IPv4 address"
    ]


def test_references_must_resolve() -> None:
    problems = _problems(
        _with(
            users=[
                {
                    "name": "u",
                    "groups": ["Domain Admins", "Nope"],
                    "primary_group": "Administrators",
                }
            ],
            computers=[{"name": "APP01", "allowed_to_act": ["WEB01$", "u", "DC1$"]}],
            groups=[{"name": "G", "members": ["u", "APP01$", "ghost"], "member_of": ["Missing"]}],
            remote_management_users=["u", "nobody"],
        )
    )
    assert problems == [
        "lab.yaml: domain.users[0].groups[1]: 'Nope' is not a group defined in the spec or "
        "built in",
        "lab.yaml: domain.users[0].primary_group: 'Administrators' is not a global group "
        "defined in the spec or built in",
        "lab.yaml: domain.computers[0].allowed_to_act[0]: 'WEB01$' is not an account "
        "(computers end in '$') or a group defined in the spec or built in",
        "lab.yaml: domain.groups[0].members[2]: 'ghost' is not a user, computer (NAME$) or "
        "group defined in the spec or built in",
        "lab.yaml: domain.groups[0].member_of[0]: 'Missing' is not a group defined in the spec "
        "or built in",
        "lab.yaml: domain.remote_management_users[1]: 'nobody' is not a user, computer (NAME$) "
        "or group defined in the spec or built in",
    ]


def test_names_are_unique_case_insensitively_and_not_built_in() -> None:
    problems = _problems(
        _with(
            users=[{"name": "alice"}, {"name": "ALICE"}, {"name": "Administrator"}],
            computers=[{"name": "DC1"}],
            groups=[{"name": "domain admins"}],
        )
    )
    assert problems == [
        "lab.yaml: domain.users[1].name: 'ALICE' is also defined at domain.users[0].name",
        "lab.yaml: domain.users[2].name: 'Administrator' already exists in a new domain",
        "lab.yaml: domain.computers[0].name: 'DC1$' already exists in a new domain",
        "lab.yaml: domain.groups[0].name: 'domain admins' already exists in a new domain",
    ]


def test_an_spn_belongs_to_one_account() -> None:
    problems = _problems(
        _with(
            users=[{"name": "svc", "spns": ["HTTP/web01.corp.example.test"]}],
            computers=[{"name": "WEB01", "spns": ["http/WEB01.corp.example.test", "HOST/WEB01"]}],
        )
    )
    assert problems == [
        "lab.yaml: domain.computers[0]: SPN 'http/web01.corp.example.test' is also registered "
        "by domain.users[0]"
    ]


def test_hostile_group_name_keeps_its_cn_and_gets_a_valid_sam_account_name() -> None:
    spec = parse_domain_spec(_with(groups=[{"name": '<script>"x"</script> Ünï'}]))
    assert spec.groups[0].name == '<script>"x"</script> Ünï'
    assert spec.groups[0].sam_account_name == "_script__x___script_ Ünï"


def test_not_a_mapping() -> None:
    assert _problems(["realm"]) == ["lab.yaml: domain: expected a mapping, got list"]


def test_file_errors_start_with_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(DomainSpecError, match=f"^{missing}: cannot read"):
        load_domain_file(missing)
    other = tmp_path / "lab.yaml"
    other.write_text("hosts: []\n")
    with pytest.raises(DomainSpecError, match=f"^{other}: domain: required key is missing$"):
        load_domain_file(other)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "domain:\n  realm: x.test\n  netbios: X\n  dc: {name: D, address: 127.0.0.2}\n"
        "  users: [{name: u, flags: [NOPE]}]\n"
    )
    with pytest.raises(DomainSpecError, match=rf"^{bad}: domain.users\[0\].flags\[0\]: "):
        load_domain_file(bad)


def test_default_domain_has_what_the_rules_look_for() -> None:
    spec = load_default_domain()
    assert (spec.realm, spec.netbios, spec.dc.name, spec.dc.address) == (
        "corp.auditor.test",
        "CORP",
        "DC1",
        "127.10.0.1",
    )
    assert spec.machine_account_quota == 10
    computers = {c.name: c for c in spec.computers}
    assert set(computers) == {"FS01", "JUMP01", "WEB01", "WKS01", "APP01", "SRV-HARDENED"}
    assert all(c.dns_host_name == f"{c.name.lower()}.corp.auditor.test" for c in spec.computers)
    assert AccountFlag.TRUSTED_FOR_DELEGATION in computers["FS01"].flags
    assert AccountFlag.TRUSTED_TO_AUTH_FOR_DELEGATION in computers["WEB01"].flags
    assert computers["APP01"].allowed_to_act == ("WEB01$", "Domain Computers")
    users = {u.name: u for u in spec.users}
    flags = {flag for u in spec.users for flag in u.flags}
    assert {
        AccountFlag.DONT_REQ_PREAUTH,
        AccountFlag.PASSWD_NOTREQD,
        AccountFlag.ENCRYPTED_TEXT_PWD_ALLOWED,
        AccountFlag.USE_DES_KEY_ONLY,
        AccountFlag.NOT_DELEGATED,
    } <= flags
    assert users["svc_deploy"].primary_group == "Domain Admins"
    assert "Protected Users" in users["adm_carol"].groups
    assert any("<script>" in g.name for g in spec.groups)
    assert spec.remote_management_users


def test_plan_creates_before_it_references() -> None:
    spec = load_default_domain()
    passwords = {u.name: "pw" for u in spec.users} | {
        c.sam_account_name: "pw" for c in spec.computers
    }
    created: set[str] = set()
    for op in build_plan(spec, passwords):
        refs = [
            op.get("parent"),
            op.get("target"),
            op.get("group"),
            *op.get("members", []),
            *op.get("principals", []),
        ]
        for ref in refs:
            if isinstance(ref, str) and ref.startswith("id:"):
                assert ref[3:] in created, (op, ref)
        if "id" in op:
            created.add(op["id"])
    assert any(op["op"] == "allow_to_act" for op in build_plan(spec, passwords))
