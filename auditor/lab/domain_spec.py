"""The `domain:` section of a lab definition: typed, immutable, strictly parsed."""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import InputProblems
from auditor.resources import package_path
from auditor.strict import Node, Problems, shown

DEFAULT_DOMAIN_FILE = package_path("lab", "default_domain.yaml")


class AccountFlag(enum.Enum):
    """userAccountControl bits a spec may set; the value is the bit."""

    PASSWD_NOTREQD = 0x20
    ENCRYPTED_TEXT_PWD_ALLOWED = 0x80
    DONT_EXPIRE_PASSWORD = 0x10000
    TRUSTED_FOR_DELEGATION = 0x80000
    NOT_DELEGATED = 0x100000
    USE_DES_KEY_ONLY = 0x200000
    DONT_REQ_PREAUTH = 0x400000
    TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000


# Groups a fresh Samba 4.17 domain has, by sAMAccountName. Global/universal ones can be a
# primary group; domain-local and BUILTIN ones cannot.
BUILTIN_GLOBAL_GROUPS = frozenset(
    {
        "Domain Admins",
        "Domain Users",
        "Domain Guests",
        "Domain Computers",
        "Domain Controllers",
        "Schema Admins",
        "Enterprise Admins",
        "Group Policy Creator Owners",
        "Read-only Domain Controllers",
        "Enterprise Read-only Domain Controllers",
        "Protected Users",
        "DnsUpdateProxy",
    }
)
BUILTIN_LOCAL_GROUPS = frozenset(
    {
        "Cert Publishers",
        "RAS and IAS Servers",
        "Allowed RODC Password Replication Group",
        "Denied RODC Password Replication Group",
        "DnsAdmins",
        "Administrators",
        "Users",
        "Guests",
        "Account Operators",
        "Server Operators",
        "Print Operators",
        "Backup Operators",
        "Replicator",
        "Remote Desktop Users",
        "Network Configuration Operators",
        "Performance Monitor Users",
        "Performance Log Users",
        "Distributed COM Users",
        "IIS_IUSRS",
        "Cryptographic Operators",
        "Event Log Readers",
        "Certificate Service DCOM Access",
        "Incoming Forest Trust Builders",
        "Windows Authorization Access Group",
        "Terminal Server License Servers",
        "Pre-Windows 2000 Compatible Access",
        # Samba 4.17 lacks it; the seeder creates it (S-1-5-32-580).
        "Remote Management Users",
    }
)
BUILTIN_ACCOUNTS = frozenset({"Administrator", "Guest", "krbtgt"})

_SAM_INVALID = re.compile(r'["/\\\[\]:;|=,+*?<>@]')
_NETBIOS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,14}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class DcSpec:
    """The domain controller: NetBIOS host name and its loopback address."""

    name: str
    address: str


@dataclass(frozen=True)
class UserSpec:
    """A user account to create, with what makes it interesting to the rules."""

    name: str
    description: str | None = None
    enabled: bool = True
    spns: tuple[str, ...] = ()
    flags: tuple[AccountFlag, ...] = ()
    groups: tuple[str, ...] = ()
    primary_group: str | None = None
    allowed_to_delegate_to: tuple[str, ...] = ()
    supported_encryption_types: int | None = None
    password: str | None = None


@dataclass(frozen=True)
class ComputerSpec:
    """A computer account (name without `$`); `dns_host_name` is already defaulted."""

    name: str
    dns_host_name: str
    description: str | None = None
    operating_system: str | None = None
    operating_system_version: str | None = None
    enabled: bool = True
    spns: tuple[str, ...] = ()
    flags: tuple[AccountFlag, ...] = ()
    allowed_to_delegate_to: tuple[str, ...] = ()
    allowed_to_act: tuple[str, ...] = ()
    ou: str | None = None

    @property
    def sam_account_name(self) -> str:
        return f"{self.name}$"

    @property
    def default_spns(self) -> tuple[str, str]:
        """What Windows registers for a joined host, so Kerberos to HOST/ works."""
        return (f"HOST/{self.name}", f"HOST/{self.dns_host_name}")


@dataclass(frozen=True)
class GroupSpec:
    """A global security group; `name` is its cn and may hold any printable text."""

    name: str
    description: str | None = None
    members: tuple[str, ...] = ()
    member_of: tuple[str, ...] = ()

    @property
    def sam_account_name(self) -> str:
        """AD refuses some characters in sAMAccountName; ADUC puts `_` in their place."""
        return _SAM_INVALID.sub("_", self.name)


