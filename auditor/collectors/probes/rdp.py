"""RDP security negotiation probe and the X.224 connection PDUs it speaks (MS-RDPBCGR 2.2.1)."""

from __future__ import annotations

import enum
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from auditor.collectors.probes.tls import (
    ConnectFailed,
    Preamble,
    ProbeError,
    TLSFact,
    TLSFacts,
    TLSProbeError,
    describe,
    open_connection,
    probe_tls,
)

TPKT_VERSION = 3
X224_CONNECTION_REQUEST = 0xE0
X224_CONNECTION_CONFIRM = 0xD0
CORRELATION_INFO_PRESENT = 0x08
CORRELATION_INFO_LENGTH = 36
EXTENDED_CLIENT_DATA_SUPPORTED = 0x01
_TPKT = struct.Struct(">BBH")  # version, reserved, length of the whole packet (T.123 section 8)
_X224 = struct.Struct(">BBHHB")  # length indicator, TPDU code, dst-ref, src-ref, class (X.224 13.3)
_NEGOTIATION = struct.Struct("<BBHI")  # type, flags, length (always 8), protocols or failure code
# The length indicator is one byte and 255 is reserved: no connection PDU is longer than this.
MAX_CONNECTION_PDU = _TPKT.size + 1 + 254


class NegotiationType(enum.IntEnum):
    """The `type` byte of the structures that follow the X.224 header."""

    REQUEST = 0x01
    RESPONSE = 0x02
    FAILURE = 0x03
    CORRELATION_INFO = 0x06


class SecurityProtocol(enum.IntEnum):
    """requestedProtocols flags and selectedProtocol values (2.2.1.1.1, 2.2.1.2.1)."""

    RDP = 0x00
    SSL = 0x01
    HYBRID = 0x02
    RDSTLS = 0x04
    HYBRID_EX = 0x08
    RDSAAD = 0x10

    @property
    def fact_name(self) -> str:
        return self.name.lower()


# Protocols whose next step on the same connection is a TLS handshake (5.4.5.1, 5.4.5.2).
TLS_PROTOCOLS = frozenset(
    {SecurityProtocol.SSL, SecurityProtocol.HYBRID, SecurityProtocol.HYBRID_EX}
)


class NegotiationFailure(enum.IntEnum):
    """failureCode values of RDP_NEG_FAILURE (2.2.1.2.2)."""

    SSL_REQUIRED_BY_SERVER = 0x01
    SSL_NOT_ALLOWED_BY_SERVER = 0x02
    SSL_CERT_NOT_ON_SERVER = 0x03
    INCONSISTENT_FLAGS = 0x04
    HYBRID_REQUIRED_BY_SERVER = 0x05
    SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER = 0x06


class X224Error(ProbeError):
    """Bytes that are not the X.224 connection PDU MS-RDPBCGR describes."""


def connection_pdu_length(header: bytes) -> int:
    """The total length a TPKT header announces, checked against what a connection PDU can be."""
    if len(header) != _TPKT.size:
        raise X224Error(f"{len(header)} bytes cannot be a TPKT header")
    version, _reserved, length = _TPKT.unpack(header)
    if version != TPKT_VERSION:
        raise X224Error(f"not RDP: the data does not start with a TPKT header (0x{header.hex()})")
    if not _TPKT.size + _X224.size <= length <= MAX_CONNECTION_PDU:
        raise X224Error(f"TPKT length {length} is impossible for an X.224 connection PDU")
    return int(length)


def build_connection_pdu(code: int, variable: bytes, source_ref: int = 0) -> bytes:
    """TPKT header + X.224 class 0 header + `variable` (cookie, negotiation structures)."""
    tpdu = _X224.pack(_X224.size - 1 + len(variable), code, 0, source_ref, 0) + variable
    return _TPKT.pack(TPKT_VERSION, 0, _TPKT.size + len(tpdu)) + tpdu


