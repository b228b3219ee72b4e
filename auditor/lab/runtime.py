"""Turning a lab definition into running emulated hosts: certificates, configs, one event loop."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509

from auditor.lab.definition import SCAN_ACCOUNT, LabDefinition, load_definition, scale_hosts
from auditor.lab.hosts import HostProfile
from auditor.lab.pki import CertKind, IssuedCert, LabCA, create_ca, issue_host_cert, thumbprint
from auditor.lab.rdp import RDPListenerConfig, RDPListenerServer
from auditor.lab.responder import CollectorResponder, HostMaterial
from auditor.lab.winrm.config import (
    ClientAuth,
    ClientSettings,
    Faults,
    ServiceAuth,
    ServiceSettings,
    WinRMHostConfig,
)
from auditor.lab.winrm.server import WinRMHostServer

STATE_FILE = "lab-state.json"


@dataclass(frozen=True)
class LabState:
    """What `lab up` decided, so the hosts daemon and `lab status` can rebuild everything."""

    directory: Path
    definition: str | None  # path of the definition file; None = the shipped default
    hosts: int  # --hosts N (0 = as defined)
    domain_sid: str
    with_dc: bool

    def save(self) -> None:
        data = {
            "definition": self.definition,
            "hosts": self.hosts,
            "domain_sid": self.domain_sid,
            "with_dc": self.with_dc,
        }
        (self.directory / STATE_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> LabState:
        data = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        return cls(
            directory,
            data["definition"],
            int(data["hosts"]),
            str(data["domain_sid"]),
            bool(data["with_dc"]),
        )

    @property
    def pki_dir(self) -> Path:
        return self.directory / "pki"

    @property
    def password_file(self) -> Path:
        return self.directory / "secrets" / "scan-password"

    @property
    def keys_dir(self) -> Path:
        """The hosts' keys from the lab KDC; they belong to one provisioning of the DC."""
        return self.directory / "secrets" / "host-keys"

    def keytab(self, host_name: str) -> Path:
        """Where `lab up` puts a host's keys (its HTTP/ and HOST/ SPNs)."""
        return self.keys_dir / f"{host_name.lower()}.keytab"

    def lab_definition(self) -> LabDefinition:
        definition = load_definition(Path(self.definition) if self.definition else None)
        return scale_hosts(definition, self.hosts)


def _certificate(ca: LabCA, pki: Path, fqdn: str, kind: CertKind, purpose: str) -> IssuedCert:
    """Issue once, then reuse: a restarted lab keeps its thumbprints."""
    stem = f"{fqdn}-{purpose}"
    cert, key = pki / f"{stem}.pem", pki / f"{stem}.key"
    if cert.exists() and key.exists():
        return IssuedCert(cert, key, thumbprint(x509.load_pem_x509_certificate(cert.read_bytes())))
    return issue_host_cert(ca, pki, fqdn, kind, file_stem=stem)


def host_configs(
    state: LabState, definition: LabDefinition, password: str
) -> tuple[list[WinRMHostConfig], list[RDPListenerConfig]]:
    """The WinRM and RDP servers' configs for every host of the definition."""
    ca = create_ca(state.pki_dir)
    account = f"{definition.domain.netbios}\\{SCAN_ACCOUNT}"
    winrm: list[WinRMHostConfig] = []
    rdp: list[RDPListenerConfig] = []
    for host in definition.hosts:
        fqdn = definition.fqdn(host)
        https = (
            _certificate(ca, state.pki_dir, fqdn, host.winrm.certificate, "winrm")
            if host.winrm.https
            else None
        )
        rdp_cert = (
            _certificate(ca, state.pki_dir, fqdn, host.rdp.certificate, "rdp")
            if host.rdp.enabled
            else None
        )
        material = HostMaterial(
            definition.domain.realm, definition.domain.netbios, state.domain_sid, https, rdp_cert
        )
        keytab = state.keytab(host.name)
        winrm_config = _winrm_config(host, fqdn, account, password, https, material)
        winrm.append(replace(winrm_config, keytab=keytab if keytab.exists() else None))
        if rdp_cert is not None:
            rdp.append(
                RDPListenerConfig(
                    host.address,
                    port=host.rdp.port,
                    accepted=host.rdp.accepted,
                    cert_path=rdp_cert.cert_path,
                    key_path=rdp_cert.key_path,
                    tls_min_version=host.rdp.tls_min_version,
                    latency_ms=int(host.faults.get("latency_ms", 0)),
                )
            )
    return winrm, rdp


def _winrm_config(
    host: HostProfile,
    fqdn: str,
    account: str,
    password: str,
    https: IssuedCert | None,
    material: HostMaterial,
) -> WinRMHostConfig:
    service: dict[str, Any] = dict(host.winrm.service)
    auth = ServiceAuth(
        **{
            k: service.pop(k)
            for k in (
                "basic",
                "kerberos",
                "negotiate",
                "certificate",
                "credssp",
                "cbt_hardening_level",
            )
            if k in service
        }
    )
    client: dict[str, Any] = dict(host.winrm.client)
    client_auth = ClientAuth(
        **{
            k: client.pop(k)
            for k in ("basic", "digest", "kerberos", "negotiate", "certificate", "credssp")
            if k in client
        }
    )
    config = WinRMHostConfig(
        hostname=fqdn,
        address=host.address,
        users={account: password},
        administrators=frozenset({account}),
        http_port=host.winrm.http_port,
        https_port=host.winrm.https_port,
        http_listener=host.winrm.http,
        https_listener=https is not None,
        tls_cert=https.cert_path if https else None,
        tls_key=https.key_path if https else None,
        tls_thumbprint=https.thumbprint if https else "",
        tls_min_version=host.winrm.tls_min_version,
        service=ServiceSettings(auth=auth, **service),
        client=ClientSettings(auth=client_auth, **client),
        policy_settings=frozenset(host.winrm.policy),
        faults=Faults(**host.faults),
        os_version=host.os_version,
    )
    # The collector script's answers, offline ones included (they carry this WS-Man side).
    return replace(config, pipeline_handler=CollectorResponder(host, material, config))


async def serve(
    winrm: list[WinRMHostConfig],
    rdp: list[RDPListenerConfig],
    stop: asyncio.Event,
    on_ready: Callable[[], None],
) -> None:
    """Run every emulated host in this event loop until `stop` is set."""
    winrm_server, rdp_server = WinRMHostServer(winrm), RDPListenerServer(rdp)
    await winrm_server.start()
    try:
        await rdp_server.start()
        try:
            on_ready()
            await stop.wait()
        finally:
            await rdp_server.stop()
    finally:
        await winrm_server.stop()


@contextmanager
def running_hosts(state: LabState, definition: LabDefinition, password: str) -> Iterator[None]:
    """The emulated hosts in a background thread of this process (tests and benchmarks)."""
    winrm, rdp = host_configs(state, definition, password)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(serve(winrm, rdp, stop, started.set))
        except OSError as exc:  # a port in use: the caller raises it
            failure.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=run, name="lab-hosts", daemon=True)
    thread.start()
    started.wait(120)
    if failure:
        thread.join(10)
        raise failure[0]
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        loop.close()
