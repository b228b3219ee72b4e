"""auditor.wire.x224 against the annotated dumps in MS-RDPBCGR 4.1.1 and 4.1.2.

The probe and the lab talk to each other in the integration tests, so a mistake both sides
share would pass there; these bytes come from the specification, not from our encoder.
"""

from __future__ import annotations

import pytest

from auditor.wire.x224 import (
    X224_CONNECTION_CONFIRM,
    X224_CONNECTION_REQUEST,
    NegotiationType,
    SecurityProtocol,
    X224Error,
    build_connection_pdu,
    build_negotiation,
    parse_connection_pdu,
    parse_connection_request,
    parse_negotiation,
)

# 4.1.1 Client X.224 Connection Request PDU: a cookie, then RDP_NEG_REQ offering PROTOCOL_RDP.
SPEC_REQUEST = bytes.fromhex(
    "0300002c27e00000000000436f6f6b69653a206d737473686173683d656c746f6e730d0a0100080000000000"
)
# 4.1.2 Server X.224 Connection Confirm PDU: RDP_NEG_RSP selecting PROTOCOL_RDP, src-ref 0x1234.
SPEC_CONFIRM = bytes.fromhex("030000130ed000001234000200080000000000")


def test_the_specifications_connection_request_is_read() -> None:
    assert parse_connection_request(SPEC_REQUEST) == SecurityProtocol.RDP
    variable = parse_connection_pdu(SPEC_REQUEST, X224_CONNECTION_REQUEST)
    assert variable.startswith(b"Cookie: mstshash=eltons\r\n")


def test_the_specifications_connection_confirm_is_built_and_read() -> None:
    negotiation = build_negotiation(NegotiationType.RESPONSE, 0, SecurityProtocol.RDP)
    assert build_connection_pdu(X224_CONNECTION_CONFIRM, negotiation, 0x1234) == SPEC_CONFIRM
    variable = parse_connection_pdu(SPEC_CONFIRM, X224_CONNECTION_CONFIRM)
    assert parse_negotiation(variable) == (NegotiationType.RESPONSE, 0, SecurityProtocol.RDP)


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (SPEC_REQUEST[:3], "3 bytes cannot be a TPKT header"),
        (b"\x16\x03\x01\x00" + SPEC_REQUEST[4:], "not RDP: the data does not start with a TPKT"),
        (SPEC_REQUEST[:-1], "the TPKT length does not match the packet"),
        (SPEC_CONFIRM, "X.224 TPDU code 0xd0, expected 0xe0"),
        (SPEC_REQUEST.replace(b"\r\n", b"\r_"), "a cookie without its CR LF terminator"),
    ],
)
def test_a_broken_connection_request_says_what_is_wrong(packet: bytes, message: str) -> None:
    with pytest.raises(X224Error, match=message):
        parse_connection_request(packet)
