"""Host profiles of the lab definition: what each emulated Windows host is and how it is set up."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.facts.schema import script_sections
from auditor.lab.pki import CertKind
from auditor.strict import Node, shown

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


@dataclass(frozen=True)
class WinRMProfile:
    http: bool = True
    https: bool = True
    http_port: int = 5985  # the listeners' ports (winrm enumerate winrm/config/listener)
    https_port: int = 5986
    certificate: CertKind = CertKind.VALID
    tls_min_version: str = "TLSv1.2"
    service: Mapping[str, Any] = field(default_factory=dict)  # basic, allow_unencrypted, ...
    client: Mapping[str, Any] = field(default_factory=dict)
    policy: tuple[str, ...] = ()  # settings set by GPO, e.g. "service.auth.basic"


@dataclass(frozen=True)
class RDPProfile:
    enabled: bool = True
    port: int = 3389  # RDP-Tcp's PortNumber, where the listener binds
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


def _cert_kind(node: Node, default: CertKind) -> CertKind:
    kind = node.choice([k.value for k in CertKind])
    return default if kind is None else CertKind(kind)


def _port(node: Node, default: int) -> int:
    port = node.integer(1, 65535)
    return default if port is None else port


def _tls(node: Node) -> str:
    return node.choice(_TLS) or "TLSv1.2"


def _winrm(node: Node) -> WinRMProfile:
    raw = node.mapping(nothing=True) or {}
    node.keys(
        {
            "http",
            "https",
            "http_port",
            "https_port",
            "certificate",
            "tls_min_version",
            "service",
            "client",
            "policy",
        }
    )
    service = node["service"].mapping(nothing=True) or {}
    client = node["client"].mapping(nothing=True) or {}
    node["service"].keys({*_SERVICE_AUTH, "cbt_hardening_level", "allow_unencrypted", "root_sddl"})
    node["client"].keys({*_CLIENT_AUTH, "allow_unencrypted", "trusted_hosts"})
    policy = raw.get("policy") or []
    if not isinstance(policy, list):
        node["policy"].fail("must be a list of setting names such as service.auth.basic")
        policy = []
    return WinRMProfile(
        http=bool(raw.get("http", True)),
        https=bool(raw.get("https", True)),
        http_port=_port(node["http_port"], WinRMProfile.http_port),
        https_port=_port(node["https_port"], WinRMProfile.https_port),
        certificate=_cert_kind(node["certificate"], CertKind.VALID),
        tls_min_version=_tls(node["tls_min_version"]),
        service=dict(service),
        client=dict(client),
        policy=tuple(str(p) for p in policy),
    )


def _rdp(node: Node) -> RDPProfile:
    raw = node.mapping(nothing=True) or {}
    node.keys({"enabled", "port", "accepted", "certificate", "tls_min_version"})
    accepted = raw.get("accepted", ["hybrid", "hybrid_ex"])
    if not isinstance(accepted, list) or not set(map(str, accepted)) <= _PROTOCOLS:
        node["accepted"].fail(f"must list protocols among {', '.join(sorted(_PROTOCOLS))}")
        accepted = ["hybrid", "hybrid_ex"]
    return RDPProfile(
        enabled=bool(raw.get("enabled", True)),
        port=_port(node["port"], RDPProfile.port),
        accepted=frozenset(accepted),
        certificate=_cert_kind(node["certificate"], CertKind.SELF_SIGNED),
        tls_min_version=_tls(node["tls_min_version"]),
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


def parse_host(node: Node) -> HostProfile | None:
    """One host profile from its node in the definition; problems go to the node's collector."""
    raw = node.mapping()
    if raw is None:
        return None
    node.keys(_HOST_KEYS)
    name = str(raw.get("name", ""))
    if not name.replace("-", "").isalnum() or len(name) > 15:
        node["name"].fail(
            f"{shown(name)} must be a NetBIOS name (letters, digits, '-', at most 15)"
        )
    address = str(raw.get("address", ""))
    try:
        if not ipaddress.IPv4Address(address).is_loopback:
            node["address"].fail(f"{address} must be a loopback address (127.x.y.z)")
    except ValueError:
        node["address"].fail(f"{shown(address)} is not an IPv4 address")
    roles = raw.get("roles") or []
    if not isinstance(roles, list) or not set(map(str, roles)) <= _ROLES:
        node["roles"].fail(f"must list roles among {', '.join(sorted(_ROLES))}")
        roles = []
    os_raw = node["os"].mapping(nothing=True) or {}
    node["os"].keys({"caption", "version"})
    unreadable = raw.get("unreadable") or []
    if not isinstance(unreadable, list) or not set(map(str, unreadable)) <= _SECTIONS:
        node["unreadable"].fail(f"must list sections among {', '.join(sorted(_SECTIONS))}")
        unreadable = []
    faults = node["faults"].mapping(nothing=True) or {}
    node["faults"].keys(_FAULTS)
    sections = node["sections"].mapping(nothing=True) or {}
    node["sections"].keys(_SCRIPT_SECTIONS)
    sshd = raw.get("sshd_config")
    return HostProfile(
        name=name,
        address=address,
        roles=tuple(roles),
        os_caption=str(os_raw.get("caption", HostProfile.os_caption)),
        os_version=str(os_raw.get("version", HostProfile.os_version)),
        description=str(raw.get("description", "")),
        winrm=_winrm(node["winrm"]),
        rdp=_rdp(node["rdp"]),
        registry=dict(node["registry"].mapping(nothing=True) or {}),
        local_groups={
            str(k): list(v) for k, v in (node["local_groups"].mapping(nothing=True) or {}).items()
        },
        iis_sites=tuple(raw.get("iis_sites") or ()),
        sshd_config=tuple(str(line) for line in sshd) if isinstance(sshd, list) else None,
        session_configurations=tuple(raw.get("session_configurations") or ()),
        winhttp_proxy=dict(raw["winhttp_proxy"])
        if isinstance(raw.get("winhttp_proxy"), Mapping)
        else None,
        services={
            str(k): str(v) for k, v in (node["services"].mapping(nothing=True) or {}).items()
        },
        firewall_rules=tuple(raw.get("firewall_rules") or ()),
        sections=dict(sections),
        unreadable=frozenset(unreadable),
        faults=dict(faults),
        expect_fail=tuple(str(x) for x in raw.get("expect_fail") or ()),
    )
