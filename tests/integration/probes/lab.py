"""What the probe tests run against (RDP scenarios, TCP and TLS listeners), and a schema check."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from auditor.facts.model import Available, DocumentKind, FactDocument, Source, Target
from auditor.facts.schema import schema_errors
from auditor.lab.pki import IssuedCert
from auditor.wire.tls import permit_tls_versions

TLS_HOST = "wks01.corp.auditor.test"
TLS_ADDRESS = "127.13.0.1"


@dataclass(frozen=True)
class RDPScenario:
    """One emulated RDP host: how its RDP-Tcp listener is configured."""

    name: str
    address: str
    accepted: frozenset[str]
    with_certificate: bool = True
    tls_min_version: str = "TLSv1.2"
    latency_ms: int = 0


@dataclass(frozen=True)
class RDPHost:
    """A running emulated host, as the tests reach it."""

    name: str
    address: str
    port: int
    cert: IssuedCert | None


RDP_SCENARIOS = {
    "rdp_only": RDPScenario("wks11.corp.auditor.test", "127.13.0.11", frozenset({"rdp"})),
    "ssl_only": RDPScenario("wks12.corp.auditor.test", "127.13.0.12", frozenset({"ssl"})),
    "nla_enforced": RDPScenario("wks13.corp.auditor.test", "127.13.0.13", frozenset({"hybrid"})),
    "negotiate": RDPScenario(
        "wks14.corp.auditor.test", "127.13.0.14", frozenset({"rdp", "ssl", "hybrid"})
    ),
    "windows_default": RDPScenario(
        "wks15.corp.auditor.test", "127.13.0.15", frozenset({"hybrid", "hybrid_ex"})
    ),
    "old_tls": RDPScenario(
        "wks16.corp.auditor.test",
        "127.13.0.16",
        frozenset({"ssl", "hybrid"}),
        tls_min_version="TLSv1",
    ),
    "no_certificate": RDPScenario(
        "wks17.corp.auditor.test",
        "127.13.0.17",
        frozenset({"rdp", "ssl", "hybrid"}),
        with_certificate=False,
    ),
    "slow": RDPScenario(
        "wks18.corp.auditor.test",
        "127.13.0.18",
        frozenset({"rdp", "ssl", "hybrid"}),
        latency_ms=600,
    ),
}


@contextmanager
def tcp_listener(address: str, handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """Accept connections on a thread and hand each to `handle`, one at a time; its port."""
    stop = threading.Event()
    with socket.create_server((address, 0)) as listener:
        listener.settimeout(0.05)

        def serve() -> None:
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
                with connection:
                    connection.settimeout(2.0)
                    handle(connection)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield listener.getsockname()[1]
        finally:
            stop.set()
            thread.join()


@contextmanager
def tls_listener(address: str, cert: IssuedCert, min_version: str = "TLSv1.2") -> Iterator[int]:
    """A TLS endpoint that completes handshakes and waits for the client to leave; its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permit_tls_versions(context, min_version)
    context.load_cert_chain(cert.cert_path, cert.key_path)

    def handshake(connection: socket.socket) -> None:
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                tls.recv(1)
        except OSError:  # the probe's refused versions end here
            pass

    with tcp_listener(address, handshake) as port:
        yield port


def fact_schema_errors(name: str, value: object) -> list[str]:
    """What the host facts schema says about one probe fact, placed as the scanner places it."""
    document = FactDocument(
        Target(DocumentKind.HOST, "wks.corp.auditor.test"),
        {name: Available(value, Source.PROBE)},
        collected_at="2026-01-01T00:00:00Z",
    )
    return schema_errors(document.to_json(), DocumentKind.HOST)
