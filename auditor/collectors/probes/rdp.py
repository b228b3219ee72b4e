"""RDP security negotiation probe: which protocols a listener accepts, and its TLS behind them.

The X.224 connection PDUs it speaks (MS-RDPBCGR 2.2.1) are in `auditor.wire.x224`.
"""

from __future__ import annotations

import socket
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
from auditor.wire.x224 import (
    TLS_PROTOCOLS,
    TPKT_HEADER_LENGTH,
    X224_CONNECTION_CONFIRM,
    X224_CONNECTION_REQUEST,
    NegotiationFailure,
    NegotiationType,
    SecurityProtocol,
    X224Error,
    build_connection_pdu,
    build_negotiation,
    connection_pdu_length,
    parse_connection_pdu,
    parse_negotiation,
)


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
        selected = None if self.selected is None else self.selected.name.lower()
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
        except (OSError, ProbeError, X224Error) as exc:
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
        try:
            answer = negotiate(sock, offer)
        except X224Error as exc:
            raise ProbeError(str(exc)) from exc  # the TLS probe knows its own errors only
        if answer.selected not in TLS_PROTOCOLS:
            raise ProbeError(f"the server did not select TLS this time ({answer.to_fact()})")

    return negotiate_tls


def read_connection_pdu(sock: socket.socket) -> bytes:
    """Read exactly one connection PDU: its header says how long it is."""
    header = _receive_exactly(sock, TPKT_HEADER_LENGTH)
    return header + _receive_exactly(sock, connection_pdu_length(header) - TPKT_HEADER_LENGTH)


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
