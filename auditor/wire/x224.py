"""RDP's connection PDUs: TPKT, X.224 class 0 and the negotiation structures (MS-RDPBCGR 2.2.1).

Both sides of the security negotiation: the probe builds Connection Requests and reads
Confirms, the lab reads Requests and builds Confirms. Bytes in, bytes out; no sockets.
"""

from __future__ import annotations

import enum
import struct

TPKT_VERSION = 3
X224_CONNECTION_REQUEST = 0xE0
X224_CONNECTION_CONFIRM = 0xD0
CORRELATION_INFO_PRESENT = 0x08
CORRELATION_INFO_LENGTH = 36
EXTENDED_CLIENT_DATA_SUPPORTED = 0x01
_TPKT = struct.Struct(">BBH")  # version, reserved, length of the whole packet (T.123 section 8)
_X224 = struct.Struct(">BBHHB")  # length indicator, TPDU code, dst-ref, src-ref, class (X.224 13.3)
_NEGOTIATION = struct.Struct("<BBHI")  # type, flags, length (always 8), protocols or failure code
TPKT_HEADER_LENGTH = _TPKT.size  # what a reader takes first, to learn the packet's length
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


class X224Error(Exception):
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


def parse_connection_request(packet: bytes) -> int | None:
    """requestedProtocols of a Connection Request, or None when it has no RDP_NEG_REQ."""
    variable = parse_connection_pdu(packet, X224_CONNECTION_REQUEST)
    if variable.startswith(b"Cookie:"):
        # A cookie or routing token, CR LF terminated; Windows ignores both (3.3.5.3.1).
        end = variable.find(b"\r\n")
        if end < 0:
            raise X224Error("a cookie without its CR LF terminator")
        variable = variable[end + 2 :]
    if not variable:
        return None
    kind, flags, offer = parse_negotiation(variable[:8])
    if kind is not NegotiationType.REQUEST:
        raise X224Error(f"a Connection Request carrying a {kind.name} structure")
    rest = variable[8:]
    if flags & CORRELATION_INFO_PRESENT:
        if len(rest) != CORRELATION_INFO_LENGTH or rest[0] != NegotiationType.CORRELATION_INFO:
            raise X224Error("CORRELATION_INFO_PRESENT without an RDP_NEG_CORRELATION_INFO")
    elif rest:
        raise X224Error(f"{len(rest)} unexpected bytes after RDP_NEG_REQ")
    return offer
