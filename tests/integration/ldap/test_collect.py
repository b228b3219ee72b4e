"""collect_domain against a real Samba DC: every fact cross-checked with the seeded spec."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from ldap3 import NONE, Connection, Server, Tls

from auditor.collectors.ldap import collect_domain
from auditor.collectors.ldap.accounts import ACCOUNT_ATTRIBUTES, ACCOUNT_FILTER
from auditor.collectors.ldap.connection import open_session
from auditor.engine.evaluate import evaluate_all
from auditor.facts.model import Available, DocumentKind, FactDocument, Source
from auditor.facts.schema import schema_errors
from auditor.lab.domain_spec import AccountFlag
from auditor.results.vocabulary import Status
from auditor.rules.loader import load_rules

from .conftest import BIG_GROUP_MEMBERS, JSMITH_PASSWORD, LdapLab

pytestmark = pytest.mark.samba
ROOT = Path(__file__).resolve().parents[3]
Accounts = dict[str, dict[str, Any]]


def value(document: FactDocument, name: str) -> Any:
    fact = document.facts[name]
    assert isinstance(fact, Available), fact
    return fact.value


def spec_accounts(lab: LdapLab) -> dict[str, Any]:
    """sAMAccountName -> the spec's user or computer."""
    found: dict[str, Any] = {u.name: u for u in lab.spec.users}
    found.update({c.sam_account_name: c for c in lab.spec.computers})
    return found


def test_the_document_is_valid(collected: FactDocument, ldap_lab: LdapLab) -> None:
    assert schema_errors(collected.to_json(), DocumentKind.DOMAIN) == []
    assert collected.target.name == "ldap.auditor.test"
    assert collected.target.address == ldap_lab.dc.fqdn
    assert collected.collector == "auditor ldap"
    assert set(collected.facts) == {
        "domain.info",
        "domain.controllers",
        "domain.krbtgt",
        "accounts",
        "groups.privileged",
        "computers",
        "ldap.live",
    }


def test_domain_head(collected: FactDocument, ldap_lab: LdapLab) -> None:
    info = value(collected, "domain.info")
    assert info["dns_name"] == "ldap.auditor.test"
    assert info["netbios_name"] == "LDAPTEST"
    assert ldap_lab.sids["jsmith"].rsplit("-", 1)[0] == info["sid"]
    assert info["machine_account_quota"] == ldap_lab.spec.machine_account_quota == 5
    assert info["functional_level"] == 4  # Samba 4.17 provisions 2008 R2
    assert info["password_policy"] == {
        "min_length": 7,
        "max_age_days": 42.0,
        "lockout_threshold": 0,
        "complexity": True,
        "history_length": 24,
    }


def test_every_spec_account_with_its_flags(ldap_lab: LdapLab, accounts: Accounts) -> None:
    for sam, spec in spec_accounts(ldap_lab).items():
        record = accounts[sam]
        base = "NORMAL_ACCOUNT" if not sam.endswith("$") else "WORKSTATION_TRUST_ACCOUNT"
        names = {base, *(f.name for f in spec.flags)} | (
            set() if spec.enabled else {"ACCOUNTDISABLE"}
        )
        uac = sum({f.value for f in spec.flags}) | (0x200 if base == "NORMAL_ACCOUNT" else 0x1000)
        assert set(record["flags"]) == names, sam
        assert record["uac"] == uac | (0 if spec.enabled else 0x2), sam
        assert record["enabled"] is spec.enabled, sam
        assert record["kind"] == ("computer" if sam.endswith("$") else "user"), sam
        assert set(record["spns"]) >= set(spec.spns), sam
        assert record["description"] == spec.description, sam
        if not sam.endswith("$"):
            assert record["enc_types"] == spec.supported_encryption_types, sam
        assert record["created_by_quota"] is False, sam


