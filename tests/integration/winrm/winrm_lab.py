"""The lab hosts the WinRM emulation tests run against, one per behaviour, and test helpers."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import requests
import spnego

from auditor.lab.pki import CertKind, create_ca, issue_host_cert
from auditor.lab.winrm import (
    CommandFailed,
    Faults,
    Listener,
    PipelineRequest,
    ServiceAuth,
    ServiceSettings,
    WinRMHostConfig,
    WinrsSettings,
    default_pipeline_handler,
)

DOMAIN = "corp.auditor.test"
ADMIN, ADMIN_PASSWORD = "CORP\\labadmin", "Adm1n-Passw0rd!"
LOCAL_ADMIN, LOCAL_PASSWORD = "localadmin", "L0cal-Passw0rd!"
VIEWER, VIEWER_PASSWORD = "viewer@corp.auditor.test", "V1ewer-Passw0rd!"
USERS = {ADMIN: ADMIN_PASSWORD, LOCAL_ADMIN: LOCAL_PASSWORD, VIEWER: VIEWER_PASSWORD}
ADMINS = frozenset({ADMIN, LOCAL_ADMIN})
MASS_HOSTS = 200


def fact_handler(request: PipelineRequest) -> Sequence[object]:
    """A few commands with known answers; everything else is unknown, as on Windows."""
    first = request.commands[0]
    if first.name == "Get-LabFacts":
        return ["first", 42, True, {"Name": request.hostname, "Items": [1, 2]}]
    if first.name == "Get-Echo":
        return [first.parameters.get("Value"), *first.arguments, *request.input]
    if first.name == "Get-Broken":
        raise CommandFailed(
            "Cannot find path 'C:\\nope' because it does not exist.",
            "PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
            "ObjectNotFound",
            target_object="C:\\nope",
            exception_type="System.Management.Automation.ItemNotFoundException",
        )
    return default_pipeline_handler(request)


@dataclass(frozen=True)
class Lab:
    """The running server and the hosts the tests talk to, by role."""

    ca_bundle: Path
    hosts: dict[str, WinRMHostConfig]
    mass: tuple[WinRMHostConfig, ...]

    def url(self, role: str, https: bool = False) -> str:
        host = self.hosts[role]
        if https:
            return f"https://{host.hostname}:{host.https_port}/wsman"
        return f"http://{host.address}:{host.http_port}/wsman"


def _host(index: int, role: str, **changes: Any) -> WinRMHostConfig:
    base = WinRMHostConfig(
        hostname=f"{role.replace('_', '-')}.{DOMAIN}",
        address=f"127.12.0.{index}",
        users=USERS,
        administrators=ADMINS,
        pipeline_handler=fact_handler,
    )
    return replace(base, **changes)


def _https(host: WinRMHostConfig, ca_dir: Path) -> WinRMHostConfig:
    ca = create_ca(ca_dir)
    issued = issue_host_cert(ca, ca_dir, host.hostname, CertKind.VALID)
    return replace(
        host,
        https_listener=True,
        tls_cert=issued.cert_path,
        tls_key=issued.key_path,
        tls_thumbprint=issued.thumbprint,
    )


def lab_hosts(ca_dir: Path) -> dict[str, WinRMHostConfig]:
    basic_on = ServiceAuth(basic=True)
    hosts = {
        "ntlm": _host(
            10,
            "ntlm",
            policy_settings=frozenset({"service.allow_unencrypted", "client.trusted_hosts"}),
        ),
        "basic": _https(_host(11, "basic", service=ServiceSettings(auth=basic_on)), ca_dir),
        "strict": _https(
            _host(
                12,
                "strict",
                service=ServiceSettings(auth=ServiceAuth(cbt_hardening_level="Strict")),
            ),
            ca_dir,
        ),
        "unencrypted": _host(
            13, "unencrypted", service=ServiceSettings(auth=basic_on, allow_unencrypted=True)
        ),
        "all_methods": _host(
            14, "all-methods", service=ServiceSettings(auth=ServiceAuth(basic=True, credssp=True))
        ),
        "kerberos_only": _host(
            15, "kerberos-only", service=ServiceSettings(auth=ServiceAuth(negotiate=False))
        ),
        "quota": _host(16, "quota", winrs=WinrsSettings(max_shells_per_user=1)),
        "no_shells": _host(17, "no-shells", winrs=WinrsSettings(allow_remote_shell_access=False)),
        "no_remote": _host(18, "no-remote", service=ServiceSettings(allow_remote_access=False)),
        "gpo_listener": _host(
            19,
            "gpo-listener",
            listeners=(
                Listener("HTTP", 5985, source="GPO"),
                Listener("HTTPS", 5986, enabled=False, certificate_thumbprint="AB" * 20),
            ),
        ),
        "drop": _host(20, "drop", faults=Faults(drop_connection=True)),
        "http_500": _host(21, "http-500", faults=Faults(http_500=True)),
        "malformed": _host(22, "malformed", faults=Faults(malformed_xml=True)),
        "slow": _host(23, "slow", faults=Faults(slow_seconds=2.0)),
        "refused": _host(24, "refused", faults=Faults(auth_refused=True)),
        "latency": _host(25, "latency", faults=Faults(latency_ms=300)),
    }
    return hosts


def mass_hosts() -> tuple[WinRMHostConfig, ...]:
    return tuple(
        WinRMHostConfig(
            hostname=f"mass{i:03d}.{DOMAIN}",
            address=f"127.13.{i // 250}.{i % 250 + 1}",
            users={ADMIN: ADMIN_PASSWORD},
            service=ServiceSettings(max_timeout_ms=60000 + i),
        )
        for i in range(MASS_HOSTS)
    )


def negotiate_exchange(
    url: str, context: spnego.ContextProxy, body: bytes = b"", verify: str | bool = False
) -> requests.Response:
    """Run a Negotiate handshake with a hand-made context over one keep-alive connection."""
    session = requests.Session()
    session.trust_env = False
    token = context.step()
    response = requests.Response()
    while token is not None:
        response = session.post(
            url,
            data=body,
            headers={
                "Authorization": f"Negotiate {base64.b64encode(token).decode()}",
                "Content-Type": "application/soap+xml;charset=UTF-8",
            },
            verify=verify,
            timeout=10,
        )
        offered = response.headers.get("WWW-Authenticate", "")
        if response.status_code != 401 or not offered.startswith("Negotiate "):
            break
        token = context.step(base64.b64decode(offered.split(" ", 1)[1]))
    session.close()
    return response
