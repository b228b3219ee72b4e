"""Inventory filters for the domain fan-out."""

from __future__ import annotations

import datetime as dt

from auditor.pipeline.inventory import Inventory, select_computers

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
COMPUTERS = [
    {
        "name": "DC1",
        "dns_host_name": "dc1.corp.test",
        "dn": "CN=DC1,OU=Domain Controllers,DC=corp,DC=test",
        "os": "Windows Server 2022 Datacenter",
        "enabled": True,
        "last_logon": "2026-05-30T00:00:00Z",
        "is_dc": True,
    },
    {
        "name": "OLD",
        "dns_host_name": "old.corp.test",
        "dn": "CN=OLD,CN=Computers,DC=corp,DC=test",
        "os": "Windows Server 2012 R2",
        "enabled": True,
        "last_logon": "2025-01-01T00:00:00Z",
        "is_dc": False,
    },
    {
        "name": "OFF",
        "dns_host_name": "off.corp.test",
        "dn": "CN=OFF,CN=Computers,DC=corp,DC=test",
        "os": "Windows 10 Enterprise",
        "enabled": False,
        "last_logon": None,
        "is_dc": False,
    },
    {
        "name": "NAS",
        "dns_host_name": "nas.corp.test",
        "dn": "CN=NAS,CN=Computers,DC=corp,DC=test",
        "os": "Samba",
        "enabled": True,
        "last_logon": None,
        "is_dc": False,
    },
    {
        "name": "GHOST",
        "dns_host_name": None,
        "dn": "CN=GHOST,CN=Computers,DC=corp,DC=test",
        "os": "Windows 11",
        "enabled": True,
        "last_logon": None,
        "is_dc": False,
    },
]


def test_defaults_keep_enabled_windows_with_names() -> None:
    selection = select_computers(COMPUTERS, Inventory(), NOW)
    assert selection.hosts == ["dc1.corp.test", "old.corp.test"]
    assert selection.skipped == {
        "OFF": "disabled",
        "NAS": "operating system 'Samba' not selected",
        "GHOST": "no dNSHostName",
    }


def test_last_logon_ou_and_name_filters() -> None:
    assert (
        select_computers(COMPUTERS, Inventory(last_logon_days=90), NOW).skipped["OLD"]
        == "last logon 516 days ago"
    )
    ou = select_computers(COMPUTERS, Inventory(ou=("OU=Domain Controllers,DC=corp,DC=test",)), NOW)
    assert ou.hosts == ["dc1.corp.test"]
    named = select_computers(COMPUTERS, Inventory(include=("*.corp.test",), exclude=("dc*",)), NOW)
    assert named.hosts == ["old.corp.test"]
    everything = select_computers(COMPUTERS, Inventory(enabled_only=False, os=()), NOW)
    assert everything.hosts == ["dc1.corp.test", "nas.corp.test", "off.corp.test", "old.corp.test"]


def test_a_dns_name_longer_than_dns_allows_is_left_out_with_its_reason() -> None:
    """A directory value is input too: it is copied into every result of the host."""
    huge = {**COMPUTERS[0], "name": "HUGE", "dns_host_name": "h" * 254 + ".corp.test"}
    selection = select_computers([COMPUTERS[0], huge], Inventory(), NOW)
    assert selection.hosts == ["dc1.corp.test"]
    assert selection.skipped == {"HUGE": "dNSHostName longer than 253 characters"}
