"""probe_rdp against the lab listeners: negotiation facts, NLA verdict, TLS behind X.224."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from auditor.collectors.probes import probe_rdp
from auditor.lab.pki import LabCA
from auditor.wire.x224 import (
    X224_CONNECTION_CONFIRM,
    NegotiationType,
    SecurityProtocol,
    build_connection_pdu,
    build_negotiation,
)

from .lab import RDPHost, fact_schema_errors, tcp_listener


def accepted(selected: str) -> dict[str, object]:
    return {"accepted": True, "selected": selected, "failure": None}


def refused(failure: str) -> dict[str, object]:
    return {"accepted": False, "selected": None, "failure": failure}


# scenario: (protocols, nla_required, whether TLS facts follow)
EXPECTED = {
    "rdp_only": (
        {
            "rdp": accepted("rdp"),
            "ssl": refused("SSL_NOT_ALLOWED_BY_SERVER"),
            "hybrid": refused("SSL_NOT_ALLOWED_BY_SERVER"),
        },
        False,
        False,
    ),
    "ssl_only": (
        {
            "rdp": refused("SSL_REQUIRED_BY_SERVER"),
            "ssl": accepted("ssl"),
            "hybrid": accepted("ssl"),
        },
        False,
        True,
    ),
    "nla_enforced": (
        {
            "rdp": refused("HYBRID_REQUIRED_BY_SERVER"),
            "ssl": refused("HYBRID_REQUIRED_BY_SERVER"),
            "hybrid": accepted("hybrid"),
        },
        True,
        True,
    ),
    "negotiate": (
        {"rdp": accepted("rdp"), "ssl": accepted("ssl"), "hybrid": accepted("hybrid")},
        False,
        True,
    ),
    "windows_default": (
        {
            "rdp": refused("HYBRID_REQUIRED_BY_SERVER"),
            "ssl": refused("HYBRID_REQUIRED_BY_SERVER"),
            "hybrid": accepted("hybrid"),  # SSL|HYBRID offered, so not HYBRID_EX
        },
        True,
        True,
    ),
    "no_certificate": (
        {
            "rdp": accepted("rdp"),
            "ssl": refused("SSL_CERT_NOT_ON_SERVER"),
            "hybrid": refused("SSL_CERT_NOT_ON_SERVER"),
        },
        False,
        False,
    ),
}


@pytest.mark.parametrize("scenario", EXPECTED)
def test_negotiation_facts(rdp_lab: dict[str, RDPHost], lab_ca: LabCA, scenario: str) -> None:
    host = rdp_lab[scenario]
    protocols, nla_required, has_tls = EXPECTED[scenario]
    fact = probe_rdp(host.name, host.address, host.port, 3.0, lab_ca.cert_path).to_fact()
    assert {key: value for key, value in fact.items() if key != "tls"} == {
        "port": host.port,
        "listening": True,
        "protocols": protocols,
        "nla_required": nla_required,
        "error": None,
    }
    assert (fact["tls"] is not None) is has_tls
    assert fact_schema_errors("probe.rdp", fact) == []


@pytest.mark.parametrize("scenario", ["ssl_only", "nla_enforced", "negotiate"])
def test_tls_facts_behind_the_negotiation(
    rdp_lab: dict[str, RDPHost], lab_ca: LabCA, scenario: str
) -> None:
    host = rdp_lab[scenario]
    assert host.cert is not None
    tls = probe_rdp(host.name, host.address, host.port, 3.0, lab_ca.cert_path).to_fact()["tls"]
    assert tls is not None
    assert tls["versions"] == {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True}
    certificate = tls["certificate"]
    assert certificate["thumbprint"] == host.cert.thumbprint
    assert certificate["subject"] == f"CN={host.name}"
    assert certificate["issuer"] == "CN=Auditor Lab Root CA"
    assert certificate["sans"] == [host.name]
    assert certificate["name_matches"] is True
    assert certificate["chain_valid"] is True
    assert certificate["chain_error"] is None


def test_old_tls_versions_over_rdp(
    rdp_lab: dict[str, RDPHost], lab_ca: LabCA, local_tls_versions: frozenset[str]
) -> None:
    host = rdp_lab["old_tls"]
    tls = probe_rdp(host.name, host.address, host.port, 3.0, lab_ca.cert_path).to_fact()["tls"]
    assert tls is not None
    # Every version this machine's OpenSSL can speak at all; see local_tls_versions.
    assert tls["versions"] == {
        version: version in local_tls_versions for version in tls["versions"]
    }


def test_untrusted_certificate_over_rdp(rdp_lab: dict[str, RDPHost]) -> None:
    host = rdp_lab["nla_enforced"]
    tls = probe_rdp(host.name, host.address, host.port, 3.0).to_fact()["tls"]  # system store
    assert tls is not None
    assert tls["certificate"]["chain_valid"] is False
    assert tls["certificate"]["chain_error"] == "unable to get local issuer certificate"


def test_name_resolved_through_the_netmap(rdp_lab: dict[str, RDPHost]) -> None:
    host = rdp_lab["negotiate"]
    fact = probe_rdp(host.name, host.name, host.port, 3.0).to_fact()
    assert fact["listening"] is True
    assert fact["protocols"]["hybrid"] == accepted("hybrid")


def test_closed_port() -> None:
    with socket.create_server(("127.13.0.40", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    fact = probe_rdp("wks40.corp.auditor.test", "127.13.0.40", port, 1.0).to_fact()
    assert fact == {
        "port": port,
        "listening": False,
        "protocols": {
            name: {"accepted": False, "selected": None, "failure": None}
            for name in ("rdp", "ssl", "hybrid")
        },
        "nla_required": None,
        "tls": None,
        "error": f"127.13.0.40:{port} refused the connection (port closed)",
    }
    assert fact_schema_errors("probe.rdp", fact) == []


def test_slow_listener_times_out_with_an_error(rdp_lab: dict[str, RDPHost]) -> None:
    host = rdp_lab["slow"]  # answers after 600 ms
    fact = probe_rdp(host.name, host.address, host.port, 0.2).to_fact()
    assert fact["listening"] is True
    assert fact["nla_required"] is None
    assert fact["error"] == "; ".join(
        f"{name}: timed out waiting for the server" for name in ("rdp", "ssl", "hybrid")
    )


@pytest.fixture
def http_listener() -> Iterator[tuple[str, int]]:
    """Something that is not RDP on the port: an HTTP server's complaint, then close."""

    def complain(connection: socket.socket) -> None:
        connection.recv(1024)
        connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    with tcp_listener("127.13.0.41", complain) as port:
        yield "127.13.0.41", port


