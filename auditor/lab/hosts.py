"""Host profiles of the lab definition: what each emulated Windows host is and how it is set up."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.facts.schema import script_sections
from auditor.lab.pki import CertKind

_ROLES = frozenset({"domain_controller", "member_server", "workstation", "iis", "jump_host"})
_PROTOCOLS = frozenset({"rdp", "ssl", "hybrid", "hybrid_ex"})
_TLS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
# collect.ps1's sections (host-facts-1.json's `script:SECTION`), and its registry reads.
_SCRIPT_SECTIONS = frozenset(script_sections())
_SECTIONS = _SCRIPT_SECTIONS | {"registry"}
_FAULTS = frozenset(
    {"latency_ms", "drop_connection", "http_500", "malformed_xml", "slow_seconds", "auth_refused"}
)
_SERVICE_AUTH = ("basic", "kerberos", "negotiate", "certificate", "credssp")
_CLIENT_AUTH = ("basic", "digest", "kerberos", "negotiate", "certificate", "credssp")


class HostProfileError(ValueError):
    """A host profile that cannot describe a Windows host; every problem at once."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class WinRMProfile:
    http: bool = True
    https: bool = True
    certificate: CertKind = CertKind.VALID
    tls_min_version: str = "TLSv1.2"
    service: Mapping[str, Any] = field(default_factory=dict)  # basic, allow_unencrypted, ...
    client: Mapping[str, Any] = field(default_factory=dict)
    policy: tuple[str, ...] = ()  # settings set by GPO, e.g. "service.auth.basic"


@dataclass(frozen=True)
class RDPProfile:
    enabled: bool = True
    accepted: frozenset[str] = frozenset({"hybrid", "hybrid_ex"})  # Windows' default: NLA
    certificate: CertKind = CertKind.SELF_SIGNED  # Windows' default RDP certificate
    tls_min_version: str = "TLSv1.2"


@dataclass(frozen=True)
class HostProfile:
    """One emulated host. Everything not said is Windows Server 2022's default."""

    name: str  # NetBIOS name, e.g. FS01
    address: str
    roles: tuple[str, ...]
    os_caption: str = "Microsoft Windows Server 2022 Datacenter"
    os_version: str = "10.0.20348"
    description: str = ""
    winrm: WinRMProfile = field(default_factory=WinRMProfile)
    rdp: RDPProfile = field(default_factory=RDPProfile)
    registry: Mapping[str, Any] = field(default_factory=dict)
    local_groups: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    iis_sites: tuple[dict[str, Any], ...] = ()
    sshd_config: tuple[str, ...] | None = None
    session_configurations: tuple[dict[str, Any], ...] = ()
    winhttp_proxy: Mapping[str, str] | None = None
    services: Mapping[str, str] = field(default_factory=dict)
    firewall_rules: tuple[dict[str, Any], ...] = ()
    # collect.ps1 section -> its answer verbatim, instead of the lab's (responder.py)
    sections: Mapping[str, Any] = field(default_factory=dict)
    unreadable: frozenset[str] = frozenset()  # collector sections answered with access denied
    faults: Mapping[str, Any] = field(default_factory=dict)
    expect_fail: tuple[str, ...] = ()  # rule ids the lab seeds for this host (for tests)

    def fqdn(self, realm: str) -> str:
        return f"{self.name.lower()}.{realm.lower()}"

    @property
    def product_type(self) -> int:
        if "domain_controller" in self.roles:
            return 2
        return 1 if "workstation" in self.roles else 3


