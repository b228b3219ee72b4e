"""The `domain:` section of a lab definition: typed, immutable, strictly parsed."""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml

from auditor.resources import package_path

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


class DomainSpecError(ValueError):
    """Every problem found in a domain section, one `source: path: message` per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


T = TypeVar("T")


class _Reader:
    """Collects problems with their key path so that all are reported at once."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.problems.append(f"{self.source}: {path}: {message}")

    def mapping(
        self, value: object, path: str, required: frozenset[str], optional: frozenset[str]
    ) -> Mapping[str, object] | None:
        if not isinstance(value, Mapping):
            self.error(path, f"expected a mapping, got {_kind(value)}")
            return None
        for key in value:
            if not isinstance(key, str) or key not in required | optional:
                self.error(f"{path}.{key}", "unknown key")
        for key in sorted(required - set(value)):
            self.error(f"{path}.{key}", "required key is missing")
        return value

    def text(self, data: Mapping[str, object], key: str, path: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(f"{path}.{key}", f"expected a string, got {_kind(value)}")
            return None
        if "\x00" in value:
            self.error(f"{path}.{key}", "NUL characters are not allowed")
            return None
        return value

    def boolean(self, data: Mapping[str, object], key: str, path: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.error(f"{path}.{key}", f"expected true or false, got {_kind(value)}")
            return default
        return value

    def integer(
        self, data: Mapping[str, object], key: str, path: str, low: int, high: int
    ) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(f"{path}.{key}", f"expected an integer, got {_kind(value)}")
            return None
        if not low <= value <= high:
            self.error(f"{path}.{key}", f"must be between {low} and {high}, got {value}")
            return None
        return value

    def items(
        self,
        data: Mapping[str, object],
        key: str,
        path: str,
        convert: Callable[[object, str], T | None],
    ) -> tuple[T, ...]:
        value = data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(f"{path}.{key}", f"expected a list, got {_kind(value)}")
            return ()
        converted = (convert(item, f"{path}.{key}[{i}]") for i, item in enumerate(value))
        return tuple(item for item in converted if item is not None)

    def string_item(self, value: object, path: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.error(path, f"expected a non-empty string, got {_kind(value)}")
            return None
        return value

    def spn_item(self, value: object, path: str) -> str | None:
        spn = self.string_item(value, path)
        if spn is None:
            return None
        service, _, host = spn.partition("/")
        if not service or not host or any(c.isspace() for c in spn):
            self.error(path, f"{spn!r} is not an SPN like 'service/host[:port]'")
            return None
        return spn

    def flag_item(self, value: object, path: str) -> AccountFlag | None:
        if isinstance(value, str) and value in AccountFlag.__members__:
            return AccountFlag[value]
        allowed = ", ".join(AccountFlag.__members__)
        self.error(path, f"unknown flag {value!r}; allowed: {allowed}")
        return None


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


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


def _parse_user(r: _Reader, value: object, path: str) -> UserSpec | None:
    data = r.mapping(value, path, frozenset({"name"}), _USER_KEYS)
    if data is None:
        return None
    name = r.text(data, "name", path)
    if name is not None and (_SAM_INVALID.search(name) or not 0 < len(name) <= 20):
        r.error(
            f"{path}.name",
            f'{name!r} is not a valid sAMAccountName (1-20 characters, none of "/\\[]:;|=,+*?<>@)',
        )
    password = r.text(data, "password", path)
    if password == "":
        r.error(f"{path}.password", "must not be empty (leave it out to generate one)")
    return UserSpec(
        name=name or "",
        description=r.text(data, "description", path),
        enabled=r.boolean(data, "enabled", path, True),
        spns=r.items(data, "spns", path, r.spn_item),
        flags=r.items(data, "flags", path, r.flag_item),
        groups=r.items(data, "groups", path, r.string_item),
        primary_group=r.text(data, "primary_group", path),
        allowed_to_delegate_to=r.items(data, "allowed_to_delegate_to", path, r.spn_item),
        supported_encryption_types=r.integer(
            data, "supported_encryption_types", path, 0, 0x7FFFFFFF
        ),
        password=password,
    )


def _parse_computer(r: _Reader, value: object, path: str, realm: str) -> ComputerSpec | None:
    data = r.mapping(value, path, frozenset({"name"}), _COMPUTER_KEYS)
    if data is None:
        return None
    name = r.text(data, "name", path) or ""
    if name and not _NETBIOS.match(name):
        r.error(
            f"{path}.name",
            f"{name!r} is not a NetBIOS host name (1-15 letters, digits "
            "or '-', without the trailing '$')",
        )
    ou = r.text(data, "ou", path)
    if ou is not None and (not ou.strip() or ou != ou.strip() or len(ou) > 64):
        r.error(f"{path}.ou", "must be 1-64 characters without surrounding spaces")
    return ComputerSpec(
        name=name,
        dns_host_name=r.text(data, "dns_host_name", path) or f"{name.lower()}.{realm}",
        description=r.text(data, "description", path),
        operating_system=r.text(data, "operating_system", path),
        operating_system_version=r.text(data, "operating_system_version", path),
        enabled=r.boolean(data, "enabled", path, True),
        spns=r.items(data, "spns", path, r.spn_item),
        flags=r.items(data, "flags", path, r.flag_item),
        allowed_to_delegate_to=r.items(data, "allowed_to_delegate_to", path, r.spn_item),
        allowed_to_act=r.items(data, "allowed_to_act", path, r.string_item),
        ou=ou,
    )


def _parse_group(r: _Reader, value: object, path: str) -> GroupSpec | None:
    data = r.mapping(value, path, frozenset({"name"}), _GROUP_KEYS)
    if data is None:
        return None
    name = r.text(data, "name", path) or ""
    if name and (name != name.strip() or len(name) > 64 or _CONTROL.search(name)):
        r.error(f"{path}.name", "must be 1-64 printable characters without surrounding spaces")
    return GroupSpec(
        name=name,
        description=r.text(data, "description", path),
        members=r.items(data, "members", path, r.string_item),
        member_of=r.items(data, "member_of", path, r.string_item),
    )


def _parse_header(r: _Reader, data: Mapping[str, object], path: str) -> tuple[str, str, DcSpec]:
    realm = (r.text(data, "realm", path) or "").lower()
    labels = realm.split(".")
    if realm and (len(labels) < 2 or not all(_DNS_LABEL.match(label) for label in labels)):
        r.error(f"{path}.realm", f"{realm!r} is not a DNS domain name with two or more labels")
    netbios = (r.text(data, "netbios", path) or "").upper()
    if netbios and not _NETBIOS.match(netbios):
        r.error(f"{path}.netbios", f"{netbios!r} is not a NetBIOS name (1-15 letters/digits/-)")
    dc_name, address = "", ""
    dc = None
    if "dc" in data:  # when missing, r.mapping on the domain already said so
        dc = r.mapping(data["dc"], f"{path}.dc", frozenset({"name", "address"}), frozenset())
    if dc is not None:
        dc_name = (r.text(dc, "name", f"{path}.dc") or "").upper()
        if dc_name and not _NETBIOS.match(dc_name):
            r.error(f"{path}.dc.name", f"{dc_name!r} is not a NetBIOS host name")
        if dc_name and dc_name == netbios:
            r.error(f"{path}.dc.name", "must differ from the domain's NetBIOS name")
        address = r.text(dc, "address", f"{path}.dc") or ""
        try:
            if address and not ipaddress.IPv4Address(address).is_loopback:
                r.error(
                    f"{path}.dc.address",
                    f"{address} is not in 127.0.0.0/8: the lab only runs on loopback",
                )
        except ipaddress.AddressValueError:
            r.error(f"{path}.dc.address", f"{address!r} is not an IPv4 address")
    return realm, netbios, DcSpec(name=dc_name, address=address)


def parse_domain_spec(data: object, *, source: str = "<lab>", path: str = "domain") -> DomainSpec:
    """Build a DomainSpec from YAML-loaded data; raise DomainSpecError listing every problem."""
    r = _Reader(source)
    domain = r.mapping(data, path, frozenset({"realm", "netbios", "dc"}), _DOMAIN_KEYS)
    if domain is None:
        raise DomainSpecError(r.problems)
    realm, netbios, dc = _parse_header(r, domain, path)
    quota = r.integer(domain, "machine_account_quota", path, 0, 1_000_000)
    spec = DomainSpec(
        realm=realm,
        netbios=netbios,
        dc=dc,
        machine_account_quota=10 if quota is None else quota,
        users=r.items(domain, "users", path, lambda v, p: _parse_user(r, v, p)),
        computers=r.items(domain, "computers", path, lambda v, p: _parse_computer(r, v, p, realm)),
        groups=r.items(domain, "groups", path, lambda v, p: _parse_group(r, v, p)),
        remote_management_users=r.items(domain, "remote_management_users", path, r.string_item),
        remote_desktop_users=r.items(domain, "remote_desktop_users", path, r.string_item),
    )
    if not r.problems:
        _check_references(r, spec, path)
    if r.problems:
        raise DomainSpecError(r.problems)
    return spec


def _check_references(r: _Reader, spec: DomainSpec, path: str) -> None:
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
    named = [(f"{path}.users[{i}].name", u.name) for i, u in enumerate(spec.users)]
    named += [
        (f"{path}.computers[{i}].name", c.sam_account_name) for i, c in enumerate(spec.computers)
    ]
    named += [(f"{path}.groups[{i}].name", g.sam_account_name) for i, g in enumerate(spec.groups)]
    for item_path, name in named:
        key = name.casefold()
        if key in builtin:
            r.error(item_path, f"{name!r} already exists in a new domain")
        elif key in seen:
            r.error(item_path, f"{name!r} is also defined at {seen[key]}")
        else:
            seen[key] = item_path

    def need(item_path: str, name: str, pool: set[str], what: str) -> None:
        if name.casefold() not in pool:
            r.error(item_path, f"{name!r} is not {what} defined in the spec or built in")

    principals = accounts | all_groups
    for i, u in enumerate(spec.users):
        for j, group in enumerate(u.groups):
            need(f"{path}.users[{i}].groups[{j}]", group, all_groups, "a group")
        if u.primary_group is not None:
            need(f"{path}.users[{i}].primary_group", u.primary_group, primary_ok, "a global group")
    for i, c in enumerate(spec.computers):
        for j, a in enumerate(c.allowed_to_act):
            need(
                f"{path}.computers[{i}].allowed_to_act[{j}]",
                a,
                principals,  # RBCD descriptors may name groups too, as on Windows
                "an account (computers end in '$') or a group",
            )
    for i, g in enumerate(spec.groups):
        for j, m in enumerate(g.members):
            need(
                f"{path}.groups[{i}].members[{j}]",
                m,
                principals,
                "a user, computer (NAME$) or group",
            )
        for j, p in enumerate(g.member_of):
            need(f"{path}.groups[{i}].member_of[{j}]", p, all_groups, "a group")
    for key, members in (
        ("remote_management_users", spec.remote_management_users),
        ("remote_desktop_users", spec.remote_desktop_users),
    ):
        for j, m in enumerate(members):
            need(f"{path}.{key}[{j}]", m, principals, "a user, computer (NAME$) or group")
    _check_spns(r, spec, path)


def _check_spns(r: _Reader, spec: DomainSpec, path: str) -> None:
    """The DC refuses an SPN already held by another account, so say which one holds it."""
    owners: dict[str, str] = {}
    spns = [(f"{path}.users[{i}]", u.spns) for i, u in enumerate(spec.users)]
    spns += [
        (f"{path}.computers[{i}]", c.default_spns + c.spns) for i, c in enumerate(spec.computers)
    ]
    for owner, owned in spns:
        for spn in dict.fromkeys(s.casefold() for s in owned):
            if spn in owners:
                r.error(owner, f"SPN {spn!r} is also registered by {owners[spn]}")
            owners.setdefault(spn, owner)


def load_domain_file(path: Path) -> DomainSpec:
    """Parse the `domain:` section of a lab YAML file (other top-level keys are not ours)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DomainSpecError([f"{path}: cannot read: {exc}"]) from exc
    if not isinstance(data, Mapping) or "domain" not in data:
        raise DomainSpecError([f"{path}: domain: required key is missing"])
    return parse_domain_spec(data["domain"], source=str(path))


def load_default_domain() -> DomainSpec:
    """The vulnerable enterprise that `auditor lab up` builds."""
    return load_domain_file(DEFAULT_DOMAIN_FILE)