def test_not_an_rdp_listener(http_listener: tuple[str, int]) -> None:
    address, port = http_listener
    fact = probe_rdp("web.corp.auditor.test", address, port, 1.0).to_fact()
    assert fact["listening"] is True
    assert fact["nla_required"] is None
    assert fact["tls"] is None
    not_rdp = "not RDP: the data does not start with a TPKT header (0x48545450)"
    assert fact["error"] == "; ".join(f"{name}: {not_rdp}" for name in ("rdp", "ssl", "hybrid"))


@pytest.fixture
def fickle_listener() -> Iterator[tuple[str, int]]:
    """Selects TLS for the three negotiations, then answers like a web server: the X.224
    exchange in front of each TLS handshake fails."""
    ssl_selected = build_connection_pdu(
        X224_CONNECTION_CONFIRM,
        build_negotiation(NegotiationType.RESPONSE, 0, SecurityProtocol.SSL),
    )
    served: list[int] = []

    def answer(connection: socket.socket) -> None:
        connection.recv(1024)
        connection.sendall(ssl_selected if len(served) < 3 else b"HTTP/1.1 400 Bad Request\r\n")
        served.append(1)

    with tcp_listener("127.13.0.42", answer) as port:
        yield "127.13.0.42", port


def test_a_broken_negotiation_before_tls_is_an_error_not_a_crash(
    fickle_listener: tuple[str, int],
) -> None:
    address, port = fickle_listener
    fact = probe_rdp("fickle.corp.auditor.test", address, port, 1.0).to_fact()
    assert fact["protocols"]["ssl"] == accepted("ssl")
    assert fact["tls"] is None
    not_rdp = "not RDP: the data does not start with a TPKT header (0x48545450)"
    failures = "; ".join(f"{v}: {not_rdp}" for v in ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"))
    assert fact["error"] == f"tls: no TLS handshake completed with {address}:{port} ({failures})"
