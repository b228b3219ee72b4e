"""Create a DomainSpec's users, computers, groups and delegation settings on a lab DC."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor.lab.domain_spec import AccountFlag, DomainSpec
from auditor.lab.samba import SambaDC, SambaError, generate_password

NORMAL_ACCOUNT = 0x200
WORKSTATION_TRUST_ACCOUNT = 0x1000
ACCOUNTDISABLE = 0x2
GLOBAL_SECURITY_GROUP = -2147483646
REMOTE_MANAGEMENT_USERS_SID = "S-1-5-32-580"
REMOTE_DESKTOP_USERS_SID = "S-1-5-32-555"
_RMU_DESCRIPTION = (
    "Members of this group can access WMI resources over management protocols (such as "
    "WS-Management via the Windows Remote Management service). This applies only to WMI "
    "namespaces that grant access to the user."
)

Op = dict[str, Any]


@dataclass(frozen=True)
class SeedResult:
    """What seeding created and how long it took; passwords by sAMAccountName."""

    objects: int
    seconds: float
    helper_seconds: Mapping[str, float]
    passwords: Mapping[str, str]


class _Refs:
    """Turns the names a spec uses into the helper's references (case-insensitive, as AD)."""

    def __init__(self, spec: DomainSpec) -> None:
        self.ids: dict[str, str] = {}
        for u in spec.users:
            self.ids[u.name.casefold()] = f"id:user:{u.name.casefold()}"
        for c in spec.computers:
            self.ids[c.sam_account_name.casefold()] = f"id:computer:{c.name.casefold()}"
        for g in spec.groups:
            self.ids[g.name.casefold()] = f"id:group:{g.name.casefold()}"
        self.ids["remote management users"] = f"sid:{REMOTE_MANAGEMENT_USERS_SID}"
        self.ids["remote desktop users"] = f"sid:{REMOTE_DESKTOP_USERS_SID}"

    def __call__(self, name: str) -> str:
        return self.ids.get(name.casefold(), f"sam:{name}")


def _uac(base: int, flags: tuple[AccountFlag, ...], enabled: bool) -> str:
    value = base | (0 if enabled else ACCOUNTDISABLE)
    for flag in flags:
        value |= flag.value
    return str(value)


def _optional(attrs: Op, **values: Any) -> Op:
    """Add the values that are set: ldb refuses an attribute without values.

    Keyword names are LDAP attribute names with `_` for `-` (msDS_AllowedToDelegateTo).
    """
    for key, value in values.items():
        if value is None or value == []:
            continue
        attrs[key.replace("_", "-")] = value if isinstance(value, list) else [value]
    return attrs


