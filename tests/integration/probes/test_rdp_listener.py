"""The lab RDP listener answers the X.224 negotiation as MS-RDPBCGR says a Windows server does."""

from __future__ import annotations

import socket
import ssl
import struct
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from auditor.lab.pki import LabCA
from auditor.lab.rdp import RDPListenerConfig, RDPListenerServer

from .lab import RDPHost

# Built by hand from 2.2.1.1 / 2.2.1.2, not with the codec under test.
RSP, FAILURE = 0x02, 0x03
RDP, SSL, HYBRID, HYBRID_EX = 0x00, 0x01, 0x02, 0x08
SSL_REQUIRED, SSL_NOT_ALLOWED, CERT_NOT_ON_SERVER, HYBRID_REQUIRED = 0x01, 0x02, 0x03, 0x05
LEGACY_CONFIRM = bytes.fromhex("0300000b06d00000123400")
MSTSC = SSL | HYBRID | HYBRID_EX


def connection_request(
    offer: int | None, prefix: bytes = b"", flags: int = 0, suffix: bytes = b""
) -> bytes:
    negotiation = b"" if offer is None else struct.pack("<BBHI", 0x01, flags, 8, offer)
    variable = prefix + negotiation + suffix
    tpdu = bytes([6 + len(variable), 0xE0, 0, 0, 0, 0, 0]) + variable
    return struct.pack(">BBH", 3, 0, 4 + len(tpdu)) + tpdu


def confirm(kind: int, value: int) -> bytes:
    flags = 0x01 if kind == RSP else 0x00  # EXTENDED_CLIENT_DATA_SUPPORTED on responses
    return bytes.fromhex("030000130ed00000123400") + struct.pack("<BBHI", kind, flags, 8, value)


def receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"connection closed after {data.hex()}"
        data += chunk
    return data


def read_confirm(sock: socket.socket) -> bytes:
    header = receive_exactly(sock, 4)
    return header + receive_exactly(sock, struct.unpack(">H", header[2:])[0] - 4)


def exchange(host: RDPHost, request: bytes) -> bytes:
    with socket.create_connection((host.address, host.port), timeout=3) as sock:
        sock.sendall(request)
        return read_confirm(sock)


# offer: None (no RDP_NEG_REQ), RDP, SSL, SSL|HYBRID (mstsc without EX), mstsc, HYBRID alone
OFFERS = (None, RDP, SSL, SSL | HYBRID, MSTSC, HYBRID)
ANSWERS = {
    "rdp_only": (
        LEGACY_CONFIRM,
        confirm(RSP, RDP),
        *[confirm(FAILURE, SSL_NOT_ALLOWED)] * 4,
    ),
    "ssl_only": (
        confirm(FAILURE, SSL_REQUIRED),
        confirm(FAILURE, SSL_REQUIRED),
        confirm(RSP, SSL),
        confirm(RSP, SSL),
        confirm(RSP, SSL),
        # "If only CredSSP was requested then the server only supports TLS."
        confirm(FAILURE, SSL_REQUIRED),
    ),
    "nla_enforced": (
        *[confirm(FAILURE, HYBRID_REQUIRED)] * 3,
        *[confirm(RSP, HYBRID)] * 3,
    ),
    "negotiate": (
        LEGACY_CONFIRM,
        confirm(RSP, RDP),
        confirm(RSP, SSL),
        confirm(RSP, HYBRID),
        confirm(RSP, HYBRID),
        confirm(RSP, HYBRID),
    ),
    "windows_default": (
        *[confirm(FAILURE, HYBRID_REQUIRED)] * 3,
        confirm(RSP, HYBRID),
        confirm(RSP, HYBRID_EX),
        confirm(RSP, HYBRID),
    ),
    "no_certificate": (
        LEGACY_CONFIRM,
        confirm(RSP, RDP),
        *[confirm(FAILURE, CERT_NOT_ON_SERVER)] * 4,
    ),
}


@pytest.mark.parametrize(
    ("scenario", "offer", "expected"),
    [
        pytest.param(scenario, offer, answer, id=f"{scenario}-{offer}")
        for scenario, answers in ANSWERS.items()
        for offer, answer in zip(OFFERS, answers, strict=True)
    ],
)
def test_negotiation_answer(
    rdp_lab: dict[str, RDPHost], scenario: str, offer: int | None, expected: bytes
) -> None:
    assert exchange(rdp_lab[scenario], connection_request(offer)).hex() == expected.hex()


def test_spec_example_request_gets_the_spec_example_confirm(rdp_lab: dict[str, RDPHost]) -> None:
    # MS-RDPBCGR 4.1.1 and 4.1.2 byte for byte, except the flags byte: an RDP 5.1 server
    # sent 0x00, the lab announces EXTENDED_CLIENT_DATA_SUPPORTED as later servers do.
    request = bytes.fromhex(
        "0300002c27e00000000000436f6f6b69653a206d737473686173683d656c746f6e730d0a0100080000000000"
    )
    expected = bytes.fromhex("030000130ed000001234000201080000000000")
    assert exchange(rdp_lab["negotiate"], request) == expected


