"""Every user, computer and managed service account from one paged stream, as compact records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from auditor.collectors.ldap.descriptor import (
    DescriptorError,
    parse_security_descriptor,
    sid_to_string,
)
from auditor.collectors.ldap.membership import TIER0_KEYS, Membership
from auditor.collectors.ldap.values import (
    ACCOUNTDISABLE,
    PARTIAL_SECRETS_ACCOUNT,
    SERVER_TRUST_ACCOUNT,
    TRUSTED_FOR_DELEGATION,
    TRUSTED_TO_AUTH_FOR_DELEGATION,
    WELL_KNOWN_SIDS,
    age_days,
    filetime,
    filetime_iso,
    first,
    integer,
    parent_dn,
    rdn_value,
    text,
    uac_flag_names,
)
from auditor.facts.model import Reason

# sAMAccountType (MS-SAMR 2.2.1.9): normal users, machines (incl. managed service accounts),
# trust accounts. Indexed on every DC, unlike objectCategory/objectClass combinations.
ACCOUNT_FILTER = "(|(sAMAccountType=805306368)(sAMAccountType=805306369)(sAMAccountType=805306370))"
ACCOUNT_ATTRIBUTES = (
    "sAMAccountName",
    "objectSid",
    "objectCategory",
    "sAMAccountType",
    "userAccountControl",
    "servicePrincipalName",
    "description",
    "pwdLastSet",
    "lastLogonTimestamp",
    "msDS-SupportedEncryptionTypes",
    "primaryGroupID",
    "msDS-AllowedToDelegateTo",
    "msDS-AllowedToActOnBehalfOfOtherIdentity",
    "mS-DS-CreatorSID",
    "dNSHostName",
    "operatingSystem",
    "operatingSystemVersion",
)
RBCD_ATTRIBUTE = "msDS-AllowedToActOnBehalfOfOtherIdentity"
SAM_MACHINE_ACCOUNT = 805306369
DC_PRIMARY_GROUP = 516  # Domain Controllers (MS-ADTS 2.2.15)
RODC_PRIMARY_GROUP = 521  # Read-only Domain Controllers
KRBTGT_RID = 502
# MS-DRSR 4.1.4.2.19 MapSPN: the default sPNMappings of a Windows forest, used when the
# forest's own value cannot be read. A target SPN of these classes is served by HOST/<host>.
DEFAULT_HOST_ALIASES = frozenset(
    {
        "alerter",
        "appmgmt",
        "cisvc",
        "clipsrv",
        "browser",
        "dhcp",
        "dnscache",
        "replicator",
        "eventlog",
        "eventsystem",
        "policyagent",
        "oakley",
        "dmserver",
        "dns",
        "mcsvc",
        "fax",
        "msiserver",
        "ias",
        "messenger",
        "netlogon",
        "netman",
        "netdde",
        "netddedsm",
        "nmagent",
        "plugplay",
        "protectedstorage",
        "rasman",
        "rpclocator",
        "rpc",
        "rpcss",
        "remoteaccess",
        "rsvp",
        "samss",
        "scardsvr",
        "scesrv",
        "seclogon",
        "scm",
        "dcom",
        "cifs",
        "spooler",
        "snmp",
        "schedule",
        "tapisrv",
        "trksvr",
        "trkwks",
        "ups",
        "time",
        "wins",
        "www",
        "http",
        "w3svc",
        "iisadmin",
        "msdtc",
    }
)
_MSA_CATEGORIES = (
    "ms-DS-Managed-Service-Account",
    "ms-DS-Group-Managed-Service-Account",
    "ms-DS-Delegated-Managed-Service-Account",
)


@cache
def _kind(category_dn: str | None, account_type: int | None) -> str:
    if category_dn and rdn_value(category_dn) in _MSA_CATEGORIES:
        return "managed_service_account"
    return "computer" if account_type == SAM_MACHINE_ACCOUNT else "user"


@dataclass
class AccountIndex:
    """Records as they stream past, and what is needed to finish them.

    Delegation targets and RBCD trustees may stream past after the account that names them,
    so two indexes (SID and servicePrincipalName to account) are built on the way and
    `finish` resolves them at the end.
    """

    domain_sid: str
    now: dt.datetime
    membership: Membership | None  # None: group membership could not be read
    records: list[dict[str, Any]] = field(default_factory=list)
    computers: list[dict[str, Any]] = field(default_factory=list)
    controllers: list[dict[str, Any]] = field(default_factory=list)
    by_sid: dict[str, int] = field(default_factory=dict)
    spns: dict[str, int] = field(default_factory=dict)
    group_members: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> {SID: via}
    # Entries that could not become records: every fact built from the stream is incomplete.
    unreadable: list[tuple[Reason, str]] = field(default_factory=list)
    # Records with one unusable attribute (a malformed RBCD descriptor): `accounts` only.
    malformed: list[str] = field(default_factory=list)
    krbtgt: int | None = None
    _constrained: list[tuple[int, list[str]]] = field(default_factory=list)
    _rbcd: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)

    def add(self, dn: str, attributes: dict[str, list[bytes]]) -> None:
        """Turn one entry into a record; an unreadable one is noted in `unreadable`.

        Every value is converted before anything is indexed, so a bad entry leaves no trace.
        """
        missing = [
            name
            for name, key in (
                ("objectSid", "objectsid"),
                ("sAMAccountName", "samaccountname"),
                ("userAccountControl", "useraccountcontrol"),
            )
            if first(attributes, key) is None
        ]
        if missing:
            self.unreadable.append(
                (
                    Reason.ACCESS_DENIED,
                    f"{dn}: {', '.join(missing)} not returned (not readable by the binding "
                    "account?)",
                )
            )
            return
        try:
            record = self._record(dn, attributes)
            targets = [v.decode() for v in attributes.get("msds-allowedtodelegateto", ())]
            computer = self._computer(record, attributes) if record["kind"] == "computer" else None
        except ValueError as exc:  # DescriptorError, UnicodeDecodeError, int() and dates too
            self.unreadable.append((Reason.PROTOCOL_ERROR, f"{dn}: unreadable value: {exc}"))
            return
        index = len(self.records)
        self.records.append(record)
        self.by_sid[record["sid"]] = index
        for spn in record["spns"]:
            self.spns.setdefault(spn.lower(), index)
        if record["sid"] == f"{self.domain_sid}-{KRBTGT_RID}":
            self.krbtgt = index
        self._privilege(record)
        self._delegation(index, record, targets, first(attributes, RBCD_ATTRIBUTE.lower()))
        if computer is not None:
            self.computers.append(computer)
        if record["is_dc"] or record["is_rodc"]:
            self.controllers.append(
                {
                    "name": record["sam"].removesuffix("$"),
                    "dn": dn,
                    "dns_host_name": computer["dns_host_name"] if computer else None,
                    "os": computer["os"] if computer else None,
                    "rodc": record["is_rodc"],
                }
            )

    def _record(self, dn: str, attributes: dict[str, list[bytes]]) -> dict[str, Any]:
        uac = int(attributes["useraccountcontrol"][0])
        primary = integer(first(attributes, "primarygroupid"))
        rodc = bool(uac & PARTIAL_SECRETS_ACCOUNT) or primary == RODC_PRIMARY_GROUP
        pwd = filetime(first(attributes, "pwdlastset"))
        category = first(attributes, "objectcategory")
        return {
            "dn": dn,
            "sam": attributes["samaccountname"][0].decode(),
            "sid": sid_to_string(attributes["objectsid"][0]),
            "kind": _kind(
                category.decode() if category else None,
                integer(first(attributes, "samaccounttype")),
            ),
            "enabled": not uac & ACCOUNTDISABLE,
            "uac": uac,
            "flags": list(uac_flag_names(uac)),
            "spns": [v.decode() for v in attributes.get("serviceprincipalname", ())],
            "description": text(first(attributes, "description")),
            "pwd_last_set": filetime_iso(pwd),
            "password_age_days": age_days(pwd, self.now),
            "last_logon": filetime_iso(filetime(first(attributes, "lastlogontimestamp"))),
            "enc_types": integer(first(attributes, "msds-supportedencryptiontypes")),
            "primary_group_id": primary,
            "is_dc": not rodc and (bool(uac & SERVER_TRUST_ACCOUNT) or primary == DC_PRIMARY_GROUP),
            "is_rodc": rodc,
            "created_by_quota": "ms-ds-creatorsid" in attributes,
        }

    def _privilege(self, record: dict[str, Any]) -> None:
        """privileged, privileged_groups, protected_user: left out when groups are unknown."""
        if self.membership is None:
            return
        vias = self.membership.groups_of(record["sid"], record["primary_group_id"])
        record["privileged_groups"] = sorted(k for k in vias if k in TIER0_KEYS)
        record["privileged"] = bool(record["privileged_groups"])
        record["protected_user"] = "protected_users" in vias
        for key, via in vias.items():
            self.group_members.setdefault(key, {})[record["sid"]] = via

    def _delegation(
        self, index: int, record: dict[str, Any], targets: list[str], raw_sd: bytes | None
    ) -> None:
        uac = record["uac"]
        if not (
            targets or raw_sd or uac & (TRUSTED_FOR_DELEGATION | TRUSTED_TO_AUTH_FOR_DELEGATION)
        ):
            return
        record["delegation"] = {
            "unconstrained": bool(uac & TRUSTED_FOR_DELEGATION),
            "protocol_transition": bool(uac & TRUSTED_TO_AUTH_FOR_DELEGATION),
            "constrained_to": [],
            "rbcd_trustees": [],
        }
        if targets:
            self._constrained.append((index, targets))
        if raw_sd is not None:
            try:
                self._rbcd.append((index, parse_security_descriptor(raw_sd).allowed_sids()))
            except DescriptorError as exc:
                self.malformed.append(f"{record['dn']}: {RBCD_ATTRIBUTE}: {exc}")

    def _computer(
        self, record: dict[str, Any], attributes: dict[str, list[bytes]]
    ) -> dict[str, Any]:
        return {
            "name": record["sam"].removesuffix("$"),
            "dn": record["dn"],
            "dns_host_name": text(first(attributes, "dnshostname")),
            "os": text(first(attributes, "operatingsystem")),
            "os_version": text(first(attributes, "operatingsystemversion")),
            "enabled": record["enabled"],
            "last_logon": record["last_logon"],
            "ou": parent_dn(record["dn"]),
            "is_dc": record["is_dc"] or record["is_rodc"],
        }

    def finish(self, host_aliases: frozenset[str]) -> None:
        """Resolve delegation targets and RBCD trustees now that every account is known."""
        for index, spns in self._constrained:
            self.records[index]["delegation"]["constrained_to"] = [
                self._target(spn, host_aliases) for spn in spns
            ]
        for index, sids in self._rbcd:
            self.records[index]["delegation"]["rbcd_trustees"] = [self._trustee(s) for s in sids]

    def _target(self, spn: str, host_aliases: frozenset[str]) -> dict[str, Any]:
        """Who serves `spn`: an exact SPN, HOST/<host> for a mapped class, or the KDC itself."""
        service, _, rest = spn.partition("/")
        service = service.lower()
        owner = self.spns.get(spn.lower())
        if owner is None and service in host_aliases:
            owner = self.spns.get(f"host/{rest.lower()}")
        if owner is None and service == "krbtgt":  # served by the KDC, listed on no account
            owner = self.krbtgt
        target = self.records[owner] if owner is not None else None
        return {
            "spn": spn,
            "exists": target is not None,
            "target_dn": target["dn"] if target else None,
            "target_is_dc": bool(target and (target["is_dc"] or target["is_rodc"])),
            "target_is_krbtgt": owner is not None and owner == self.krbtgt,
        }

    def _trustee(self, sid: str) -> dict[str, Any]:
        index = self.by_sid.get(sid)
        if index is not None:
            account = self.records[index]
            return {
                "sid": sid,
                "name": account["sam"],
                "dn": account["dn"],
                "kind": account["kind"],
                "privileged": account.get("privileged"),
                "created_by_quota": account["created_by_quota"],
            }
        group = self.membership.groups.get(sid) if self.membership else None
        if group is not None and self.membership is not None:
            return {
                "sid": sid,
                "name": group.sam,
                "dn": group.dn,
                "kind": "group",
                "privileged": sid in self.membership.tier0_group_sids,
                "created_by_quota": False,
            }
        if sid in WELL_KNOWN_SIDS and not sid.startswith("S-1-5-32-"):
            return {
                "sid": sid,
                "name": WELL_KNOWN_SIDS[sid],
                "dn": None,
                "kind": "well_known",
                "privileged": False,
                "created_by_quota": False,
            }
        return {
            "sid": sid,
            "name": None,
            "dn": None,
            "kind": None,
            "privileged": None,
            "created_by_quota": None,
        }