def test_flag_names_are_in_bit_order(accounts: Accounts) -> None:
    assert accounts["scanner_svc"]["flags"] == [
        "PASSWD_NOTREQD",
        "NORMAL_ACCOUNT",
        "DONT_EXPIRE_PASSWORD",
    ]
    assert accounts["RODC1$"]["flags"] == [
        "WORKSTATION_TRUST_ACCOUNT",
        "TRUSTED_TO_AUTH_FOR_DELEGATION",
        "PARTIAL_SECRETS_ACCOUNT",
    ]
    assert accounts["Guest"]["flags"] == [
        "ACCOUNTDISABLE",
        "PASSWD_NOTREQD",
        "NORMAL_ACCOUNT",
        "DONT_EXPIRE_PASSWORD",
    ]


def test_every_account_flag_of_the_spec_format_is_seeded(ldap_lab: LdapLab) -> None:
    seeded = {f for spec in spec_accounts(ldap_lab).values() for f in spec.flags}
    assert seeded == set(AccountFlag)


def test_delegation_equals_the_spec(ldap_lab: LdapLab, accounts: Accounts) -> None:
    for sam, spec in spec_accounts(ldap_lab).items():
        delegation = accounts[sam].get("delegation")
        flags = set(spec.flags)
        acting = getattr(spec, "allowed_to_act", ())
        if not (
            spec.allowed_to_delegate_to
            or acting
            or flags
            & {AccountFlag.TRUSTED_FOR_DELEGATION, AccountFlag.TRUSTED_TO_AUTH_FOR_DELEGATION}
        ):
            assert delegation is None, sam
            continue
        assert delegation is not None, sam
        assert delegation["unconstrained"] is (AccountFlag.TRUSTED_FOR_DELEGATION in flags)
        assert delegation["protocol_transition"] is (
            AccountFlag.TRUSTED_TO_AUTH_FOR_DELEGATION in flags
        )
        assert [t["spn"] for t in delegation["constrained_to"]] == list(
            spec.allowed_to_delegate_to
        ), sam
        assert [t["name"] for t in delegation["rbcd_trustees"]] == list(acting), sam
        assert [t["sid"] for t in delegation["rbcd_trustees"]] == [
            ldap_lab.sids[name] for name in acting
        ], sam


def _targets(accounts: Accounts, sam: str) -> dict[str, tuple[bool, str | None, bool, bool]]:
    return {
        t["spn"]: (
            t["exists"],
            t["target_dn"] and t["target_dn"].split(",")[0],
            t["target_is_dc"],
            t["target_is_krbtgt"],
        )
        for t in accounts[sam]["delegation"]["constrained_to"]
    }


def test_constrained_delegation_targets_are_resolved(accounts: Accounts) -> None:
    assert _targets(accounts, "svc_backup") == {
        "ldap/LDC1.ldap.auditor.test": (True, "CN=LDC1", True, False),  # its own ldap/ SPN
        "cifs/LDC1.ldap.auditor.test": (True, "CN=LDC1", True, False),  # HOST/ via sPNMappings
    }
    assert _targets(accounts, "svc_oldapp") == {
        "HTTP/intranet-old.ldap.auditor.test": (False, None, False, False)
    }
    assert _targets(accounts, "svc_tgs") == {
        "kadmin/changepw": (True, "CN=krbtgt", False, True),
        "krbtgt/LDAP.AUDITOR.TEST": (True, "CN=krbtgt", False, True),
    }
    assert _targets(accounts, "WEB01$") == {
        "cifs/fs01.ldap.auditor.test": (True, "CN=FS01", False, False),
        "cifs/FS01": (True, "CN=FS01", False, False),
    }


def test_rbcd_trustees_are_decoded_and_described(ldap_lab: LdapLab, accounts: Accounts) -> None:
    assert accounts["APP01$"]["delegation"]["rbcd_trustees"] == [
        {
            "sid": ldap_lab.sids["WEB01$"],
            "name": "WEB01$",
            "kind": "computer",
            "dn": "CN=WEB01,OU=Servers,DC=ldap,DC=auditor,DC=test",
            "privileged": False,
            "created_by_quota": False,
        },
        {
            "sid": ldap_lab.sids["svc_sql"],
            "name": "svc_sql",
            "kind": "user",
            "dn": "CN=svc_sql,CN=Users,DC=ldap,DC=auditor,DC=test",
            "privileged": False,
            "created_by_quota": False,
        },
    ]
    dc = accounts["LDC1$"]
    assert dc["is_dc"] and dc["delegation"]["rbcd_trustees"] == [
        {
            "sid": ldap_lab.sids["QUOTA01$"],
            "name": "QUOTA01$",
            "kind": "computer",
            "dn": "CN=QUOTA01,CN=Computers,DC=ldap,DC=auditor,DC=test",
            "privileged": False,
            "created_by_quota": True,
        }
    ]
    assert accounts["QUOTA01$"]["created_by_quota"] is True


