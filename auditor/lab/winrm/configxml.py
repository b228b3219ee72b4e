"""winrm/config and winrm/config/listener as the XML a Windows host returns, GPO sources marked."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from auditor.lab.winrm.config import Listener, WinRMHostConfig
from auditor.lab.winrm.soap import NS, Element, el, with_attrs

CONFIG_URI = "http://schemas.microsoft.com/wbem/wsman/1/config"
LISTENER_URI = CONFIG_URI + "/listener"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class _Setting:
    """One leaf of the config tree: its XML name, how to read it, its policy name (if any)."""

    xml_name: str
    read: Callable[[WinRMHostConfig], object]
    policy: str | None = None


def _leaves(config: WinRMHostConfig, settings: Iterable[_Setting]) -> list[Element]:
    out: list[Element] = []
    for setting in settings:
        node = el(f"cfg:{setting.xml_name}", _text(setting.read(config)))
        if setting.policy in config.policy_settings:
            node = with_attrs(node, [("Source", "GPO")])
        out.append(node)
    return out


_TOP = (
    _Setting(
        "MaxEnvelopeSizekb",
        lambda c: c.service.max_envelope_size_kb,
        "service.max_envelope_size_kb",
    ),
    _Setting("MaxTimeoutms", lambda c: c.service.max_timeout_ms, "service.max_timeout_ms"),
    _Setting("MaxBatchItems", lambda c: c.service.max_batch_items, "service.max_batch_items"),
    _Setting(
        "MaxProviderRequests",
        lambda c: c.service.max_provider_requests,
        "service.max_provider_requests",
    ),
)
_CLIENT_HEAD = (
    _Setting("NetworkDelayms", lambda c: c.client.network_delay_ms, "client.network_delay_ms"),
    _Setting("URLPrefix", lambda c: c.client.url_prefix, "client.url_prefix"),
    _Setting("AllowUnencrypted", lambda c: c.client.allow_unencrypted, "client.allow_unencrypted"),
)
_CLIENT_AUTH = (
    _Setting("Basic", lambda c: c.client.auth.basic, "client.auth.basic"),
    _Setting("Digest", lambda c: c.client.auth.digest, "client.auth.digest"),
    _Setting("Kerberos", lambda c: c.client.auth.kerberos, "client.auth.kerberos"),
    _Setting("Negotiate", lambda c: c.client.auth.negotiate, "client.auth.negotiate"),
    _Setting("Certificate", lambda c: c.client.auth.certificate, "client.auth.certificate"),
    _Setting("CredSSP", lambda c: c.client.auth.credssp, "client.auth.credssp"),
)
_CLIENT_TAIL = (_Setting("TrustedHosts", lambda c: c.client.trusted_hosts, "client.trusted_hosts"),)
_SERVICE_HEAD = (
    _Setting("RootSDDL", lambda c: c.service.root_sddl, "service.root_sddl"),
    _Setting(
        "MaxConcurrentOperations",
        lambda c: c.service.max_concurrent_operations,
        "service.max_concurrent_operations",
    ),
    _Setting(
        "MaxConcurrentOperationsPerUser",
        lambda c: c.service.max_concurrent_operations_per_user,
        "service.max_concurrent_operations_per_user",
    ),
    _Setting(
        "EnumerationTimeoutms",
        lambda c: c.service.enumeration_timeout_ms,
        "service.enumeration_timeout_ms",
    ),
    _Setting("MaxConnections", lambda c: c.service.max_connections, "service.max_connections"),
    _Setting(
        "MaxPacketRetrievalTimeSeconds",
        lambda c: c.service.max_packet_retrieval_time_seconds,
        "service.max_packet_retrieval_time_seconds",
    ),
    _Setting(
        "AllowUnencrypted", lambda c: c.service.allow_unencrypted, "service.allow_unencrypted"
    ),
)
_SERVICE_AUTH = (
    _Setting("Basic", lambda c: c.service.auth.basic, "service.auth.basic"),
    _Setting("Kerberos", lambda c: c.service.auth.kerberos, "service.auth.kerberos"),
    _Setting("Negotiate", lambda c: c.service.auth.negotiate, "service.auth.negotiate"),
    _Setting("Certificate", lambda c: c.service.auth.certificate, "service.auth.certificate"),
    _Setting("CredSSP", lambda c: c.service.auth.credssp, "service.auth.credssp"),
    _Setting(
        "CbtHardeningLevel",
        lambda c: c.service.auth.cbt_hardening_level,
        "service.auth.cbt_hardening_level",
    ),
)
_SERVICE_TAIL = (
    _Setting("IPv4Filter", lambda c: c.service.ipv4_filter, "service.ipv4_filter"),
    _Setting("IPv6Filter", lambda c: c.service.ipv6_filter, "service.ipv6_filter"),
    _Setting(
        "EnableCompatibilityHttpListener",
        lambda c: c.service.enable_compatibility_http_listener,
        "service.enable_compatibility_http_listener",
    ),
    _Setting(
        "EnableCompatibilityHttpsListener",
        lambda c: c.service.enable_compatibility_https_listener,
        "service.enable_compatibility_https_listener",
    ),
    _Setting(
        "CertificateThumbprint",
        lambda c: c.service.certificate_thumbprint,
        "service.certificate_thumbprint",
    ),
    _Setting(
        "AllowRemoteAccess", lambda c: c.service.allow_remote_access, "service.allow_remote_access"
    ),
)
_WINRS = (
    _Setting(
        "AllowRemoteShellAccess",
        lambda c: c.winrs.allow_remote_shell_access,
        "winrs.allow_remote_shell_access",
    ),
    _Setting("IdleTimeout", lambda c: c.winrs.idle_timeout_ms, "winrs.idle_timeout_ms"),
    _Setting(
        "MaxConcurrentUsers", lambda c: c.winrs.max_concurrent_users, "winrs.max_concurrent_users"
    ),
    _Setting(
        "MaxShellRunTime", lambda c: c.winrs.max_shell_run_time_ms, "winrs.max_shell_run_time_ms"
    ),
    _Setting(
        "MaxProcessesPerShell",
        lambda c: c.winrs.max_processes_per_shell,
        "winrs.max_processes_per_shell",
    ),
    _Setting(
        "MaxMemoryPerShellMB",
        lambda c: c.winrs.max_memory_per_shell_mb,
        "winrs.max_memory_per_shell_mb",
    ),
    _Setting(
        "MaxShellsPerUser", lambda c: c.winrs.max_shells_per_user, "winrs.max_shells_per_user"
    ),
)


# DefaultPorts are read-only defaults, whatever port a listener uses.
_DEFAULT_PORTS = (el("cfg:HTTP", "5985"), el("cfg:HTTPS", "5986"))


def _default_ports() -> Element:
    return el("cfg:DefaultPorts", *_DEFAULT_PORTS)


def client_auth(config: WinRMHostConfig) -> list[Element]:
    return _leaves(config, _CLIENT_AUTH)


def service_auth(config: WinRMHostConfig) -> list[Element]:
    return _leaves(config, _SERVICE_AUTH)


def client(config: WinRMHostConfig) -> list[Element]:
    return [
        *_leaves(config, _CLIENT_HEAD),
        el("cfg:Auth", *client_auth(config)),
        _default_ports(),
        *_leaves(config, _CLIENT_TAIL),
    ]


def service(config: WinRMHostConfig) -> list[Element]:
    return [
        *_leaves(config, _SERVICE_HEAD),
        el("cfg:Auth", *service_auth(config)),
        _default_ports(),
        *_leaves(config, _SERVICE_TAIL),
    ]


def winrs(config: WinRMHostConfig) -> list[Element]:
    return _leaves(config, _WINRS)


def whole_config(config: WinRMHostConfig) -> Element:
    """GetResponse body of http://schemas.microsoft.com/wbem/wsman/1/config (as recorded)."""
    return el(
        "cfg:Config",
        *_leaves(config, _TOP),
        el("cfg:Client", *client(config)),
        el("cfg:Service", *service(config)),
        el("cfg:Winrs", *winrs(config)),
        xmlns_cfg=NS["cfg"],
    )


