"""What seed() and seed_bulk() really put in the directory, read back over LDAPS."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import pytest
from ldap3 import BASE, Connection
from ldap3.protocol.formatters.formatters import format_sid
from ldap3.utils.conv import escape_filter_chars

from auditor.lab.directory_seed import seed_bulk

from .conftest import HOSTILE_DESCRIPTION, HOSTILE_GROUP, SeededLab

pytestmark = pytest.mark.samba

IN_CHAIN = "1.2.840.113556.1.4.1941"


def _entries(ldaps: Connection) -> list[dict[str, Any]]:
    """Search results without the referrals Samba adds for the DNS partitions."""
    return [e for e in ldaps.response if e["type"] == "searchResEntry"]


def _one(ldaps: Connection, lab: SeededLab, sam: str, *attributes: str) -> Entry:
    """Values as the DC sends them: lists of strings (no schema is loaded) and raw bytes."""
    query = f"(sAMAccountName={escape_filter_chars(sam)})"
    assert ldaps.search(lab.dc.base_dn, query, attributes=list(attributes))
    entries = _entries(ldaps)
    assert len(entries) == 1, sam
    return Entry(entries[0]["dn"], entries[0]["attributes"], entries[0]["raw_attributes"])


@dataclass(frozen=True)
class Entry:
    dn: str
    values: dict[str, list[str]]
    raw: dict[str, list[bytes]]

    def __getitem__(self, attribute: str) -> list[str]:
        return self.values.get(attribute) or []


def _sid(ldaps: Connection, lab: SeededLab, sam: str) -> str:
    sid: str = format_sid(_one(ldaps, lab, sam, "objectSid").raw["objectSid"][0])
    return sid


@pytest.mark.parametrize(
    ("sam", "uac"),
    [
        ("svc_sql", 0x200 | 0x10000),
        ("asrep", 0x200 | 0x400000),
        ("weak", 0x200 | 0x20 | 0x80 | 0x200000),
        ("adm_direct", 0x200 | 0x100000),
        ("svc_t2a4d", 0x200 | 0x1000000),
        ("disabled", 0x200 | 0x2),
        ("FS01$", 0x1000 | 0x80000),
        ("WEB01$", 0x1000 | 0x1000000),
        ("APP01$", 0x1000),
        ("OLD01$", 0x1000 | 0x2),
    ],
)
def test_user_account_control(ldaps: Connection, lab: SeededLab, sam: str, uac: int) -> None:
    assert _one(ldaps, lab, sam, "userAccountControl")["userAccountControl"] == [str(uac)]


def test_spns_and_constrained_delegation(ldaps: Connection, lab: SeededLab) -> None:
    assert _one(ldaps, lab, "svc_sql", "servicePrincipalName")["servicePrincipalName"] == [
        "MSSQLSvc/sql01.samba.auditor.test:1433"
    ]
    web = _one(ldaps, lab, "WEB01$", "servicePrincipalName", "msDS-AllowedToDelegateTo")
    assert sorted(web["servicePrincipalName"]) == sorted(
        ["HOST/WEB01", "HOST/web01.samba.auditor.test", "HTTP/web01.samba.auditor.test"]
    )
    assert web["msDS-AllowedToDelegateTo"] == ["cifs/fs01.samba.auditor.test"]
    svc = _one(ldaps, lab, "svc_t2a4d", "msDS-AllowedToDelegateTo")
    assert sorted(svc["msDS-AllowedToDelegateTo"]) == [
        "cifs/fs01.samba.auditor.test",
        "ldap/TDC1.samba.auditor.test",
    ]
    weak = _one(ldaps, lab, "weak", "msDS-SupportedEncryptionTypes")
    assert weak["msDS-SupportedEncryptionTypes"] == ["3"]


def test_computer_attributes_and_ou(ldaps: Connection, lab: SeededLab) -> None:
    fs = _one(ldaps, lab, "FS01$", "dNSHostName", "operatingSystem", "operatingSystemVersion")
    assert fs.dn == f"CN=FS01,OU=Servers,{lab.dc.base_dn}"
    assert fs["dNSHostName"] == ["fs01.samba.auditor.test"]
    assert fs["operatingSystem"] == ["Windows Server 2022 Datacenter"]
    assert fs["operatingSystemVersion"] == ["10.0 (20348)"]
    old = _one(ldaps, lab, "OLD01$", "dNSHostName")
    assert old.dn == f"CN=OLD01,CN=Computers,{lab.dc.base_dn}"
    assert old["dNSHostName"] == ["old01.legacy.example"]


def _dacl_sids(descriptor: bytes) -> tuple[str, list[tuple[int, int, str]]]:
    """Owner SID and (type, mask, SID) of each ACE of a self-relative security descriptor."""

    def sid_at(offset: int) -> str:
        count = descriptor[offset + 1]
        return str(format_sid(descriptor[offset : offset + 8 + 4 * count]))

    owner_offset, _, _, dacl_offset = struct.unpack_from("<IIII", descriptor, 4)
    ace_count = struct.unpack_from("<H", descriptor, dacl_offset + 4)[0]
    aces, offset = [], dacl_offset + 8
    for _ in range(ace_count):
        ace_type, _, size, mask = struct.unpack_from("<BBHI", descriptor, offset)
        aces.append((ace_type, mask, sid_at(offset + 8)))
        offset += size
    return sid_at(owner_offset), aces


def test_rbcd_descriptor_names_the_allowed_principals(ldaps: Connection, lab: SeededLab) -> None:
    attr = "msDS-AllowedToActOnBehalfOfOtherIdentity"
    raw = _one(ldaps, lab, "APP01$", attr).raw[attr]
    assert len(raw) == 1
    owner, aces = _dacl_sids(raw[0])
    assert owner == "S-1-5-32-544"
    allowed = {_sid(ldaps, lab, "WEB01$"), _sid(ldaps, lab, "svc_t2a4d")}
    assert {sid for _, _, sid in aces} == allowed
    assert all(ace_type == 0 and mask == 0xF01FF for ace_type, mask, _ in aces)
    assert not _one(ldaps, lab, "FS01$", attr).raw.get(attr)


def test_nested_membership_reaches_domain_admins(ldaps: Connection, lab: SeededLab) -> None:
    admins = f"CN=Domain Admins,CN=Users,{lab.dc.base_dn}"
    assert ldaps.search(
        lab.dc.base_dn, f"(memberOf:{IN_CHAIN}:={admins})", attributes=["sAMAccountName"]
    )
    names = {e["attributes"]["sAMAccountName"][0] for e in _entries(ldaps)}
    assert {"adm_direct", "adm_nested", "Tier0", "Inner", "Administrator"} <= names
    direct = _one(ldaps, lab, "Domain Admins", "member")["member"]
    assert f"CN=Tier0,CN=Users,{lab.dc.base_dn}" in direct
    assert f"CN=adm_nested,CN=Users,{lab.dc.base_dn}" not in direct


def test_primary_group_is_domain_admins_without_member_link(
    ldaps: Connection, lab: SeededLab
) -> None:
    """As in AD: the primary group is implicit, so Samba drops the explicit member value."""
    user = _one(ldaps, lab, "adm_primary", "primaryGroupID", "memberOf")
    assert user["primaryGroupID"] == ["512"]
    assert f"CN=Domain Admins,CN=Users,{lab.dc.base_dn}" not in user["memberOf"]
    assert f"CN=Domain Users,CN=Users,{lab.dc.base_dn}" in user["memberOf"]
    assert _one(ldaps, lab, "adm_direct", "primaryGroupID")["primaryGroupID"] == ["513"]


def test_builtin_remote_access_groups(ldaps: Connection, lab: SeededLab) -> None:
    base = lab.dc.base_dn
    for sid, members in (
        ("S-1-5-32-580", {"winrm_user", "Inner"}),
        ("S-1-5-32-555", {"winrm_user"}),
    ):
        assert ldaps.search(
            base,
            f"(objectSid={sid})",
            attributes=["objectSid", "member", "groupType", "sAMAccountName"],
        )
        entries = _entries(ldaps)
        assert len(entries) == 1
        group = entries[0]
        assert group["dn"].endswith(f",CN=Builtin,{base}")
        assert format_sid(group["raw_attributes"]["objectSid"][0]) == sid
        assert group["attributes"]["groupType"] == ["-2147483643"]
        assert {dn.split(",")[0][3:] for dn in group["attributes"]["member"]} == members
    assert group["attributes"]["sAMAccountName"] == ["Remote Desktop Users"]
    rmu = _one(ldaps, lab, "Remote Management Users", "cn")
    assert rmu.dn == f"CN=Remote Management Users,CN=Builtin,{base}"


def test_machine_account_quota(ldaps: Connection, lab: SeededLab) -> None:
    assert ldaps.search(
        lab.dc.base_dn, "(objectClass=domain)", BASE, attributes=["ms-DS-MachineAccountQuota"]
    )
    assert _entries(ldaps)[0]["attributes"]["ms-DS-MachineAccountQuota"] == ["3"]


def test_hostile_strings_round_trip(ldaps: Connection, lab: SeededLab) -> None:
    assert _one(ldaps, lab, "svc_sql", "description")["description"] == [HOSTILE_DESCRIPTION]
    sam = "_script_alert(1)__script_ _Ops_ 'Ünïcødé — 管理'"
    group = _one(ldaps, lab, sam, "cn", "description", "member")
    assert group["cn"] == [HOSTILE_GROUP]
    assert group["description"] == [HOSTILE_DESCRIPTION]
    assert len(group["member"]) == 2


def test_seed_result(lab: SeededLab) -> None:
    # RMU + OU Servers + 3 groups + 9 users + 4 computers
    assert lab.seed.objects == 18
    assert set(lab.seed.passwords) == {u.name for u in lab.spec.users} | {
        c.sam_account_name for c in lab.spec.computers
    }


def test_seed_bulk(ldaps: Connection, lab: SeededLab) -> None:
    result = seed_bulk(lab.dc, users=400, computers=100, prefix="bk")
    assert result.objects == 501  # with OU=bk
    ou = f"OU=bk,{lab.dc.base_dn}"
    assert ldaps.search(
        ou, "(objectClass=user)", attributes=["userAccountControl"], paged_size=1000
    )
    assert len(_entries(ldaps)) == 500
    assert ldaps.search(
        ou, "(&(objectCategory=person)(servicePrincipalName=*))", attributes=["cn"], paged_size=1000
    )
    assert len(_entries(ldaps)) == 40
    assert ldaps.search(
        ou,
        "(userAccountControl:1.2.840.113556.1.4.803:=524288)",
        attributes=["cn"],
        paged_size=1000,
    )
    assert len(_entries(ldaps)) == 5
    print(
        f"bulk: {result.objects} objects in {result.seconds:.2f}s "
        f"({result.objects / result.seconds * 60:.0f}/min), helper {result.helper_seconds}"
    )