@dataclass(frozen=True)
class DomainSpec:
    """One AD domain with one DC and the objects to seed into it."""

    realm: str
    netbios: str
    dc: DcSpec
    machine_account_quota: int = 10
    users: tuple[UserSpec, ...] = ()
    computers: tuple[ComputerSpec, ...] = ()
    groups: tuple[GroupSpec, ...] = ()
    remote_management_users: tuple[str, ...] = ()
    remote_desktop_users: tuple[str, ...] = ()

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={label}" for label in self.realm.split("."))

    @property
    def dc_fqdn(self) -> str:
        return f"{self.dc.name}.{self.realm}"


class DomainSpecError(InputProblems):
    """Every problem found in a domain section, one `source[:line]: key.path: message` each."""


def _record(node: Node, required: frozenset[str], optional: frozenset[str]) -> bool:
    """A mapping with these keys (problems worded as docs/lab-domain.md shows them)."""
    if node.mapping() is None:
        return False
    node.keys(required | optional, sorted(required), terse=True)
    return True


def _name(node: Node) -> str | None:
    return node.text(nonempty=True)


def _spn(node: Node) -> str | None:
    spn = node.text(nonempty=True)
    if spn is None:
        return None
    service, _, host = spn.partition("/")
    if not service or not host or any(c.isspace() for c in spn):
        node.fail(f"{shown(spn)} is not an SPN like 'service/host[:port]'")
        return None
    return spn


def _flag(node: Node) -> AccountFlag | None:
    if isinstance(node.value, str) and node.value in AccountFlag.__members__:
        return AccountFlag[node.value]
    node.fail(f"unknown flag {shown(node.value)}; allowed: {', '.join(AccountFlag.__members__)}")
    return None


_USER_KEYS = frozenset(
    {
        "description",
        "enabled",
        "spns",
        "flags",
        "groups",
        "primary_group",
        "allowed_to_delegate_to",
        "supported_encryption_types",
        "password",
    }
)
_COMPUTER_KEYS = frozenset(
    {
        "dns_host_name",
        "description",
        "operating_system",
        "operating_system_version",
        "enabled",
        "spns",
        "flags",
        "allowed_to_delegate_to",
        "allowed_to_act",
        "ou",
    }
)
_GROUP_KEYS = frozenset({"description", "members", "member_of"})
_DOMAIN_KEYS = frozenset(
    {
        "machine_account_quota",
        "users",
        "computers",
        "groups",
        "remote_management_users",
        "remote_desktop_users",
    }
)


def _parse_user(node: Node) -> UserSpec | None:
    if not _record(node, frozenset({"name"}), _USER_KEYS):
        return None
    name = node["name"].text()
    if name is not None and (_SAM_INVALID.search(name) or not 0 < len(name) <= 20):
        node["name"].fail(
            f"{shown(name)} is not a valid sAMAccountName "
            '(1-20 characters, none of "/\\[]:;|=,+*?<>@)'
        )
    password = node["password"].text()
    if password == "":
        node["password"].fail("must not be empty (leave it out to generate one)")
    return UserSpec(
        name=name or "",
        description=node["description"].text(),
        enabled=node["enabled"].boolean(True),
        spns=node["spns"].each(_spn),
        flags=node["flags"].each(_flag),
        groups=node["groups"].each(_name),
        primary_group=node["primary_group"].text(),
        allowed_to_delegate_to=node["allowed_to_delegate_to"].each(_spn),
        supported_encryption_types=node["supported_encryption_types"].integer(0, 0x7FFFFFFF),
        password=password,
    )


