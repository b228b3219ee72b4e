"""What fails where: a refused search or a malformed value only takes down the facts built on it.

A scripted directory stands in for the DC so that each failure can be made exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from auditor.collectors.ldap.collect import collect_facts
from auditor.collectors.ldap.domain import NamingContexts
from auditor.collectors.ldap.search import SearchError
from auditor.collectors.ldap.values import (
    age_days,
    filetime,
    filetime_iso,
    interval_days,
    parent_dn,
    rdn_value,
    split_extended_dn,
    uac_flag_names,
)
from auditor.collectors.ldap.wire import (
    WireError,
    paged_cookie,
    parse_entry,
    parse_result,
    read_header,
)
from auditor.facts.model import Available, DocumentKind, FactDocument, Reason, Target, Unavailable
from auditor.facts.schema import schema_errors

from .test_descriptor import ace, acl, descriptor, sid

BASE = "DC=corp,DC=test"
DOMAIN = "S-1-5-21-1-2-3"
NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
CONTEXTS = NamingContexts(BASE, f"CN=Configuration,{BASE}", 7)
Entry = dict[str, list[bytes]]


def account(name: str, rid: int, uac: int = 0x200, **extra: list[bytes]) -> tuple[str, Entry]:
    attributes = {
        "samaccountname": [name.encode()],
        "objectsid": [sid(f"{DOMAIN}-{rid}")],
        "useraccountcontrol": [str(uac).encode()],
        "samaccounttype": [b"805306368"],
        "primarygroupid": [b"513"],
        "pwdlastset": [b"133000000000000000"],
    }
    attributes.update(extra)
    return f"CN={name},CN=Users,{BASE}", attributes


class ScriptedDirectory:
    """Answers the collector's searches from fixed entries; `fail` maps a filter to an error."""

    def __init__(
        self, accounts: list[tuple[str, Entry]], fail: dict[str, SearchError] | None = None
    ) -> None:
        self.accounts = accounts
        self.fail = fail or {}
        self.groups = [
            (
                f"CN=Domain Admins,CN=Users,{BASE}",
                {"objectsid": [sid(f"{DOMAIN}-512")], "samaccountname": [b"Domain Admins"]},
            )
        ]

    def search(
        self, base: str, ldap_filter: str, attributes: Sequence[str], **_: Any
    ) -> Iterator[tuple[str, Entry]]:
        if ldap_filter in self.fail:
            raise self.fail[ldap_filter]
        if ldap_filter == "(objectClass=group)":
            yield from self.groups
        elif ldap_filter.startswith("(|(sAMAccountType"):
            yield from self.accounts

    def read(self, dn: str, attributes: Sequence[str], controls: Sequence[Any] = ()) -> Entry:
        if dn == BASE:
            return {"objectsid": [sid(DOMAIN)], "ms-ds-machineaccountquota": [b"0"]}
        if dn.startswith("CN=Domain Admins"):
            return {
                "member;range=0-*": [
                    f"<SID={DOMAIN}-500>;CN=Administrator,CN=Users,{BASE}".encode()
                ]
            }
        return {}

    def all_values(
        self, dn: str, attributes: Entry, name: str, controls: Sequence[Any] = ()
    ) -> list[bytes]:
        return [v for k, vs in attributes.items() if k.startswith(name) for v in vs]


def collect(directory: ScriptedDirectory) -> dict[str, Any]:
    facts = collect_facts(directory, CONTEXTS, NOW)  # type: ignore[arg-type]
    document = FactDocument(Target(DocumentKind.DOMAIN, "corp.test"), facts, "now")
    assert schema_errors(document.to_json(), DocumentKind.DOMAIN) == []
    return facts


GOOD = [
    account("Administrator", 500),
    account("krbtgt", 502, 0x202),
    account(
        "APP01$",
        1105,
        0x1000,
        **{"msds-allowedtoactonbehalfofotheridentity": [descriptor(acl(ace(0, f"{DOMAIN}-500")))]},
    ),
]


