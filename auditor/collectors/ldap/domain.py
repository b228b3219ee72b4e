"""The domain itself: naming contexts, domain head (SID, policy, quota), NetBIOS name, SPN map."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ldap3.utils.conv import escape_filter_chars

from auditor.collectors.ldap.accounts import DEFAULT_HOST_ALIASES
from auditor.collectors.ldap.descriptor import DescriptorError, sid_to_string
from auditor.collectors.ldap.errors import LdapConnectError
from auditor.collectors.ldap.search import DirectoryReader, SearchError
from auditor.collectors.ldap.values import first, integer, interval_days, text
from auditor.facts.model import Reason, Unavailable

ROOT_DSE_ATTRIBUTES = (
    "defaultNamingContext",
    "configurationNamingContext",
    "domainFunctionality",
    "dnsHostName",
)
DOMAIN_HEAD_ATTRIBUTES = (
    "objectSid",
    "msDS-Behavior-Version",
    "ms-DS-MachineAccountQuota",
    "minPwdLength",
    "maxPwdAge",
    "lockoutThreshold",
    "pwdProperties",
    "pwdHistoryLength",
)
DOMAIN_PASSWORD_COMPLEX = 0x1  # pwdProperties bit (MS-SAMR 2.2.1.8)


@dataclass(frozen=True)
class NamingContexts:
    """Where the domain and configuration partitions are, from the root DSE."""

    domain_dn: str
    configuration_dn: str
    functional_level: int | None

    @property
    def dns_name(self) -> str:
        """The DNS name spelled by the domain DN (DC=corp,DC=example -> corp.example)."""
        return ".".join(part.partition("=")[2] for part in self.domain_dn.split(",")).lower()


def read_naming_contexts(reader: DirectoryReader, url: str) -> NamingContexts:
    """The root DSE is readable before and after binding; without it this is no DC."""
    try:
        root = reader.read("", ROOT_DSE_ATTRIBUTES)
    except SearchError as exc:
        raise LdapConnectError(f"{url}: cannot read the root DSE: {exc.detail}") from None
    domain, configuration = (
        text(first(root or {}, "defaultnamingcontext")),
        text(first(root or {}, "configurationnamingcontext")),
    )
    if not domain or not configuration:
        raise LdapConnectError(
            f"{url}: the root DSE names no domain (defaultNamingContext): "
            "is this an Active Directory domain controller?"
        )
    return NamingContexts(domain, configuration, integer(first(root or {}, "domainfunctionality")))


def read_domain_info(
    reader: DirectoryReader, contexts: NamingContexts
) -> tuple[str, dict[str, Any] | Unavailable]:
    """The domain SID, and the domain.info value or why it is unusable (a malformed value).

    Raises SearchError when the SID itself cannot be had: nothing can be identified without it.
    """
    head = reader.read(contexts.domain_dn, DOMAIN_HEAD_ATTRIBUTES)
    raw_sid = first(head or {}, "objectsid")
    if head is None or raw_sid is None:
        raise SearchError(
            f"{contexts.domain_dn}: objectSid",
            50,
            "the domain head's SID is not readable by the binding account",
        )
    try:
        sid = sid_to_string(raw_sid)
    except DescriptorError as exc:
        raise SearchError(f"{contexts.domain_dn}: objectSid", 2, str(exc)) from None
    try:
        info = _domain_info(head, sid, contexts)
    except ValueError as exc:
        return sid, Unavailable(Reason.PROTOCOL_ERROR, f"{contexts.domain_dn}: {exc}")
    partition = _partition(reader, contexts)
    if partition is not None:
        netbios, dns_root = partition
        if netbios:
            info["netbios_name"] = netbios
        if dns_root:
            info["dns_name"] = dns_root.lower()
    return sid, info


def _domain_info(
    head: dict[str, list[bytes]], sid: str, contexts: NamingContexts
) -> dict[str, Any]:
    properties = integer(first(head, "pwdproperties"))
    level = integer(first(head, "msds-behavior-version"))
    return {
        "dns_name": contexts.dns_name,
        "sid": sid,
        "functional_level": level if level is not None else contexts.functional_level,
        "machine_account_quota": integer(first(head, "ms-ds-machineaccountquota")),
        "password_policy": {
            "min_length": integer(first(head, "minpwdlength")),
            "max_age_days": interval_days(first(head, "maxpwdage")),
            "lockout_threshold": integer(first(head, "lockoutthreshold")),
            "complexity": None
            if properties is None
            else bool(properties & DOMAIN_PASSWORD_COMPLEX),
            "history_length": integer(first(head, "pwdhistorylength")),
        },
    }


def _partition(
    reader: DirectoryReader, contexts: NamingContexts
) -> tuple[str | None, str | None] | None:
    """NetBIOS name and DNS root from the domain's crossRef in CN=Partitions."""
    escaped = escape_filter_chars(contexts.domain_dn)
    try:
        for _, attributes in reader.search(
            f"CN=Partitions,{contexts.configuration_dn}",
            f"(&(objectClass=crossRef)(nCName={escaped}))",
            ["nETBIOSName", "dnsRoot"],
        ):
            return (text(first(attributes, "netbiosname")), text(first(attributes, "dnsroot")))
    except SearchError:
        return None  # optional: netbios_name is left out of domain.info
    return None


def read_host_aliases(reader: DirectoryReader, contexts: NamingContexts) -> frozenset[str]:
    """Service classes that HOST/<host> serves (sPNMappings); Windows' defaults if unreadable."""
    dn = f"CN=Directory Service,CN=Windows NT,CN=Services,{contexts.configuration_dn}"
    try:
        found = reader.read(dn, ["sPNMappings"])
    except SearchError:
        return DEFAULT_HOST_ALIASES
    aliases: set[str] = set()
    for value in (found or {}).get("spnmappings", ()):
        target, _, services = value.decode("utf-8", "replace").partition("=")
        if target.strip().lower() == "host":
            aliases.update(s.strip().lower() for s in services.split(",") if s.strip())
    return frozenset(aliases) if aliases else DEFAULT_HOST_ALIASES