def _parse_computer(node: Node, realm: str) -> ComputerSpec | None:
    if not _record(node, frozenset({"name"}), _COMPUTER_KEYS):
        return None
    name = node["name"].text() or ""
    if name and not _NETBIOS.match(name):
        node["name"].fail(
            f"{shown(name)} is not a NetBIOS host name (1-15 letters, digits "
            "or '-', without the trailing '$')"
        )
    ou = node["ou"].text()
    if ou is not None and (not ou.strip() or ou != ou.strip() or len(ou) > 64):
        node["ou"].fail("must be 1-64 characters without surrounding spaces")
    return ComputerSpec(
        name=name,
        dns_host_name=node["dns_host_name"].text() or f"{name.lower()}.{realm}",
        description=node["description"].text(),
        operating_system=node["operating_system"].text(),
        operating_system_version=node["operating_system_version"].text(),
        enabled=node["enabled"].boolean(True),
        spns=node["spns"].each(_spn),
        flags=node["flags"].each(_flag),
        allowed_to_delegate_to=node["allowed_to_delegate_to"].each(_spn),
        allowed_to_act=node["allowed_to_act"].each(_name),
        ou=ou,
    )


def _parse_group(node: Node) -> GroupSpec | None:
    if not _record(node, frozenset({"name"}), _GROUP_KEYS):
        return None
    name = node["name"].text() or ""
    if name and (name != name.strip() or len(name) > 64 or _CONTROL.search(name)):
        node["name"].fail("must be 1-64 printable characters without surrounding spaces")
    return GroupSpec(
        name=name,
        description=node["description"].text(),
        members=node["members"].each(_name),
        member_of=node["member_of"].each(_name),
    )


def _parse_header(domain: Node) -> tuple[str, str, DcSpec]:
    realm = (domain["realm"].text() or "").lower()
    labels = realm.split(".")
    if realm and (len(labels) < 2 or not all(_DNS_LABEL.match(label) for label in labels)):
        domain["realm"].fail(f"{shown(realm)} is not a DNS domain name with two or more labels")
    netbios = (domain["netbios"].text() or "").upper()
    if netbios and not _NETBIOS.match(netbios):
        domain["netbios"].fail(f"{shown(netbios)} is not a NetBIOS name (1-15 letters/digits/-)")
    dc_name, address = "", ""
    dc = domain["dc"]
    # When missing, the domain's own key check already said so.
    if dc.present and _record(dc, frozenset({"name", "address"}), frozenset()):
        dc_name = (dc["name"].text() or "").upper()
        if dc_name and not _NETBIOS.match(dc_name):
            dc["name"].fail(f"{shown(dc_name)} is not a NetBIOS host name")
        if dc_name and dc_name == netbios:
            dc["name"].fail("must differ from the domain's NetBIOS name")
        address = dc["address"].text() or ""
        try:
            if address and not ipaddress.IPv4Address(address).is_loopback:
                dc["address"].fail(
                    f"{address} is not in 127.0.0.0/8: the lab only runs on loopback"
                )
        except ipaddress.AddressValueError:
            dc["address"].fail(f"{shown(address)} is not an IPv4 address")
    return realm, netbios, DcSpec(name=dc_name, address=address)


def read_domain(domain: Node) -> DomainSpec | None:
    """A DomainSpec from the node of a `domain:` section, its problems added to the node's."""
    if not _record(domain, frozenset({"realm", "netbios", "dc"}), _DOMAIN_KEYS):
        return None
    before = len(domain.problems)
    realm, netbios, dc = _parse_header(domain)
    quota = domain["machine_account_quota"].integer(0, 1_000_000)
    spec = DomainSpec(
        realm=realm,
        netbios=netbios,
        dc=dc,
        machine_account_quota=10 if quota is None else quota,
        users=domain["users"].each(_parse_user),
        computers=domain["computers"].each(lambda node: _parse_computer(node, realm)),
        groups=domain["groups"].each(_parse_group),
        remote_management_users=domain["remote_management_users"].each(_name),
        remote_desktop_users=domain["remote_desktop_users"].each(_name),
    )
    if len(domain.problems) == before:  # every item converted: spec indices are the file's
        _check_references(domain, spec)
    return spec


def parse_domain_spec(data: object, *, source: str = "<lab>", path: str = "domain") -> DomainSpec:
    """Build a DomainSpec from YAML-loaded data; raise DomainSpecError listing every problem.

    Problems name the key path without a line (`lab.yaml: domain.users[0].name: ...`), as
    docs/lab-domain.md shows; `auditor lab up --definition` reads with lines (lab/definition.py).
    """
    problems = Problems(source, lines=False)
    spec = read_domain(problems.root(data, path))
    if spec is None or problems.items:  # None comes with its problem
        raise DomainSpecError(problems.items)
    return spec