def build_plan(spec: DomainSpec, passwords: Mapping[str, str]) -> list[Op]:
    """The helper's steps for `spec`, in an order where every reference exists already."""
    ref = _Refs(spec)
    ops: list[Op] = [
        {
            "op": "ensure_builtin_group",
            "id": "builtin:rmu",
            "name": "Remote Management Users",
            "sid": REMOTE_MANAGEMENT_USERS_SID,
            "description": _RMU_DESCRIPTION,
        }
    ]
    for ou in dict.fromkeys(c.ou for c in spec.computers if c.ou):
        ops.append(
            {"op": "ensure_ou", "id": f"ou:{ou.casefold()}", "name": ou, "parent": "wk:domain"}
        )
    for g in spec.groups:
        ops.append(
            {
                "op": "add",
                "id": f"group:{g.name.casefold()}",
                "parent": "wk:users",
                "name": g.name,
                "attrs": _optional(
                    {
                        "objectClass": ["group"],
                        "sAMAccountName": [g.sam_account_name],
                        "groupType": [str(GLOBAL_SECURITY_GROUP)],
                    },
                    description=g.description,
                ),
            }
        )
    for u in spec.users:
        ops.append(
            {
                "op": "add",
                "id": f"user:{u.name.casefold()}",
                "parent": "wk:users",
                "name": u.name,
                "password": passwords[u.name],
                "attrs": _optional(
                    {
                        "objectClass": ["user"],
                        "sAMAccountName": [u.name],
                        "userPrincipalName": [f"{u.name}@{spec.realm}"],
                        "userAccountControl": [_uac(NORMAL_ACCOUNT, u.flags, u.enabled)],
                    },
                    description=u.description,
                    servicePrincipalName=list(u.spns),
                    msDS_AllowedToDelegateTo=list(u.allowed_to_delegate_to),
                    msDS_SupportedEncryptionTypes=None
                    if u.supported_encryption_types is None
                    else str(u.supported_encryption_types),
                ),
            }
        )
    for c in spec.computers:
        parent = f"id:ou:{c.ou.casefold()}" if c.ou else "wk:computers"
        spns = list(dict.fromkeys(c.default_spns + c.spns))
        ops.append(
            {
                "op": "add",
                "id": f"computer:{c.name.casefold()}",
                "parent": parent,
                "name": c.name,
                "password": passwords[c.sam_account_name],
                "attrs": _optional(
                    {
                        "objectClass": ["computer"],
                        "sAMAccountName": [c.sam_account_name],
                        "dNSHostName": [c.dns_host_name],
                        "userAccountControl": [_uac(WORKSTATION_TRUST_ACCOUNT, c.flags, c.enabled)],
                        "servicePrincipalName": spns,
                    },
                    description=c.description,
                    operatingSystem=c.operating_system,
                    operatingSystemVersion=c.operating_system_version,
                    msDS_AllowedToDelegateTo=list(c.allowed_to_delegate_to),
                ),
            }
        )
    ops += _membership_ops(spec, ref)
    for u in spec.users:
        if u.primary_group:
            ops.append(
                {"op": "set_primary_group", "target": ref(u.name), "group": ref(u.primary_group)}
            )
    for c in spec.computers:
        if c.allowed_to_act:
            ops.append(
                {
                    "op": "allow_to_act",
                    "target": ref(c.sam_account_name),
                    "principals": [ref(p) for p in c.allowed_to_act],
                }
            )
    ops.append(
        {
            "op": "replace",
            "target": "wk:domain",
            "attr": "ms-DS-MachineAccountQuota",
            "values": [str(spec.machine_account_quota)],
        }
    )
    # Samba registers the DC's ldap/ SPNs from its dnsupdate service, which the lab does not
    # run: without them the KDC knows no ldap/<dc>, and Kerberos (GSSAPI) binds fail.
    fqdn, name = spec.dc_fqdn, spec.dc.name
    ops.append(
        {
            "op": "replace",
            "target": f"sam:{name}$",
            "attr": "servicePrincipalName",
            "values": [
                f"HOST/{fqdn}",
                f"HOST/{name}",
                f"HOST/{fqdn}/{fqdn}",
                f"ldap/{fqdn}",
                f"ldap/{name}",
                f"ldap/{fqdn}/{spec.realm}",
            ],
        }
    )
    return ops


def _membership_ops(spec: DomainSpec, ref: _Refs) -> list[Op]:
    """One modify per group, with every member the spec gives it from any direction."""
    members: dict[str, list[str]] = {}
    for u in spec.users:
        for group in u.groups:
            members.setdefault(ref(group), []).append(ref(u.name))
    for g in spec.groups:
        members.setdefault(ref(g.name), []).extend(ref(m) for m in g.members)
        for parent in g.member_of:
            members.setdefault(ref(parent), []).append(ref(g.name))
    for sid, names in (
        (REMOTE_MANAGEMENT_USERS_SID, spec.remote_management_users),
        (REMOTE_DESKTOP_USERS_SID, spec.remote_desktop_users),
    ):
        members.setdefault(f"sid:{sid}", []).extend(ref(n) for n in names)
    return [
        {"op": "add_members", "target": group, "members": list(dict.fromkeys(refs))}
        for group, refs in members.items()
        if refs
    ]