def parse_connection_pdu(packet: bytes, code: int) -> bytes:
    """Check every length and the TPDU code and class; return the variable part."""
    if connection_pdu_length(packet[: _TPKT.size]) != len(packet):
        raise X224Error("the TPKT length does not match the packet")
    indicator, received_code, _dst, _src, class_options = _X224.unpack_from(packet, _TPKT.size)
    if indicator != len(packet) - _TPKT.size - 1:
        raise X224Error(f"X.224 length indicator {indicator} does not match the packet")
    if received_code & 0xF0 != code:
        raise X224Error(f"X.224 TPDU code 0x{received_code:02x}, expected 0x{code:02x}")
    if class_options & 0xF0:
        raise X224Error(f"X.224 class {class_options >> 4}, RDP uses class 0")
    return packet[_TPKT.size + _X224.size :]


def build_negotiation(kind: NegotiationType, flags: int, value: int) -> bytes:
    return _NEGOTIATION.pack(kind, flags, _NEGOTIATION.size, value)


def parse_negotiation(data: bytes) -> tuple[NegotiationType, int, int]:
    """(type, flags, requestedProtocols / selectedProtocol / failureCode) of one structure."""
    if len(data) != _NEGOTIATION.size:
        raise X224Error(f"negotiation structure of {len(data)} bytes, expected 8")
    kind, flags, length, value = _NEGOTIATION.unpack(data)
    if length != _NEGOTIATION.size:
        raise X224Error(f"negotiation structure says it is {length} bytes long, expected 8")
    try:
        return NegotiationType(kind), flags, value
    except ValueError:
        raise X224Error(f"unknown negotiation structure type 0x{kind:02x}") from None


def read_connection_pdu(sock: socket.socket) -> bytes:
    """Read exactly one connection PDU: its header says how long it is."""
    header = _receive_exactly(sock, _TPKT.size)
    return header + _receive_exactly(sock, connection_pdu_length(header) - _TPKT.size)


class ProtocolFact(TypedDict):
    accepted: bool
    selected: str | None
    failure: str | None


class ProtocolsFact(TypedDict):
    rdp: ProtocolFact
    ssl: ProtocolFact
    hybrid: ProtocolFact


class RDPFact(TypedDict):
    port: int
    listening: bool
    protocols: ProtocolsFact
    nla_required: bool | None
    tls: TLSFact | None
    error: str | None


@dataclass(frozen=True)
class Negotiation:
    """The server's answer to one Connection Request; neither field set means no usable answer."""

    selected: SecurityProtocol | None = None
    failure: str | None = None

    @property
    def accepted(self) -> bool:
        return self.selected is not None

    @property
    def refused(self) -> bool:
        return self.failure is not None

    def to_fact(self) -> ProtocolFact:
        selected = None if self.selected is None else self.selected.fact_name
        return {"accepted": self.accepted, "selected": selected, "failure": self.failure}


@dataclass(frozen=True)
class RDPFacts:
    """How the listener answered a client offering standard RDP, TLS only, and TLS+CredSSP."""

    port: int
    listening: bool
    rdp: Negotiation = field(default_factory=Negotiation)
    ssl: Negotiation = field(default_factory=Negotiation)
    hybrid: Negotiation = field(default_factory=Negotiation)
    tls: TLSFacts | None = None
    error: str | None = None

    @property
    def nla_required(self) -> bool | None:
        """True only when RDP and TLS-only were refused and CredSSP accepted; None if unknown."""
        if self.rdp.accepted or self.ssl.accepted:
            return False
        if self.rdp.refused and self.ssl.refused and self.hybrid.accepted:
            return True
        return None

    def to_fact(self) -> RDPFact:
        return {
            "port": self.port,
            "listening": self.listening,
            "protocols": {
                "rdp": self.rdp.to_fact(),
                "ssl": self.ssl.to_fact(),
                "hybrid": self.hybrid.to_fact(),
            },
            "nla_required": self.nla_required,
            "tls": None if self.tls is None else self.tls.to_fact(),
            "error": self.error,
        }