def test_the_scripted_directory_gives_every_fact() -> None:
    facts = collect(ScriptedDirectory(GOOD))
    assert all(isinstance(f, Available) for f in facts.values()), facts
    app = facts["accounts"].value[2]
    assert app["delegation"]["rbcd_trustees"] == [
        {
            "sid": f"{DOMAIN}-500",
            "name": "Administrator",
            "dn": f"CN=Administrator,CN=Users,{BASE}",
            "kind": "user",
            "privileged": True,
            "created_by_quota": False,
        }
    ]
    assert facts["domain.krbtgt"].value["password_age_days"] == 927.81


def test_a_malformed_rbcd_descriptor_takes_down_accounts_only() -> None:
    broken = account(
        "APP02$",
        1106,
        0x1000,
        **{"msds-allowedtoactonbehalfofotheridentity": [descriptor(acl(ace(0, "S-1-5-18")))[:-3]]},
    )
    facts = collect(ScriptedDirectory([*GOOD, broken]))
    assert facts["accounts"] == Unavailable(
        Reason.PROTOCOL_ERROR,
        f"1 account attribute(s) are malformed: CN=APP02$,CN=Users,{BASE}: "
        "msDS-AllowedToActOnBehalfOfOtherIdentity: DACL at offset 36 claims 28 bytes, only 25 "
        "present",
    )
    for name in (
        "computers",
        "groups.privileged",
        "domain.controllers",
        "domain.krbtgt",
        "domain.info",
    ):
        assert isinstance(facts[name], Available), name


def test_an_unreadable_account_takes_down_what_the_stream_builds() -> None:
    hidden = (f"CN=hidden,CN=Users,{BASE}", {"samaccountname": [b"hidden"]})
    facts = collect(ScriptedDirectory([*GOOD, hidden]))
    missing = Unavailable(
        Reason.ACCESS_DENIED,
        (
            f"1 account(s) could not be read: CN=hidden,CN=Users,{BASE}: objectSid, "
            "userAccountControl not returned (not readable by the binding account?)"
        ),
    )
    for name in ("accounts", "computers", "groups.privileged", "domain.controllers"):
        assert facts[name] == missing, name
    assert isinstance(facts["domain.krbtgt"], Available)
    assert isinstance(facts["domain.info"], Available)


def test_refused_group_search_leaves_privilege_unknown_not_false() -> None:
    denied = SearchError("search of DC=corp,DC=test for (objectClass=group)", 50, "no access")
    facts = collect(ScriptedDirectory(GOOD, {"(objectClass=group)": denied}))
    assert facts["groups.privileged"] == Unavailable(
        Reason.ACCESS_DENIED,
        "privileged groups: search of DC=corp,DC=test for "
        "(objectClass=group): insufficientAccessRights (50): no access",
    )
    administrator = facts["accounts"].value[0]
    assert "privileged" not in administrator and "protected_user" not in administrator
    rbcd = facts["accounts"].value[2]["delegation"]["rbcd_trustees"][0]
    assert rbcd["privileged"] is None


def test_refused_account_search() -> None:
    filter_ = "(|(sAMAccountType=805306368)(sAMAccountType=805306369)(sAMAccountType=805306370))"
    facts = collect(ScriptedDirectory(GOOD, {filter_: SearchError("accounts", 3, "")}))
    assert isinstance(facts["domain.info"], Available)
    for name in (
        "accounts",
        "computers",
        "groups.privileged",
        "domain.controllers",
        "domain.krbtgt",
    ):
        assert facts[name] == Unavailable(Reason.TIMEOUT, "accounts: timeLimitExceeded (3)")


# BER of the messages the reader decodes, built by hand (RFC 4511 4.5.2).
def tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes(2, "big")
    return bytes([tag, 0x82]) + size + body


ENTRY = tlv(
    0x30,
    tlv(0x02, b"\x07")
    + tlv(
        0x64,
        tlv(0x04, b"CN=a,DC=x")
        + tlv(
            0x30,
            (
                tlv(0x30, tlv(0x04, b"sAMAccountName") + tlv(0x31, tlv(0x04, b"a")))
                + tlv(
                    0x30,
                    tlv(0x04, b"member;range=0-1")
                    + tlv(0x31, tlv(0x04, b"x" * 200) + tlv(0x04, b"")),
                )
            ),
        ),
    ),
)
COOKIE = tlv(0x30, tlv(0x02, b"\x00") + tlv(0x04, b"\x01\x02"))
DONE = tlv(
    0x30,
    tlv(0x02, b"\x07")
    + tlv(0x65, tlv(0x0A, b"\x00") + tlv(0x04, b"") + tlv(0x04, b"ok\x00"))
    + tlv(0xA0, tlv(0x30, tlv(0x04, b"1.2.840.113556.1.4.319") + tlv(0x04, COOKIE))),
)


