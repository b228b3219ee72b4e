"""Configuration of one emulated Windows host: WinRM service and client, listeners, faults."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from auditor.lab.winrm.access import SddlError, parse_dacl
from auditor.lab.winrm.pipeline import PipelineHandler, default_pipeline_handler

CbtHardeningLevel = Literal["None", "Relaxed", "Strict"]
Transport = Literal["HTTP", "HTTPS"]

# Windows Server 2016+ default, as `winrm get winrm/config` prints it.
DEFAULT_ROOT_SDDL = "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)"
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class HostConfigError(ValueError):
    """A host configuration that cannot describe a Windows host; lists every problem at once."""

    def __init__(self, hostname: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{hostname}: {p}" for p in problems))


@dataclass(frozen=True)
class ServiceAuth:
    """winrm/config/service/auth."""

    basic: bool = False
    kerberos: bool = True
    negotiate: bool = True
    certificate: bool = False
    credssp: bool = False
    cbt_hardening_level: CbtHardeningLevel = "Relaxed"


@dataclass(frozen=True)
class ServiceSettings:
    """winrm/config/service, plus the top-level limits (MaxEnvelopeSizekb and friends)."""

    auth: ServiceAuth = field(default_factory=ServiceAuth)
    allow_unencrypted: bool = False
    root_sddl: str = DEFAULT_ROOT_SDDL
    allow_remote_access: bool = True
    max_envelope_size_kb: int = 500
    max_timeout_ms: int = 60000
    max_batch_items: int = 32000
    max_provider_requests: int = 4294967295
    max_concurrent_operations: int = 4294967295
    max_concurrent_operations_per_user: int = 1500
    enumeration_timeout_ms: int = 240000
    max_connections: int = 300
    max_packet_retrieval_time_seconds: int = 120
    ipv4_filter: str = "*"
    ipv6_filter: str = "*"
    enable_compatibility_http_listener: bool = False
    enable_compatibility_https_listener: bool = False
    certificate_thumbprint: str = ""


@dataclass(frozen=True)
class ClientAuth:
    """winrm/config/client/auth."""

    basic: bool = True
    digest: bool = True
    kerberos: bool = True
    negotiate: bool = True
    certificate: bool = True
    credssp: bool = False


@dataclass(frozen=True)
class ClientSettings:
    """winrm/config/client: reported only, the emulated host never acts as a client."""

    network_delay_ms: int = 5000
    url_prefix: str = "wsman"
    allow_unencrypted: bool = False
    auth: ClientAuth = field(default_factory=ClientAuth)
    trusted_hosts: str = ""


@dataclass(frozen=True)
class WinrsSettings:
    """winrm/config/winrs; max_shells_per_user is enforced, the rest reported."""

    allow_remote_shell_access: bool = True
    idle_timeout_ms: int = 7200000
    max_concurrent_users: int = 2147483647
    max_shell_run_time_ms: int = 2147483647
    max_processes_per_shell: int = 2147483647
    max_memory_per_shell_mb: int = 2147483647
    max_shells_per_user: int = 2147483647


@dataclass(frozen=True)
class Listener:
    """One winrm/config/listener entry; `source` is "GPO" or "Compatibility" when not local."""

    transport: Transport
    port: int
    address: str = "*"
    enabled: bool = True
    hostname: str = ""
    certificate_thumbprint: str = ""
    url_prefix: str = "wsman"
    source: str | None = None


@dataclass(frozen=True)
class Faults:
    """Misbehaviour to inject, so collectors can be tested against broken hosts."""

    latency_ms: int = 0
    drop_connection: bool = False
    http_500: bool = False
    malformed_xml: bool = False
    slow_seconds: float = 0.0
    auth_refused: bool = False


def _setting_names() -> frozenset[str]:
    """Every "section.field" (and "section.auth.field") a policy can set."""
    names: set[str] = set()
    for section, cls in (("service", ServiceSettings), ("client", ClientSettings)):
        for f in fields(cls):
            if f.name == "auth":
                auth_cls = ServiceAuth if section == "service" else ClientAuth
                names.update(f"{section}.auth.{a.name}" for a in fields(auth_cls))
            else:
                names.add(f"{section}.{f.name}")
    names.update(f"winrs.{f.name}" for f in fields(WinrsSettings))
    return frozenset(names)


POLICY_SETTING_NAMES = _setting_names()


@dataclass(frozen=True)
class WinRMHostConfig:
    """One emulated host.

    Accounts in `users` are written `CORP\\user` or `user@corp.auditor.test`
    (domain accounts) or `user` (a local account of this computer) and match
    case-insensitively as Windows does. `administrators` lists the accounts in
    BUILTIN\\Administrators (None: every account), `remote_management_users`
    those in Remote Management Users; RootSDDL is evaluated against both.
    `listeners` overrides the listeners derived from the http/https flags.
    """

    hostname: str
    address: str
    users: Mapping[str, str] = field(default_factory=dict, hash=False)
    http_port: int = 5985
    https_port: int = 5986
    http_listener: bool = True
    https_listener: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_thumbprint: str = ""
    # The host's keys from the lab KDC (SambaDC.export_service_keys); without it Kerberos fails.
    keytab: Path | None = None
    service: ServiceSettings = field(default_factory=ServiceSettings)
    client: ClientSettings = field(default_factory=ClientSettings)
    winrs: WinrsSettings = field(default_factory=WinrsSettings)
    policy_settings: frozenset[str] = frozenset()
    listeners: tuple[Listener, ...] | None = None
    faults: Faults = field(default_factory=Faults)
    administrators: frozenset[str] | None = None
    remote_management_users: frozenset[str] = frozenset()
    os_version: str = "10.0.20348"
    # Oldest TLS version the HTTPS listener accepts ("TLSv1" emulates a host never hardened).
    tls_min_version: str = "TLSv1.2"
    pipeline_handler: PipelineHandler = field(
        default=default_pipeline_handler, hash=False, compare=False
    )

    def __post_init__(self) -> None:
        # A read-only copy, so the frozen config cannot change under a running server.
        object.__setattr__(self, "users", MappingProxyType(dict(self.users)))
        problems = self._problems()
        if problems:
            raise HostConfigError(self.hostname, problems)

    @property
    def effective_listeners(self) -> tuple[Listener, ...]:
        """The listeners `winrm enumerate winrm/config/listener` would show."""
        if self.listeners is not None:
            return self.listeners
        derived: list[Listener] = []
        if self.http_listener:
            derived.append(Listener("HTTP", self.http_port))
        if self.https_listener:
            derived.append(
                Listener(
                    "HTTPS",
                    self.https_port,
                    hostname=self.hostname,
                    certificate_thumbprint=self.tls_thumbprint,
                )
            )
        return tuple(derived)

    def _problems(self) -> list[str]:
        problems: list[str] = []
        if not _HOSTNAME.match(self.hostname):
            problems.append(f"hostname {self.hostname!r} is not a DNS name")
        try:
            if not ipaddress.IPv4Address(self.address).is_loopback:
                problems.append(f"address {self.address} is not a loopback address (127.x.y.z)")
        except ipaddress.AddressValueError:
            problems.append(f"address {self.address!r} is not an IPv4 address")
        problems.extend(self._account_problems())
        problems.extend(self._listener_problems())
        if self.service.auth.cbt_hardening_level not in ("None", "Relaxed", "Strict"):
            problems.append(
                f"service.auth.cbt_hardening_level {self.service.auth.cbt_hardening_level!r} "
                "is not None, Relaxed or Strict"
            )
        try:
            parse_dacl(self.service.root_sddl)
        except SddlError as err:
            problems.append(f"service.root_sddl: {err}")
        unknown = sorted(self.policy_settings - POLICY_SETTING_NAMES)
        if unknown:
            problems.append(f"policy_settings names unknown settings: {', '.join(unknown)}")
        if self.service.max_envelope_size_kb < 32:
            problems.append("service.max_envelope_size_kb must be at least 32 (Windows minimum)")
        return problems

    def _account_problems(self) -> list[str]:
        problems: list[str] = []
        for account, password in self.users.items():
            if not account or any(c in account for c in ":\r\n"):
                problems.append(f"account {account!r} is empty or contains ':' or a line break")
            if any(c in password for c in ":\r\n"):
                # The NTLM credential store is colon-separated, one account a line.
                problems.append(f"password of {account!r} contains ':' or a line break")
        known = {a.lower() for a in self.users}
        for group, members in (
            ("administrators", self.administrators or frozenset()),
            ("remote_management_users", self.remote_management_users),
        ):
            missing = sorted(m for m in members if m.lower() not in known)
            if missing:
                problems.append(f"{group} names accounts not in users: {', '.join(missing)}")
        return problems

    def _listener_problems(self) -> list[str]:
        problems: list[str] = []
        seen: set[int] = set()
        for listener in self.effective_listeners:
            if listener.transport not in ("HTTP", "HTTPS"):
                problems.append(f"listener transport {listener.transport!r} is not HTTP or HTTPS")
            if not 0 < listener.port < 65536:
                problems.append(f"listener port {listener.port} is out of range")
            if listener.enabled and listener.port in seen:
                problems.append(f"two enabled listeners on port {listener.port}")
            seen.add(listener.port)
            if (
                listener.transport == "HTTPS"
                and listener.enabled
                and (self.tls_cert is None or self.tls_key is None)
            ):
                problems.append("an HTTPS listener needs tls_cert and tls_key")
        return problems