class _Reader:
    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{self.where}: {path}: {message}")

    def keys(self, raw: Mapping[str, Any], allowed: frozenset[str] | set[str], path: str) -> None:
        for key in raw:
            if key not in allowed:
                self.fail(f"{path}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def mapping(self, raw: Any, path: str) -> Mapping[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            self.fail(path, "must be a mapping")
            return {}
        return raw

    def cert_kind(self, raw: Any, path: str, default: CertKind) -> CertKind:
        if raw is None:
            return default
        try:
            return CertKind(raw)
        except ValueError:
            self.fail(
                path, f"unknown certificate kind {raw!r} ({', '.join(k.value for k in CertKind)})"
            )
            return default

    def tls(self, raw: Any, path: str) -> str:
        if raw is None:
            return "TLSv1.2"
        if raw not in _TLS:
            self.fail(path, f"must be one of {', '.join(_TLS)}")
            return "TLSv1.2"
        return str(raw)


def _winrm(r: _Reader, raw: Mapping[str, Any], path: str) -> WinRMProfile:
    r.keys(
        raw,
        {"http", "https", "certificate", "tls_min_version", "service", "client", "policy"},
        path,
    )
    service = r.mapping(raw.get("service"), f"{path}.service")
    client = r.mapping(raw.get("client"), f"{path}.client")
    r.keys(
        service,
        {*_SERVICE_AUTH, "cbt_hardening_level", "allow_unencrypted", "root_sddl"},
        f"{path}.service",
    )
    r.keys(client, {*_CLIENT_AUTH, "allow_unencrypted", "trusted_hosts"}, f"{path}.client")
    policy = raw.get("policy") or []
    if not isinstance(policy, list):
        r.fail(f"{path}.policy", "must be a list of setting names such as service.auth.basic")
        policy = []
    return WinRMProfile(
        http=bool(raw.get("http", True)),
        https=bool(raw.get("https", True)),
        certificate=r.cert_kind(raw.get("certificate"), f"{path}.certificate", CertKind.VALID),
        tls_min_version=r.tls(raw.get("tls_min_version"), f"{path}.tls_min_version"),
        service=dict(service),
        client=dict(client),
        policy=tuple(str(p) for p in policy),
    )


def _rdp(r: _Reader, raw: Mapping[str, Any], path: str) -> RDPProfile:
    r.keys(raw, {"enabled", "accepted", "certificate", "tls_min_version"}, path)
    accepted = raw.get("accepted", ["hybrid", "hybrid_ex"])
    if not isinstance(accepted, list) or not set(accepted) <= _PROTOCOLS:
        r.fail(f"{path}.accepted", f"must list protocols among {', '.join(sorted(_PROTOCOLS))}")
        accepted = ["hybrid", "hybrid_ex"]
    return RDPProfile(
        enabled=bool(raw.get("enabled", True)),
        accepted=frozenset(accepted),
        certificate=r.cert_kind(
            raw.get("certificate"), f"{path}.certificate", CertKind.SELF_SIGNED
        ),
        tls_min_version=r.tls(raw.get("tls_min_version"), f"{path}.tls_min_version"),
    )


_HOST_KEYS = frozenset(
    {
        "name",
        "address",
        "roles",
        "os",
        "description",
        "winrm",
        "rdp",
        "registry",
        "local_groups",
        "iis_sites",
        "sshd_config",
        "session_configurations",
        "winhttp_proxy",
        "services",
        "firewall_rules",
        "sections",
        "unreadable",
        "faults",
        "expect_fail",
    }
)


def parse_host(raw: Any, where: str) -> HostProfile | None:
    """One host profile from YAML data; problems collected in `r.problems`."""
    r = _Reader(where)
    host = _parse(r, raw)
    if r.problems:
        raise HostProfileError(r.problems)
    return host


def _parse(r: _Reader, raw: Any) -> HostProfile | None:
    if not isinstance(raw, Mapping):
        r.fail("host", "must be a mapping")
        return None
    r.keys(raw, _HOST_KEYS, "host")
    name = str(raw.get("name", ""))
    if not name.replace("-", "").isalnum() or len(name) > 15:
        r.fail("name", f"{name!r} must be a NetBIOS name (letters, digits, '-', at most 15)")
    address = str(raw.get("address", ""))
    try:
        if not ipaddress.IPv4Address(address).is_loopback:
            r.fail("address", f"{address} must be a loopback address (127.x.y.z)")
    except ValueError:
        r.fail("address", f"{address!r} is not an IPv4 address")
    roles = raw.get("roles") or []
    if not isinstance(roles, list) or not set(roles) <= _ROLES:
        r.fail("roles", f"must list roles among {', '.join(sorted(_ROLES))}")
        roles = []
    os_raw = r.mapping(raw.get("os"), "os")
    r.keys(os_raw, {"caption", "version"}, "os")
    unreadable = raw.get("unreadable") or []
    if not isinstance(unreadable, list) or not set(unreadable) <= _SECTIONS:
        r.fail("unreadable", f"must list sections among {', '.join(sorted(_SECTIONS))}")
        unreadable = []
    faults = r.mapping(raw.get("faults"), "faults")
    r.keys(faults, _FAULTS, "faults")
    sections = r.mapping(raw.get("sections"), "sections")
    r.keys(sections, _SCRIPT_SECTIONS, "sections")
    sshd = raw.get("sshd_config")
    return HostProfile(
        name=name,
        address=address,
        roles=tuple(roles),
        os_caption=str(os_raw.get("caption", HostProfile.os_caption)),
        os_version=str(os_raw.get("version", HostProfile.os_version)),
        description=str(raw.get("description", "")),
        winrm=_winrm(r, r.mapping(raw.get("winrm"), "winrm"), "winrm"),
        rdp=_rdp(r, r.mapping(raw.get("rdp"), "rdp"), "rdp"),
        registry=dict(r.mapping(raw.get("registry"), "registry")),
        local_groups={
            str(k): list(v) for k, v in r.mapping(raw.get("local_groups"), "local_groups").items()
        },
        iis_sites=tuple(raw.get("iis_sites") or ()),
        sshd_config=tuple(str(line) for line in sshd) if isinstance(sshd, list) else None,
        session_configurations=tuple(raw.get("session_configurations") or ()),
        winhttp_proxy=dict(raw["winhttp_proxy"])
        if isinstance(raw.get("winhttp_proxy"), Mapping)
        else None,
        services={str(k): str(v) for k, v in r.mapping(raw.get("services"), "services").items()},
        firewall_rules=tuple(raw.get("firewall_rules") or ()),
        sections=dict(sections),
        unreadable=frozenset(unreadable),
        faults=dict(faults),
        expect_fail=tuple(str(x) for x in raw.get("expect_fail") or ()),
    )