def test_correlation_info_is_accepted(rdp_lab: dict[str, RDPHost]) -> None:
    correlation = struct.pack("<BBH", 0x06, 0, 36) + bytes(range(1, 17)) + bytes(16)
    request = connection_request(SSL, flags=0x08, suffix=correlation)
    assert exchange(rdp_lab["negotiate"], request) == confirm(RSP, SSL)


def replace_byte(packet: bytes, offset: int, value: int) -> bytes:
    return packet[:offset] + bytes([value]) + packet[offset + 1 :]


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(replace_byte(connection_request(SSL), 0, 4), id="tpkt-version-4"),
        pytest.param(replace_byte(connection_request(SSL), 4, 7), id="length-indicator"),
        pytest.param(replace_byte(connection_request(SSL), 5, 0xF0), id="data-tpdu"),
        pytest.param(replace_byte(connection_request(SSL), 10, 0x40), id="class-4"),
        pytest.param(connection_request(SSL, flags=0x08), id="correlation-flag-without-info"),
        pytest.param(
            connection_request(SSL, flags=0x08, suffix=bytes(36)), id="correlation-info-type-0"
        ),
        pytest.param(connection_request(None, prefix=b"Cookie: mstshash=x"), id="cookie-no-crlf"),
        pytest.param(connection_request(SSL, suffix=b"\x00"), id="trailing-byte"),
        pytest.param(
            connection_request(None, prefix=struct.pack("<BBHI", 0x02, 0, 8, 1)),
            id="response-in-request",
        ),
        pytest.param(bytes.fromhex("160301002e0100002a0303") + bytes(35), id="tls-client-hello"),
    ],
)
def test_malformed_request_is_dropped_without_answer(
    rdp_lab: dict[str, RDPHost], request_bytes: bytes
) -> None:
    host = rdp_lab["negotiate"]
    with socket.create_connection((host.address, host.port), timeout=3) as sock:
        sock.sendall(request_bytes)
        assert sock.recv(64) == b""


@pytest.mark.parametrize(("scenario", "offer"), [("ssl_only", SSL), ("nla_enforced", MSTSC)])
def test_tls_follows_on_the_same_connection(
    rdp_lab: dict[str, RDPHost], lab_ca: LabCA, scenario: str, offer: int
) -> None:
    host = rdp_lab[scenario]
    assert host.cert is not None
    context = ssl.create_default_context(cafile=lab_ca.cert_path)  # full verification, by name
    with socket.create_connection((host.address, host.port), timeout=3) as sock:
        sock.sendall(connection_request(offer))
        read_confirm(sock)
        with context.wrap_socket(sock, server_hostname=host.name) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der == host.cert.load().public_bytes(Encoding.DER)


def test_latency_fault_delays_the_confirm(rdp_lab: dict[str, RDPHost]) -> None:
    started = time.monotonic()
    assert exchange(rdp_lab["slow"], connection_request(RDP)) == confirm(RSP, RDP)
    assert time.monotonic() - started >= 0.6


def test_stopped_server_refuses_connections() -> None:
    config = RDPListenerConfig("127.13.0.30", port=0, accepted=frozenset({"rdp"}))
    server = RDPListenerServer([config])
    with server.running_in_thread():
        port = server.port_of(config)
        assert exchange(RDPHost("x", "127.13.0.30", port, None), connection_request(RDP))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.13.0.30", port), timeout=3)


def test_bind_failure_surfaces_from_the_thread_runner() -> None:
    with socket.create_server(("127.13.0.31", 0)) as taken:
        config = RDPListenerConfig("127.13.0.31", taken.getsockname()[1], frozenset({"rdp"}))
        with (
            pytest.raises(OSError, match="address already in use"),
            RDPListenerServer([config]).running_in_thread(),
        ):
            pass


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accepted": frozenset({"rdp", "tls"})}, r"accepted: \['rdp', 'tls'\] is not"),
        ({"accepted": frozenset()}, r"accepted: \[\] is not a non-empty subset"),
        ({"cert_path": Path("c.pem")}, "give both or neither"),
        ({"tls_min_version": "SSLv3"}, "tls_min_version: 'SSLv3'"),
        ({"latency_ms": -1}, "latency_ms"),
    ],
)
def test_config_rejects_what_windows_cannot_be(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(RDPListenerConfig("127.13.0.32"), **kwargs)


def test_server_rejects_two_listeners_on_one_endpoint() -> None:
    config = RDPListenerConfig("127.13.0.33", 3389, frozenset({"rdp"}))
    with pytest.raises(ValueError, match="same address and port"):
        RDPListenerServer([config, RDPListenerConfig("127.13.0.33", 3389, frozenset({"ssl"}))])
