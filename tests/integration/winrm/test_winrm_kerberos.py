"""Kerberos to lab WinRM hosts with keys from a real Samba KDC, by pypsrp's own client."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
import spnego
from pypsrp.exceptions import AuthenticationError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan
from spnego.channel_bindings import GssChannelBindings
from winrm_lab import fact_handler

from auditor import netmap
from auditor.lab.directory_seed import seed
from auditor.lab.domain_spec import parse_domain_spec
from auditor.lab.pki import CertKind, create_ca, issue_host_cert
from auditor.lab.samba import SambaDC, ensure_loopback_address
from auditor.lab.winrm import ServiceAuth, ServiceSettings, WinRMHostConfig, WinRMHostServer
from auditor.lab.winrm.auth import tls_server_end_point
from tests.kerberos import kinit

REALM = "krb.auditor.test"
ADMIN = "KRB\\Administrator"
HOSTS = {"KRB01": "127.26.0.11", "KRB02": "127.18.0.12"}
# KRB02 offers Kerberos but not Negotiate, so pypsrp uses the Kerberos scheme there.
NO_NEGOTIATE = ServiceSettings(auth=ServiceAuth(negotiate=False))


@dataclass(frozen=True)
class KerberosLab:
    dc: SambaDC
    hosts: dict[str, WinRMHostConfig]
    environment: dict[str, str]
    ca_bundle: Path


@pytest.fixture(scope="module")
def kerberos_lab(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch
) -> Iterator[KerberosLab]:
    spec = parse_domain_spec(
        {
            "realm": REALM,
            "netbios": "KRB",
            "dc": {"name": "KDC1", "address": "127.26.0.1"},
            "computers": [{"name": name} for name in HOSTS],
        },
        source="test",
    )
    ensure_loopback_address(spec.dc.address)
    dc = SambaDC.for_domain(tmp_path_factory.mktemp("krbdc"), spec)
    keys = tmp_path_factory.mktemp("keys")
    ca = create_ca(keys)
    dc.provision()
    dc.start(max_runtime=1800)  # samba exits by itself if this session is killed
    try:
        seed(dc, spec)
        hosts = {}
        for name, address in HOSTS.items():
            fqdn = f"{name.lower()}.{REALM}"
            keytab = keys / f"{name}.keytab"
            dc.export_service_keys(f"{name}$", [f"HTTP/{fqdn}", f"HOST/{fqdn}"], keytab)
            hosts[name] = WinRMHostConfig(
                hostname=fqdn,
                address=address,
                users={ADMIN: dc.admin.password},
                administrators=frozenset({ADMIN}),
                pipeline_handler=fact_handler,
                keytab=keytab,
                **({"service": NO_NEGOTIATE} if name == "KRB02" else {}),
            )
            if name == "KRB01":
                issued = issue_host_cert(ca, keys, fqdn, CertKind.VALID)
                hosts[name] = replace(
                    hosts[name],
                    https_listener=True,
                    tls_cert=issued.cert_path,
                    tls_key=issued.key_path,
                    tls_thumbprint=issued.thumbprint,
                )
        environment = kinit(
            dc.krb5_conf, dc.admin.user_principal_name, dc.admin.password, keys / "ccache"
        )
        for key, value in environment.items():
            monkeypatch_module.setenv(key, value)
        names = {h.hostname: h.address for h in hosts.values()}
        with netmap.mapped(names), WinRMHostServer(list(hosts.values())):
            yield KerberosLab(dc, hosts, environment, keys / "lab-ca.pem")
    finally:
        dc.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _wsman(hostname: str, auth: str = "kerberos") -> WSMan:
    return WSMan(
        hostname,
        ssl=False,
        auth=auth,
        encryption="always",
        no_proxy=True,
        connection_timeout=5,
        read_timeout=10,
        operation_timeout=5,
    )


def test_the_host_keytab_is_private(kerberos_lab: KerberosLab) -> None:
    keytab = kerberos_lab.hosts["KRB01"].keytab
    assert keytab is not None and keytab.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("host", "auth", "scheme", "protocol"),
    [
        ("KRB01", "kerberos", "negotiate", "application/HTTP-SPNEGO-session-encrypted"),
        ("KRB01", "negotiate", "negotiate", "application/HTTP-SPNEGO-session-encrypted"),
        ("KRB02", "kerberos", "kerberos", "application/HTTP-Kerberos-session-encrypted"),
    ],
)
def test_kerberos_with_message_encryption_runs_a_pipeline(
    kerberos_lab: KerberosLab, host: str, auth: str, scheme: str, protocol: str
) -> None:
    hostname = kerberos_lab.hosts[host].hostname
    with _wsman(hostname, auth) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-LabFacts")
        output = ps.invoke()
        context = wsman.transport.session.auth.contexts[hostname]  # type: ignore[union-attr]
        assert wsman.transport.encryption is not None
        assert wsman.transport.encryption.protocol == protocol
    assert not ps.had_errors
    assert output[3]["Name"] == hostname
    # Kerberos, not an NTLM fallback (the client holds no password), and mutually authenticated.
    assert context.negotiated_protocol == "kerberos"
    assert context.response_auth_header == scheme
    assert context.complete


@pytest.mark.parametrize(("presented", "serving"), [("KRB02", "KRB01"), ("KRB01", "KRB02")])
def test_a_ticket_for_another_host_is_refused(
    kerberos_lab: KerberosLab, presented: str, serving: str
) -> None:
    # One host's name at the other's address: the ticket is for HTTP/<presented>, whose keys
    # the serving host does not hold.
    other = kerberos_lab.hosts[presented].hostname
    with (
        netmap.mapped({other: kerberos_lab.hosts[serving].address}),
        pytest.raises(AuthenticationError),
        _wsman(other) as wsman,
    ):
        wsman.get_server_config()


def test_kerberos_over_https_checks_channel_bindings(kerberos_lab: KerberosLab) -> None:
    host = kerberos_lab.hosts["KRB01"]
    assert host.tls_cert is not None
    url = f"https://{host.hostname}:{host.https_port}/wsman"
    right = tls_server_end_point(host.tls_cert)
    wrong = GssChannelBindings(application_data=b"tls-server-end-point:" + b"\x00" * 32)
    statuses = {}
    for label, bindings in (("right", right), ("wrong", wrong)):
        client = spnego.client(
            hostname=host.hostname, service="HTTP", protocol="kerberos", channel_bindings=bindings
        )
        token = base64.b64encode(client.step() or b"").decode()
        response = requests.post(
            url,
            headers={"Authorization": f"Negotiate {token}"},
            verify=str(kerberos_lab.ca_bundle),
            timeout=10,
        )
        statuses[label] = response.status_code
    assert statuses == {"right": 200, "wrong": 401}
    with WSMan(
        host.hostname,
        auth="kerberos",
        cert_validation=str(kerberos_lab.ca_bundle),
        no_proxy=True,
        connection_timeout=5,
        read_timeout=10,
        operation_timeout=5,
    ) as wsman:
        config = wsman.get_server_config("config/service/auth")
    assert config.find(".//{*}CbtHardeningLevel") is not None
