"""Which of the domain's computers a domain scan visits: the configuration's inventory filters."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.facts.io import MAX_NAME_LENGTH


@dataclass(frozen=True)
class Inventory:
    """The configuration's `inventory` filters; the defaults visit enabled Windows computers."""

    from_domain: bool = True  # False: only the configuration's hosts
    enabled_only: bool = True
    os: tuple[str, ...] = ("*windows*",)
    ou: tuple[str, ...] = ()
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    last_logon_days: int | None = None


@dataclass(frozen=True)
class Selection:
    hosts: list[str]  # DNS names to scan, in a stable order
    skipped: dict[str, str]  # computer name -> why it was left out (shown in the report)


def _days_since(stamp: str | None, now: dt.datetime) -> float | None:
    if not stamp:
        return None
    try:
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (now - moment).total_seconds() / 86400


def _matches(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(value.lower(), p.lower()) for p in patterns)


def select_computers(
    computers: Iterable[Mapping[str, Any]], inventory: Inventory, now: dt.datetime
) -> Selection:
    """Apply enabled_only, os, ou, include/exclude (host names) and last_logon_days."""
    ous = [o.lower() for o in inventory.ou]
    hosts: list[str] = []
    skipped: dict[str, str] = {}
    for computer in computers:
        name = str(computer.get("name", ""))
        dns = str(computer.get("dns_host_name") or "").lower()
        why = None
        if not dns:
            why = "no dNSHostName"
        elif len(dns) > MAX_NAME_LENGTH:
            why = f"dNSHostName longer than {MAX_NAME_LENGTH} characters"
        elif inventory.enabled_only and not computer.get("enabled", False):
            why = "disabled"
        elif inventory.os and not _matches(str(computer.get("os") or ""), inventory.os):
            why = f"operating system {computer.get('os')!r} not selected"
        elif ous and not any(str(computer.get("dn", "")).lower().endswith(ou) for ou in ous):
            why = "outside the selected OUs"
        elif not _matches(dns, inventory.include) or _matches(dns, inventory.exclude):
            why = "excluded by name"
        elif inventory.last_logon_days is not None:
            age = _days_since(computer.get("last_logon"), now)
            if age is not None and age > inventory.last_logon_days:
                why = f"last logon {age:.0f} days ago"
        if why is None:
            hosts.append(dns)
        else:
            skipped[name] = why
    return Selection(sorted(set(hosts)), skipped)