def _check_references(domain: Node, spec: DomainSpec) -> None:
    """Names must be unique (AD compares them case-insensitively) and references resolvable."""
    spec_groups = {g.name.casefold() for g in spec.groups}
    all_groups = spec_groups | {g.casefold() for g in BUILTIN_GLOBAL_GROUPS | BUILTIN_LOCAL_GROUPS}
    primary_ok = spec_groups | {g.casefold() for g in BUILTIN_GLOBAL_GROUPS}
    accounts = (
        {u.name.casefold() for u in spec.users}
        | {c.sam_account_name.casefold() for c in spec.computers}
        | {a.casefold() for a in BUILTIN_ACCOUNTS}
        | {f"{spec.dc.name}$".casefold()}
    )

    seen: dict[str, str] = {}
    builtin = {
        n.casefold() for n in BUILTIN_ACCOUNTS | BUILTIN_GLOBAL_GROUPS | BUILTIN_LOCAL_GROUPS
    } | {f"{spec.dc.name}$".casefold()}
    named = [(domain.find(["users", i, "name"]), u.name) for i, u in enumerate(spec.users)]
    named += [
        (domain.find(["computers", i, "name"]), c.sam_account_name)
        for i, c in enumerate(spec.computers)
    ]
    named += [
        (domain.find(["groups", i, "name"]), g.sam_account_name) for i, g in enumerate(spec.groups)
    ]
    for node, name in named:
        key = name.casefold()
        if key in builtin:
            node.fail(f"{shown(name)} already exists in a new domain")
        elif key in seen:
            node.fail(f"{shown(name)} is also defined at {seen[key]}")
        else:
            seen[key] = node.key

    def need(path: list[str | int], name: str, pool: set[str], what: str) -> None:
        if name.casefold() not in pool:
            domain.find(path).fail(f"{shown(name)} is not {what} defined in the spec or built in")

    principals = accounts | all_groups
    for i, u in enumerate(spec.users):
        for j, group in enumerate(u.groups):
            need(["users", i, "groups", j], group, all_groups, "a group")
        if u.primary_group is not None:
            need(["users", i, "primary_group"], u.primary_group, primary_ok, "a global group")
    for i, c in enumerate(spec.computers):
        for j, a in enumerate(c.allowed_to_act):
            need(
                ["computers", i, "allowed_to_act", j],
                a,
                principals,  # RBCD descriptors may name groups too, as on Windows
                "an account (computers end in '$') or a group",
            )
    for i, g in enumerate(spec.groups):
        for j, m in enumerate(g.members):
            need(["groups", i, "members", j], m, principals, "a user, computer (NAME$) or group")
        for j, p in enumerate(g.member_of):
            need(["groups", i, "member_of", j], p, all_groups, "a group")
    for key, members in (
        ("remote_management_users", spec.remote_management_users),
        ("remote_desktop_users", spec.remote_desktop_users),
    ):
        for j, m in enumerate(members):
            need([key, j], m, principals, "a user, computer (NAME$) or group")
    _check_spns(domain, spec)


def _check_spns(domain: Node, spec: DomainSpec) -> None:
    """The DC refuses an SPN already held by another account, so say which one holds it."""
    owners: dict[str, str] = {}
    spns = [(domain.find(["users", i]), u.spns) for i, u in enumerate(spec.users)]
    spns += [
        (domain.find(["computers", i]), c.default_spns + c.spns)
        for i, c in enumerate(spec.computers)
    ]
    for owner, owned in spns:
        for spn in dict.fromkeys(s.casefold() for s in owned):
            if spn in owners:
                owner.fail(f"SPN {shown(spn)} is also registered by {owners[spn]}")
            owners.setdefault(spn, owner.key)


def load_domain_file(path: Path) -> DomainSpec:
    """Parse the `domain:` section of a lab YAML file (other top-level keys are not ours)."""
    problems = Problems(str(path))
    try:
        root = problems.load(path)
    except OSError as exc:
        raise DomainSpecError([f"{path}: cannot read: {exc}"]) from exc
    if root is not None and root["domain"].present:
        return parse_domain_spec(root["domain"].value, source=str(path))
    if root is not None:
        problems.add(None, "required key is missing", "domain")
    raise DomainSpecError(problems.items)


def load_default_domain() -> DomainSpec:
    """The vulnerable enterprise that `auditor lab up` builds."""
    return load_domain_file(DEFAULT_DOMAIN_FILE)