_SUBRESOURCES: dict[str, tuple[str, Callable[[WinRMHostConfig], list[Element]]]] = {
    "client": ("Client", client),
    "client/auth": ("Auth", client_auth),
    "client/defaultports": ("DefaultPorts", lambda c: list(_DEFAULT_PORTS)),
    "service": ("Service", service),
    "service/auth": ("Auth", service_auth),
    "service/defaultports": ("DefaultPorts", lambda c: list(_DEFAULT_PORTS)),
    "winrs": ("Winrs", winrs),
}


def config_resource(config: WinRMHostConfig, resource_uri: str) -> Element | None:
    """The Get body of a winrm/config resource, or None when the URI is no config resource.

    A sub-resource comes back in its own namespace (…/config/service and so on),
    as Get-WSManInstance shows it.
    """
    if resource_uri.rstrip("/") == CONFIG_URI:
        return whole_config(config)
    if not resource_uri.lower().startswith(CONFIG_URI + "/"):
        return None
    path = resource_uri[len(CONFIG_URI) + 1 :].strip("/").lower()
    entry = _SUBRESOURCES.get(path)
    if entry is None:
        return None
    name, build = entry
    return el(f"cfg:{name}", *build(config), xmlns_cfg=f"{CONFIG_URI}/{path}", xml_lang="en-US")


def listener_element(config: WinRMHostConfig, listener: Listener) -> Element:
    """One cfg:Listener, with Source="GPO" when a policy created it."""
    listening_on = (
        [config.address] if config.address == "127.0.0.1" else [config.address, "127.0.0.1"]
    )
    attrs = {"xmlns_cfg": LISTENER_URI, "xml_lang": "en-US"}
    if listener.source:
        attrs["Source"] = listener.source
    return el(
        "cfg:Listener",
        el("cfg:Address", listener.address),
        el("cfg:Transport", listener.transport),
        el("cfg:Port", str(listener.port)),
        el("cfg:Hostname", listener.hostname),
        el("cfg:Enabled", _text(listener.enabled)),
        el("cfg:URLPrefix", listener.url_prefix),
        el("cfg:CertificateThumbprint", listener.certificate_thumbprint),
        *(el("cfg:ListeningOn", ip) for ip in [*listening_on, "::1"]),
        **attrs,
    )