def seed(dc: SambaDC, spec: DomainSpec, *, timeout: float = 300.0) -> SeedResult:
    """Create everything in `spec` in one transaction through the DC's local sam.ldb."""
    if spec.realm != dc.realm:
        raise SambaError(f"{dc.directory}: spec is for {spec.realm}, the DC for {dc.realm}")
    passwords = {u.name: u.password or generate_password() for u in spec.users}
    passwords |= {c.sam_account_name: generate_password() for c in spec.computers}
    return _apply(dc, build_plan(spec, passwords), passwords, batch_mode=False, timeout=timeout)


def build_bulk_plan(realm: str, users: int, computers: int, prefix: str) -> list[Op]:
    """Benchmark objects under OU=<prefix>.

    Every 10th user is kerberoastable, every 25th AS-REP-roastable; every 20th computer has
    unconstrained delegation and every 10th its HOST SPNs (Samba checks a HOST SPN against
    ~50 service-class aliases, 3-4 ms a computer, so giving them to all would quarter the
    rate).
    """
    ops: list[Op] = [{"op": "ensure_ou", "id": "ou", "name": prefix, "parent": "wk:domain"}]
    for i in range(users):
        name = f"{prefix}u{i:06d}"
        flags = (AccountFlag.DONT_REQ_PREAUTH.value if i % 25 == 0 else 0) | (
            AccountFlag.PASSWD_NOTREQD.value if i % 50 == 7 else 0
        )
        ops.append(
            {
                "op": "add",
                "id": f"u{i}",
                "parent": "id:ou",
                "name": name,
                "attrs": _optional(
                    {
                        "objectClass": ["user"],
                        "sAMAccountName": [name],
                        "userPrincipalName": [f"{name}@{realm}"],
                        "userAccountControl": [str(NORMAL_ACCOUNT | flags)],
                    },
                    servicePrincipalName=f"MSSQLSvc/{name}.{realm}:1433" if i % 10 == 0 else None,
                ),
            }
        )
    for i in range(computers):
        name = f"{prefix}c{i:06d}".upper()
        fqdn = f"{name.lower()}.{realm}"
        flags = AccountFlag.TRUSTED_FOR_DELEGATION.value if i % 20 == 0 else 0
        ops.append(
            {
                "op": "add",
                "id": f"c{i}",
                "parent": "id:ou",
                "name": name,
                "attrs": _optional(
                    {
                        "objectClass": ["computer"],
                        "sAMAccountName": [f"{name}$"],
                        "dNSHostName": [fqdn],
                        "userAccountControl": [str(WORKSTATION_TRUST_ACCOUNT | flags)],
                        "operatingSystem": [
                            "Windows 11 Enterprise" if i % 4 else "Windows Server 2022"
                        ],
                    },
                    servicePrincipalName=[f"HOST/{name}", f"HOST/{fqdn}"] if i % 10 == 0 else None,
                ),
            }
        )
    return ops


def seed_bulk(
    dc: SambaDC, users: int, computers: int, *, prefix: str = "bulk", timeout: float | None = None
) -> SeedResult:
    """Many objects fast, for benchmarks: batch mode and no passwords (hashing one costs
    ~17 ms, which would cap the rate near 3,500 accounts a minute)."""
    if not prefix.isalnum() or len(prefix) > 8:
        raise SambaError(f"{dc.directory}: bulk prefix must be 1-8 letters or digits")
    plan = build_bulk_plan(dc.realm, users, computers, prefix)
    budget = timeout if timeout is not None else 120.0 + (users + computers) / 200
    return _apply(dc, plan, {}, batch_mode=True, timeout=budget)


def _apply(
    dc: SambaDC, plan: list[Op], passwords: Mapping[str, str], *, batch_mode: bool, timeout: float
) -> SeedResult:
    started = time.monotonic()
    out = dc.run_helper("apply_plan", {"batch_mode": batch_mode, "ops": plan}, timeout)
    if not isinstance(out, dict) or not isinstance(out.get("objects"), int):
        raise SambaError(f"{dc.directory}: apply_plan: unexpected answer {out!r:.200}")
    return SeedResult(
        objects=out["objects"],
        seconds=time.monotonic() - started,
        helper_seconds=dict(out.get("seconds", {})),
        passwords=dict(passwords),
    )