def test_domain_controllers(collected: FactDocument, accounts: Accounts) -> None:
    assert sorted(value(collected, "domain.controllers"), key=lambda d: d["name"]) == [
        {
            "name": "LDC1",
            "dn": "CN=LDC1,OU=Domain Controllers,DC=ldap,DC=auditor,DC=test",
            "dns_host_name": "LDC1.ldap.auditor.test",
            "os": "Samba",
            "rodc": False,
        },
        {
            "name": "RODC1",
            "dn": "CN=RODC1,CN=Computers,DC=ldap,DC=auditor,DC=test",
            "dns_host_name": "rodc1.ldap.auditor.test",
            "os": None,
            "rodc": True,
        },
    ]
    assert (accounts["LDC1$"]["is_dc"], accounts["LDC1$"]["is_rodc"]) == (True, False)
    assert (accounts["RODC1$"]["is_dc"], accounts["RODC1$"]["is_rodc"]) == (False, True)
    assert not any(
        a["is_dc"] or a["is_rodc"] for s, a in accounts.items() if s not in ("LDC1$", "RODC1$")
    )


def test_krbtgt(collected: FactDocument, accounts: Accounts) -> None:
    krbtgt = value(collected, "domain.krbtgt")
    assert krbtgt["dn"] == "CN=krbtgt,CN=Users,DC=ldap,DC=auditor,DC=test"
    assert krbtgt["pwd_last_set"] == accounts["krbtgt"]["pwd_last_set"]
    assert 0 <= krbtgt["password_age_days"] < 1  # provisioned minutes ago
    assert accounts["krbtgt"]["spns"] == ["kadmin/changepw"]


def test_computer_inventory(ldap_lab: LdapLab, collected: FactDocument) -> None:
    computers = {c["name"]: c for c in value(collected, "computers")}
    assert set(computers) == {c.name for c in ldap_lab.spec.computers} | {
        "LDC1",
        "RODC1",
        "QUOTA01",
    }
    for spec in ldap_lab.spec.computers:
        found = computers[spec.name]
        assert found["dns_host_name"] == spec.dns_host_name
        assert (found["os"], found["os_version"]) == (
            spec.operating_system,
            spec.operating_system_version,
        )
        assert found["enabled"] is spec.enabled
        container = f"OU={spec.ou}" if spec.ou else "CN=Computers"
        assert found["ou"] == f"{container},DC=ldap,DC=auditor,DC=test"
        assert found["is_dc"] is False
    assert computers["LDC1"]["is_dc"] and computers["RODC1"]["is_dc"]


def _members(collected: FactDocument, key: str) -> dict[str, str]:
    (group,) = [g for g in value(collected, "groups.privileged") if g["key"] == key]
    assert group["member_count"] == len(group["members"])
    return {m["sam"]: m["via"] for m in group["members"]}


def test_privileged_groups_found_by_sid(collected: FactDocument, ldap_lab: LdapLab) -> None:
    groups = {g["key"]: g["sid"] for g in value(collected, "groups.privileged")}
    domain = value(collected, "domain.info")["sid"]
    assert groups == {
        "domain_admins": f"{domain}-512",
        "enterprise_admins": f"{domain}-519",
        "schema_admins": f"{domain}-518",
        "administrators": "S-1-5-32-544",
        "account_operators": "S-1-5-32-548",
        "server_operators": "S-1-5-32-549",
        "print_operators": "S-1-5-32-550",
        "backup_operators": "S-1-5-32-551",
        "remote_management_users": "S-1-5-32-580",
        "remote_desktop_users": "S-1-5-32-555",
        "protected_users": f"{domain}-525",
    }


