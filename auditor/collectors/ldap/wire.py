"""Decoding LDAP search responses (RFC 4511 4.5.2, BER) straight from received bytes, fast."""

from __future__ import annotations

from dataclasses import dataclass

# protocolOp tags (RFC 4511 4.2): [APPLICATION n], constructed.
OP_SEARCH_ENTRY = 0x64
OP_SEARCH_DONE = 0x65
OP_SEARCH_REFERENCE = 0x73
OP_EXTENDED_RESPONSE = 0x78
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
NOTICE_OF_DISCONNECTION_OID = "1.3.6.1.4.1.1466.20036"

Attributes = dict[str, list[bytes]]
# Attribute descriptions repeat on every entry: decode and lower-case each spelling once.
_names: dict[bytes, str] = {}


class WireError(ValueError):
    """The server sent bytes that are not the LDAP message they claim to be."""


@dataclass(frozen=True)
class Header:
    """Where one LDAPMessage's parts are inside a buffer."""

    message_id: int
    op: int
    op_start: int  # first byte of the protocolOp's contents
    op_end: int
    end: int  # first byte after the whole message


@dataclass(frozen=True)
class Result:
    """An LDAPResult (SearchResultDone, ExtendedResponse) and the response controls."""

    code: int
    matched_dn: str
    message: str
    controls: dict[str, bytes | None]
    response_name: str | None = None


def _length(data: bytes | bytearray, pos: int) -> tuple[int, int]:
    """BER definite length at `pos`: (length, position of the contents)."""
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0 or count > 4:
        raise WireError(f"unsupported BER length form 0x{first:02x} at offset {pos}")
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def _expect(data: bytes | bytearray, pos: int, tag: int, what: str) -> tuple[int, int]:
    if data[pos] != tag:
        raise WireError(f"{what}: expected tag 0x{tag:02x}, got 0x{data[pos]:02x} at {pos}")
    return _length(data, pos + 1)


def message_end(data: bytes | bytearray, pos: int) -> int | None:
    """End offset of the message starting at `pos`, or None while its header is incomplete."""
    if len(data) - pos < 2:
        return None
    if data[pos] != 0x30:
        raise WireError(f"LDAPMessage: expected a SEQUENCE, got 0x{data[pos]:02x}")
    first = data[pos + 1]
    if first < 0x80:
        return pos + 2 + first
    count = first & 0x7F
    if count == 0 or count > 4:
        raise WireError(f"LDAPMessage: unsupported length form 0x{first:02x}")
    if len(data) - pos < 2 + count:
        return None
    return pos + 2 + count + int.from_bytes(data[pos + 2 : pos + 2 + count], "big")


def read_header(data: bytes | bytearray, pos: int) -> Header:
    """Message ID and protocolOp of the complete message at `pos`."""
    try:
        length, start = _expect(data, pos, 0x30, "LDAPMessage")
        end = start + length
        id_length, at = _expect(data, start, 0x02, "messageID")
        message_id = int.from_bytes(data[at : at + id_length], "big")
        at += id_length
        op = data[at]
        op_length, op_start = _length(data, at + 1)
    except IndexError:
        raise WireError(f"LDAPMessage at offset {pos} is truncated") from None
    if op_start + op_length > end:
        raise WireError(f"protocolOp of message {message_id} overruns its message")
    return Header(message_id, op, op_start, op_start + op_length, end)


def parse_entry(data: bytes, pos: int, end: int) -> tuple[str, Attributes]:
    """SearchResultEntry contents: (DN, {lower-cased attribute description: raw values})."""
    try:
        length, pos = _expect(data, pos, 0x04, "objectName")
        dn = data[pos : pos + length].decode("utf-8")
        pos += length
        length, pos = _expect(data, pos, 0x30, "attributes")
        attributes: Attributes = {}
        stop = pos + length
        while pos < stop:
            length, pos = _expect(data, pos, 0x30, "PartialAttribute")
            length, pos = _expect(data, pos, 0x04, "AttributeDescription")
            raw = data[pos : pos + length]
            name = _names.get(raw)
            if name is None:
                name = _names.setdefault(raw, raw.decode("ascii").lower())
            pos += length
            length, pos = _expect(data, pos, 0x31, "vals")
            set_end = pos + length
            values = []
            while pos < set_end:
                length, pos = _expect(data, pos, 0x04, "AttributeValue")
                values.append(data[pos : pos + length])
                pos += length
            attributes[name] = values
    except (IndexError, UnicodeDecodeError) as exc:
        raise WireError(f"malformed SearchResultEntry: {exc}") from None
    if pos != end:
        raise WireError("SearchResultEntry length does not match its contents")
    return dn, attributes


def parse_result(data: bytes, header: Header) -> Result:
    """LDAPResult fields of a SearchResultDone or ExtendedResponse, with its controls."""
    try:
        length, pos = _expect(data, header.op_start, 0x0A, "resultCode")
        code = int.from_bytes(data[pos : pos + length], "big")
        pos += length
        length, pos = _expect(data, pos, 0x04, "matchedDN")
        matched = data[pos : pos + length].decode("utf-8", "replace")
        pos += length
        length, pos = _expect(data, pos, 0x04, "diagnosticMessage")
        message = data[pos : pos + length].decode("utf-8", "replace").strip("\x00 \r\n")
        pos += length
        name = None
        while pos < header.op_end:  # referral [3], responseName [10], responseValue [11]
            tag = data[pos]
            length, at = _length(data, pos + 1)
            if tag == 0x8A:
                name = data[at : at + length].decode("ascii", "replace")
            pos = at + length
        return Result(code, matched, message, _controls(data, header.op_end, header.end), name)
    except IndexError:
        raise WireError("truncated LDAPResult") from None


def _controls(data: bytes, pos: int, end: int) -> dict[str, bytes | None]:
    controls: dict[str, bytes | None] = {}
    if pos >= end:
        return controls
    length, pos = _expect(data, pos, 0xA0, "controls")
    stop = pos + length
    while pos < stop:
        length, pos = _expect(data, pos, 0x30, "Control")
        control_end = pos + length
        length, pos = _expect(data, pos, 0x04, "controlType")
        oid = data[pos : pos + length].decode("ascii", "replace")
        pos += length
        value = None
        while pos < control_end:  # criticality BOOLEAN, then controlValue OCTET STRING
            tag = data[pos]
            length, pos = _length(data, pos + 1)
            if tag == 0x04:
                value = data[pos : pos + length]
            pos += length
        controls[oid] = value
    return controls


def paged_cookie(value: bytes | None) -> bytes:
    """The cookie of a paged results response control (RFC 2696); empty on the last page."""
    if not value:
        return b""
    try:
        _, pos = _expect(value, 0, 0x30, "realSearchControlValue")
        length, pos = _expect(value, pos, 0x02, "size")
        length, pos = _expect(value, pos + length, 0x04, "cookie")
    except IndexError:
        raise WireError("truncated paged results control") from None
    return value[pos : pos + length]
