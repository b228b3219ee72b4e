"""Lab hosts for the probe tests: a CA, host certificates, RDP listeners, plain TLS listeners."""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from auditor import netmap
from auditor.lab.pki import CertKind, IssuedCert, LabCA, create_ca, issue_host_cert
from auditor.lab.rdp import RDPListenerConfig, RDPListenerServer
from auditor.wire.tls import TLS_VERSIONS

from .lab import RDP_SCENARIOS, TLS_ADDRESS, TLS_HOST, RDPHost, tls_listener


@pytest.fixture(scope="session")
def lab_ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return create_ca(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def tls_certs(
    lab_ca: LabCA, tmp_path_factory: pytest.TempPathFactory
) -> dict[CertKind, IssuedCert]:
    """One certificate for TLS_HOST of every kind the TLS tests look at."""
    directory = tmp_path_factory.mktemp("tls-certs")
    return {kind: issue_host_cert(lab_ca, directory, TLS_HOST, kind) for kind in CertKind}


@pytest.fixture(scope="session")
def rdp_lab(
    lab_ca: LabCA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, RDPHost]]:
    """Every RDP scenario served from one event loop, names resolving through the netmap."""
    directory = tmp_path_factory.mktemp("rdp-certs")
    certs = {
        key: issue_host_cert(lab_ca, directory, scenario.name)
        for key, scenario in RDP_SCENARIOS.items()
        if scenario.with_certificate
    }
    configs = {
        key: RDPListenerConfig(
            address=scenario.address,
            port=0,
            accepted=scenario.accepted,
            cert_path=certs[key].cert_path if key in certs else None,
            key_path=certs[key].key_path if key in certs else None,
            tls_min_version=scenario.tls_min_version,
            latency_ms=scenario.latency_ms,
        )
        for key, scenario in RDP_SCENARIOS.items()
    }
    server = RDPListenerServer(configs.values())
    names = {scenario.name: scenario.address for scenario in RDP_SCENARIOS.values()}
    with server.running_in_thread(), netmap.mapped(names):
        yield {
            key: RDPHost(
                scenario.name, scenario.address, server.port_of(configs[key]), certs.get(key)
            )
            for key, scenario in RDP_SCENARIOS.items()
        }


@pytest.fixture
def tls_endpoint() -> Iterator[Callable[..., int]]:
    """Start TLS listeners on TLS_ADDRESS for one test: (certificate, minimum version) -> port."""
    with ExitStack() as stack, netmap.mapped({TLS_HOST: TLS_ADDRESS}):

        def start(cert: IssuedCert, min_version: str = "TLSv1.2") -> int:
            return stack.enter_context(tls_listener(TLS_ADDRESS, cert, min_version))

        yield start


@pytest.fixture(scope="session")
def local_tls_versions(tls_certs: dict[CertKind, IssuedCert]) -> frozenset[str]:
    """The TLS versions this machine's OpenSSL completes at all, both ends allowing everything.

    Measured with the ssl module directly, not with the probe under test.
    """
    spoken = set()
    with tls_listener(TLS_ADDRESS, tls_certs[CertKind.VALID], "TLSv1") as port:
        for name, version in TLS_VERSIONS.items():
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = context.maximum_version = version
            try:
                with (
                    socket.create_connection((TLS_ADDRESS, port), timeout=2.0) as sock,
                    context.wrap_socket(sock, server_hostname=TLS_HOST),
                ):
                    spoken.add(name)
            except OSError:
                continue
    return frozenset(spoken)