# What each attempt offers; "hybrid" sends SSL|HYBRID as mstsc does.
_OFFERS = {
    "rdp": SecurityProtocol.RDP,
    "ssl": SecurityProtocol.SSL,
    "hybrid": SecurityProtocol.SSL | SecurityProtocol.HYBRID,
}


def probe_rdp(
    host: str,
    address: str,
    port: int = 3389,
    timeout: float = 5.0,
    ca_bundle: Path | None = None,
) -> RDPFacts:
    """One connection per offer, then the TLS probe behind the negotiation; never raises.

    Nothing is sent beyond the X.224 Connection Request and a TLS ClientHello: no
    cookie, no user name, no CredSSP message.
    """
    answers: dict[str, Negotiation] = {}
    errors: list[str] = []
    for index, (name, offer) in enumerate(_OFFERS.items()):
        try:
            with open_connection(address, port, timeout) as sock:
                answers[name] = negotiate(sock, offer)
        except ConnectFailed as exc:
            if index == 0:
                return RDPFacts(port=port, listening=False, error=str(exc))
            errors.append(f"{name}: {exc}")
        except (OSError, ProbeError) as exc:
            errors.append(f"{name}: {describe(exc)}")
    tls = None
    tls_offer = next(
        (_OFFERS[name] for name, answer in answers.items() if answer.selected in TLS_PROTOCOLS),
        None,
    )
    if tls_offer is not None:
        try:
            tls = probe_tls(host, address, port, timeout, ca_bundle, _tls_preamble(tls_offer))
        except TLSProbeError as exc:
            errors.append(f"tls: {exc}")
    unanswered = Negotiation()
    return RDPFacts(
        port=port,
        listening=True,
        rdp=answers.get("rdp", unanswered),
        ssl=answers.get("ssl", unanswered),
        hybrid=answers.get("hybrid", unanswered),
        tls=tls,
        error="; ".join(errors) or None,
    )


def negotiate(sock: socket.socket, offer: int) -> Negotiation:
    """Send a Connection Request offering `offer` and read the server's decision (3.2.5.3.2)."""
    request = build_negotiation(NegotiationType.REQUEST, 0, offer)
    sock.sendall(build_connection_pdu(X224_CONNECTION_REQUEST, request))
    negotiation_data = parse_connection_pdu(read_connection_pdu(sock), X224_CONNECTION_CONFIRM)
    if not negotiation_data:
        # A server without Enhanced RDP Security: standard RDP security is implied.
        return Negotiation(selected=SecurityProtocol.RDP)
    kind, _flags, value = parse_negotiation(negotiation_data)
    if kind is NegotiationType.RESPONSE:
        try:
            return Negotiation(selected=SecurityProtocol(value))
        except ValueError:
            raise X224Error(f"unknown selectedProtocol 0x{value:08x}") from None
    if kind is NegotiationType.FAILURE:
        try:
            return Negotiation(failure=NegotiationFailure(value).name)
        except ValueError:
            return Negotiation(failure=f"UNKNOWN_0x{value:08x}")
    raise X224Error(f"a Connection Confirm carrying a {kind.name} structure")


def _tls_preamble(offer: int) -> Preamble:
    """The X.224 exchange that must precede TLS on an RDP connection."""

    def negotiate_tls(sock: socket.socket) -> None:
        answer = negotiate(sock, offer)
        if answer.selected not in TLS_PROTOCOLS:
            raise ProbeError(f"the server did not select TLS this time ({answer.to_fact()})")

    return negotiate_tls


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise X224Error(
                "the server closed the connection before a complete X.224 Connection Confirm "
                f"({len(data)} of {size} bytes)"
            )
        data += chunk
    return bytes(data)