def test_direct_nested_and_primary_group_members(collected: FactDocument) -> None:
    assert _members(collected, "domain_admins") == {
        "Administrator": "direct",
        "adm_alice": "direct",
        "adm_bob": "direct",
        "adm_carol": "direct",
        "former_admin": "direct",
        "ops_dave": "nested",  # Tier0 Operators -> IT Admins -> Domain Admins
        "pg_nested": "nested",  # primary group IT Admins, itself in Domain Admins
        "svc_deploy": "primary_group",  # in no member value at all
    }
    assert _members(collected, "administrators") == {
        "Administrator": "direct",
        **{
            n: "nested"
            for n in (
                "adm_alice",
                "adm_bob",
                "adm_carol",
                "former_admin",
                "ops_dave",
                "pg_nested",
                "svc_deploy",
            )
        },
    }
    assert _members(collected, "remote_management_users") == {
        "helpdesk": "direct",
        "ops_dave": "nested",
    }
    assert _members(collected, "remote_desktop_users") == {"helpdesk": "nested", "jsmith": "nested"}
    assert _members(collected, "protected_users") == {"adm_carol": "direct"}
    assert _members(collected, "backup_operators") == {}


def test_more_than_1500_members_are_read_in_ranges(collected: FactDocument) -> None:
    members = _members(collected, "print_operators")
    assert len(members) == BIG_GROUP_MEMBERS
    assert set(members.values()) == {"direct"}
    assert {f"bigu{i:06d}" for i in range(BIG_GROUP_MEMBERS)} == set(members)


def test_account_privilege_fields(accounts: Accounts) -> None:
    summary = {
        sam: (a["privileged"], a["privileged_groups"], a["protected_user"])
        for sam, a in accounts.items()
        if not sam.startswith("big")
    }
    admins = (True, ["administrators", "domain_admins"], False)
    assert {s: v for s, v in summary.items() if v[0] or v[2]} == {
        "Administrator": (
            True,
            ["administrators", "domain_admins", "enterprise_admins", "schema_admins"],
            False,
        ),
        "adm_alice": admins,
        "adm_bob": admins,
        "ops_dave": admins,
        "pg_nested": admins,
        "svc_deploy": admins,
        "former_admin": admins,
        "adm_carol": (True, ["administrators", "domain_admins"], True),
    }
    assert accounts["bigu000042"]["privileged_groups"] == ["print_operators"]
    assert accounts["helpdesk"]["privileged"] is False  # remote groups are not tier 0


def test_live_tests(collected: FactDocument, ldap_lab: LdapLab) -> None:
    live = value(collected, "ldap.live")
    assert collected.facts["ldap.live"].source.value == "probe"  # type: ignore[union-attr]
    assert live == {
        "unsigned_simple_bind_refused": True,
        "channel_binding_enforced": None,
        "detail": f"simple bind without TLS on ldap://{ldap_lab.dc.fqdn}:389 refused: "
        "strongerAuthRequired (8): BindSimple: Transport encryption required. | "
        "NTLM bind over LDAPS without channel binding not measurable: the DC does "
        "not offer NTLM (Sicily) binds over LDAP (Samba never does), and ldap3 "
        "always sends channel binding with the other bind methods",
    }