def test_entries_decode() -> None:
    header = read_header(ENTRY, 0)
    assert (header.message_id, header.op, header.end) == (7, 0x64, len(ENTRY))
    assert parse_entry(ENTRY, header.op_start, header.op_end) == (
        "CN=a,DC=x",
        {"samaccountname": [b"a"], "member;range=0-1": [b"x" * 200, b""]},
    )


def test_results_and_cookies_decode() -> None:
    result = parse_result(DONE, read_header(DONE, 0))
    assert (result.code, result.message) == (0, "ok")
    assert paged_cookie(result.controls["1.2.840.113556.1.4.319"]) == b"\x01\x02"
    assert paged_cookie(None) == b""


@pytest.mark.parametrize("cut", range(1, len(ENTRY)))
def test_truncated_entries_are_wire_errors(cut: int) -> None:
    def decode(data: bytes) -> None:
        header = read_header(data, 0)
        parse_entry(data, header.op_start, header.op_end)

    with pytest.raises(WireError):
        decode(ENTRY[:cut])


def test_extended_dn_values() -> None:
    assert split_extended_dn(f"<GUID=ab>;<SID={DOMAIN}-500>;CN=x\\,y,DC=z") == (
        f"{DOMAIN}-500",
        "CN=x\\,y,DC=z",
    )
    hex_sid = sid(f"{DOMAIN}-7").hex()
    assert split_extended_dn(f"<GUID=ab>;<SID={hex_sid}>;CN=x") == (f"{DOMAIN}-7", "CN=x")
    assert split_extended_dn("CN=contact,DC=z") == (None, "CN=contact,DC=z")


def test_value_conversions() -> None:
    assert uac_flag_names(0x200 | 0x2 | 0x8000_0000) == (
        "ACCOUNTDISABLE",
        "NORMAL_ACCOUNT",
        "0x80000000",
    )
    assert filetime(b"0") is None and filetime(b"9223372036854775807") is None
    assert filetime_iso(filetime(b"133000000000000000")) == "2022-06-18T04:26:40Z"
    assert age_days(133000000000000000, NOW) == 927.81
    assert interval_days(b"-36288000000000") == 42.0
    assert interval_days(b"-9223372036854775808") == 0.0  # "never expires"
    assert parent_dn("CN=a\\,b\\2Cc,OU=x,DC=y") == "OU=x,DC=y"
    assert parent_dn("DC=y") is None
    assert rdn_value("CN=Smith\\, John,OU=x") == "Smith, John"


def test_rbcd_trustees_that_are_not_accounts() -> None:
    trustees = [f"{DOMAIN}-512", "S-1-1-0", f"{DOMAIN}-9999"]
    resource = account(
        "APP03$",
        1107,
        0x1000,
        **{
            "msds-allowedtoactonbehalfofotheridentity": [
                descriptor(acl(*(ace(0, t) for t in trustees)))
            ]
        },
    )
    facts = collect(ScriptedDirectory([*GOOD, resource]))
    assert facts["accounts"].value[3]["delegation"]["rbcd_trustees"] == [
        {
            "sid": f"{DOMAIN}-512",
            "name": "Domain Admins",
            "kind": "group",
            "privileged": True,
            "dn": f"CN=Domain Admins,CN=Users,{BASE}",
            "created_by_quota": False,
        },
        {
            "sid": "S-1-1-0",
            "name": "Everyone",
            "dn": None,
            "kind": "well_known",
            "privileged": False,
            "created_by_quota": False,
        },
        {
            "sid": f"{DOMAIN}-9999",
            "name": None,
            "dn": None,
            "kind": None,
            "privileged": None,
            "created_by_quota": None,
        },
    ]
