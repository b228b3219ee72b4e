"""multipart/encrypted bodies of MS-WSMV 2.2.9.1.1: SOAP sealed with the Negotiate context."""

from __future__ import annotations

import re
import struct
from typing import Protocol

SPNEGO_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
KERBEROS_PROTOCOL = "application/HTTP-Kerberos-session-encrypted"
BOUNDARY = "Encrypted Boundary"
_LENGTH = re.compile(rb"Length=(\d+)")


class SealingContext(Protocol):
    """The part of a pyspnego context that seals WinRM messages."""

    def wrap_winrm(self, data: bytes) -> tuple[bytes, bytes, int]: ...

    def unwrap_winrm(self, header: bytes, data: bytes) -> bytes: ...


class EncryptionError(ValueError):
    """A multipart/encrypted body that is malformed or does not unseal."""


def protocol_of(content_type: str) -> str | None:
    """The SPNEGO or Kerberos protocol of a multipart/encrypted body; None for anything else."""
    lowered = content_type.lower()
    if not lowered.startswith("multipart/encrypted"):
        return None
    for protocol in (SPNEGO_PROTOCOL, KERBEROS_PROTOCOL):
        if protocol.lower() in lowered:
            return protocol
    return None


def content_type(protocol: str) -> str:
    """The Content-Type of a body sealed with `protocol`."""
    return f'multipart/encrypted;protocol="{protocol}";boundary="{BOUNDARY}"'


def unwrap(context: SealingContext, body: bytes) -> bytes:
    """Unseal a request body: metadata part, then length-prefixed signature and sealed SOAP."""
    marker = f"--{BOUNDARY}\r\n".encode()
    parts = [p for p in body.split(marker) if p]
    if len(parts) != 2:
        raise EncryptionError(f"expected 2 MIME parts, found {len(parts)}")
    length = _LENGTH.search(parts[0])
    if length is None:
        raise EncryptionError("OriginalContent has no Length")
    payload = parts[1]
    prefix = b"\tContent-Type: application/octet-stream\r\n"
    if not payload.startswith(prefix):
        raise EncryptionError("second part is not application/octet-stream")
    payload = payload[len(prefix) :]
    trailer = f"--{BOUNDARY}--\r\n".encode()
    if payload.endswith(trailer):
        payload = payload[: -len(trailer)]
    if len(payload) < 4:
        raise EncryptionError("sealed part is shorter than its length field")
    (signature_length,) = struct.unpack("<I", payload[:4])
    signature = payload[4 : 4 + signature_length]
    plaintext = context.unwrap_winrm(signature, payload[4 + signature_length :])
    expected = int(length.group(1))
    if len(plaintext) != expected:
        raise EncryptionError(
            f"unsealed {len(plaintext)} bytes where OriginalContent says {expected}"
        )
    return plaintext


def wrap(context: SealingContext, message: bytes, protocol: str) -> bytes:
    """Seal a response body the way Windows lays it out, under the request's protocol."""
    header, sealed, padding = context.wrap_winrm(message)
    metadata = (
        f"--{BOUNDARY}\r\n"
        f"\tContent-Type: {protocol}\r\n"
        "\tOriginalContent: type=application/soap+xml;charset=UTF-8;"
        f"Length={len(message) + padding}\r\n"
        f"--{BOUNDARY}\r\n"
        "\tContent-Type: application/octet-stream\r\n"
    ).encode()
    return (
        metadata + struct.pack("<I", len(header)) + header + sealed + f"--{BOUNDARY}--\r\n".encode()
    )