def test_referrals_from_the_domain_root_are_skipped(ldap_lab: LdapLab) -> None:
    """Samba answers subtree searches of the domain with references to the DNS partitions."""
    tls = Tls(ca_certs_file=str(ldap_lab.dc.ca_bundle))
    server = Server(ldap_lab.dc.fqdn, port=636, use_ssl=True, tls=tls, get_info=NONE)
    with Connection(
        server,
        ldap_lab.dc.admin.user_principal_name,
        ldap_lab.dc.admin.password,
        auto_bind=True,
        auto_referrals=False,
    ) as plain:
        plain.search(ldap_lab.dc.base_dn, "(sAMAccountName=j*)", attributes=["cn"])
        kinds = [r["type"] for r in plain.response]
    assert kinds.count("searchResRef") >= 2
    with open_session(ldap_lab.settings(), ldap_lab.admin) as reader:
        found = [dn for dn, _ in reader.search(ldap_lab.dc.base_dn, "(sAMAccountName=j*)", ["cn"])]
        # the session is still in step after the references: a second search works
        assert (
            sum(1 for _ in reader.search(ldap_lab.dc.base_dn, ACCOUNT_FILTER, ACCOUNT_ATTRIBUTES))
            > BIG_GROUP_MEMBERS
        )
    assert found == ["CN=jsmith,CN=Users,DC=ldap,DC=auditor,DC=test"]
    assert kinds.count("searchResEntry") == 1


def test_small_pages_give_the_same_facts(ldap_lab: LdapLab, collected: FactDocument) -> None:
    again = collect_domain(ldap_lab.settings(page_size=7), ldap_lab.admin)
    for name in ("accounts", "computers", "groups.privileged", "domain.controllers"):
        assert canonical(value(again, name)) == canonical(value(collected, name)), name


def test_an_ordinary_user_reads_the_same_facts(ldap_lab: LdapLab, collected: FactDocument) -> None:
    """Minimum rights: any authenticated user (docs/ldap-collector.md)."""
    as_user = collect_domain(ldap_lab.settings(), ldap_lab.user("jsmith", JSMITH_PASSWORD))
    for name in (
        "domain.info",
        "accounts",
        "computers",
        "groups.privileged",
        "domain.controllers",
        "domain.krbtgt",
    ):
        assert canonical(value(as_user, name)) == canonical(value(collected, name)), name


def canonical(items: Any) -> Any:
    """Order-free, without what changes between two collections."""
    if isinstance(items, list):
        return sorted((canonical(i) for i in items), key=repr)
    if isinstance(items, dict):
        # ages move on between two collections, and binding as jsmith logs jsmith on
        return {
            k: canonical(v)
            for k, v in items.items()
            if k not in ("password_age_days", "last_logon")
        }
    return items


def test_the_directory_rules_find_the_seeded_weaknesses(collected: FactDocument) -> None:
    """The facts drive the rules: each seeded weakness is found, nothing else is."""
    # The 1600 bulk members of Print Operators only slow the rule engine down here.
    small = Available(
        [a for a in value(collected, "accounts") if not a["sam"].startswith("bigu")],
        Source.DIRECTORY,
    )
    document = dataclasses.replace(collected, facts={**collected.facts, "accounts": small})
    results = {
        r.rule_id: r for r in evaluate_all(load_rules([ROOT / "rules" / "directory"]), [document])
    }

    def offenders(rule_id: str) -> set[str]:
        assert results[rule_id].status in (Status.FAIL, Status.PASS), results[rule_id].reason
        return {str(f.label) for f in results[rule_id].findings}

    assert offenders("ad-unconstrained-delegation") == {"FS01$", "svc_unconstrained"}
    assert offenders("ad-protocol-transition") == {"WEB01$", "svc_tgs"}
    assert offenders("ad-constrained-delegation-targets") == {"svc_backup", "svc_oldapp", "svc_tgs"}
    assert offenders("ad-rbcd") == {"LDC1$"}
    assert offenders("ad-privileged-accounts-delegable") == {
        "Administrator",
        "adm_alice",
        "ops_dave",
        "pg_nested",
        "svc_deploy",
    }
    assert offenders("ad-disabled-privileged-accounts") == {"former_admin"}
    assert offenders("ad-reversible-password-encryption") == {"legacy_auth"}
    assert offenders("ad-des-kerberos-keys") == {"unix_old"}
    assert offenders("ad-remote-access-groups") == {
        "Remote Management Users",
        "Remote Desktop Users",
    }
    assert results["ad-ldap-signing-enforced"].status is Status.PASS
    assert results["ad-ldap-channel-binding-enforced"].status is Status.ERROR
    assert results["ad-machine-account-quota"].status is Status.FAIL
