"""Emulated RDP listeners: the X.224 security negotiation and TLS handshake of Windows hosts."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from auditor.lab.connections import Connections
from auditor.wire.tls import TLS_VERSIONS, permit_tls_versions
from auditor.wire.x224 import (
    EXTENDED_CLIENT_DATA_SUPPORTED,
    TLS_PROTOCOLS,
    TPKT_HEADER_LENGTH,
    X224_CONNECTION_CONFIRM,
    NegotiationFailure,
    NegotiationType,
    SecurityProtocol,
    X224Error,
    build_connection_pdu,
    build_negotiation,
    connection_pdu_length,
    parse_connection_request,
)

PROTOCOLS = {
    "rdp": SecurityProtocol.RDP,
    "ssl": SecurityProtocol.SSL,
    "hybrid": SecurityProtocol.HYBRID,
    "hybrid_ex": SecurityProtocol.HYBRID_EX,
}
# Most secure first: the server takes the best protocol both sides allow.
_PREFERENCE = (SecurityProtocol.HYBRID_EX, SecurityProtocol.HYBRID, SecurityProtocol.SSL)
_SOURCE_REFERENCE = 0x1234  # the value 3.3.5.3.2 tells servers to send
_CLIENT_IDLE_SECONDS = 10.0
_THREAD_START_SECONDS = 10.0

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RDPListenerConfig:
    """One host's RDP-Tcp listener: the security protocols it accepts and its certificate.

    The default `accepted` is Windows Server 2012 and later out of the box: NLA required.
    `port=0` lets the system choose (see RDPListenerServer.port_of). `latency_ms` delays
    each Connection Confirm, to exercise the scanner's timeouts.
    """

    address: str
    port: int = 3389
    accepted: frozenset[str] = frozenset({"hybrid", "hybrid_ex"})
    cert_path: Path | None = None
    key_path: Path | None = None
    tls_min_version: str = "TLSv1.2"
    latency_ms: int = 0

    def __post_init__(self) -> None:
        if not self.accepted or self.accepted - PROTOCOLS.keys():
            raise ValueError(
                f"accepted: {sorted(self.accepted)} is not a non-empty subset of "
                f"{', '.join(PROTOCOLS)}"
            )
        if (self.cert_path is None) != (self.key_path is None):
            raise ValueError("cert_path and key_path: give both or neither")
        if self.tls_min_version not in TLS_VERSIONS:
            raise ValueError(
                f"tls_min_version: {self.tls_min_version!r} is not one of {', '.join(TLS_VERSIONS)}"
            )
        if self.latency_ms < 0:
            raise ValueError("latency_ms: must not be negative")

    @property
    def protocols(self) -> frozenset[SecurityProtocol]:
        return frozenset(PROTOCOLS[name] for name in self.accepted)


def choose(
    accepted: frozenset[SecurityProtocol], offer: int
) -> SecurityProtocol | NegotiationFailure:
    """What a Windows listener accepting `accepted` answers a client offering `offer`.

    Negotiate mode (standard security accepted too) falls back to standard RDP security
    for a client offering nothing it takes; an RDP-only listener refuses any TLS offer;
    otherwise the failure names what the client lacks (2.2.1.2.2).
    """
    for protocol in _PREFERENCE:
        if offer & protocol and protocol in accepted:
            return protocol
    if SecurityProtocol.RDP in accepted:
        if offer and not accepted & TLS_PROTOCOLS:
            return NegotiationFailure.SSL_NOT_ALLOWED_BY_SERVER
        return SecurityProtocol.RDP
    if SecurityProtocol.SSL in accepted:
        return NegotiationFailure.SSL_REQUIRED_BY_SERVER
    return NegotiationFailure.HYBRID_REQUIRED_BY_SERVER


def respond(
    accepted: frozenset[SecurityProtocol], has_certificate: bool, offer: int | None
) -> tuple[bytes, SecurityProtocol | None]:
    """The Connection Confirm for `offer` (None: no RDP_NEG_REQ), and what follows it.

    The second item is the protocol the connection continues with, or None when the
    server must close it. A legacy client that standard security would not serve gets
    the failure a client offering nothing would get: what Windows is expected to send
    (not verified against a capture), although 3.3.5.3.2 reserves negotiation data for
    clients that sent some.
    """
    if offer is None and SecurityProtocol.RDP in accepted:
        return _confirm(b""), SecurityProtocol.RDP
    decision = choose(accepted, offer or 0)
    if isinstance(decision, SecurityProtocol):
        if decision not in TLS_PROTOCOLS or has_certificate:
            flags = EXTENDED_CLIENT_DATA_SUPPORTED
            return _confirm(build_negotiation(NegotiationType.RESPONSE, flags, decision)), decision
        decision = NegotiationFailure.SSL_CERT_NOT_ON_SERVER
    return _confirm(build_negotiation(NegotiationType.FAILURE, 0, decision)), None


class RDPListenerServer:
    """Many hosts' RDP listeners served from one event loop."""

    def __init__(self, configs: Iterable[RDPListenerConfig]) -> None:
        self.configs = tuple(configs)
        endpoints = [(c.address, c.port) for c in self.configs if c.port]
        if len(endpoints) != len(set(endpoints)):
            raise ValueError("configs: two listeners on the same address and port")
        self._servers: dict[RDPListenerConfig, asyncio.Server] = {}
        self._connections = Connections()

    def port_of(self, config: RDPListenerConfig) -> int:
        """The port `config` listens on: the system's choice when it asked for port 0."""
        port: int = self._servers[config].sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        for config in self.configs:
            handler = functools.partial(self._handle, config, _server_context(config))
            self._servers[config] = await asyncio.start_server(handler, config.address, config.port)

    async def stop(self) -> None:
        """Stop listening and cut the connections still open: a stopped host answers nothing."""
        for server in self._servers.values():
            server.close()
        await self._connections.hang_up()
        for server in self._servers.values():
            await server.wait_closed()
        self._servers.clear()

    @contextmanager
    def running_in_thread(self) -> Iterator[RDPListenerServer]:
        """Serve from a private event loop on a daemon thread, for synchronous callers."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="rdp-listeners", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(_THREAD_START_SECONDS)
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(_THREAD_START_SECONDS)
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    async def _handle(
        self,
        config: RDPListenerConfig,
        tls: ssl.SSLContext | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        with self._connections.track():
            try:
                await _converse(config, tls, reader, writer)
            except (X224Error, asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
                # Not RDP, or the client left: drop the connection as Windows does.
                _log.debug("%s:%s dropped a client: %r", config.address, config.port, exc)
            except ssl.SSLError as exc:
                _log.debug("%s:%s TLS handshake failed: %s", config.address, config.port, exc)
            except asyncio.CancelledError:
                # stop() hung up on this client. Ending normally matters: Python 3.11's
                # start_server callback calls exception() on the task, which raises if cancelled.
                _log.debug("%s:%s hung up on a client at stop", config.address, config.port)
            finally:
                writer.close()


async def _converse(
    config: RDPListenerConfig,
    tls: ssl.SSLContext | None,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    request = await asyncio.wait_for(_read_connection_request(reader), _CLIENT_IDLE_SECONDS)
    offer = parse_connection_request(request)
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    confirm, selected = respond(config.protocols, tls is not None, offer)
    writer.write(confirm)
    await writer.drain()
    if selected is None:
        return
    if tls is not None and selected in TLS_PROTOCOLS:
        await writer.start_tls(tls, ssl_handshake_timeout=_CLIENT_IDLE_SECONDS)
    # Nothing past this point is emulated (no MCS, no CredSSP): wait for the client's
    # next message or its goodbye, then hang up.
    await asyncio.wait_for(reader.read(1), _CLIENT_IDLE_SECONDS)


async def _read_connection_request(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(TPKT_HEADER_LENGTH)
    return header + await reader.readexactly(connection_pdu_length(header) - len(header))


def _confirm(negotiation_data: bytes) -> bytes:
    return build_connection_pdu(X224_CONNECTION_CONFIRM, negotiation_data, _SOURCE_REFERENCE)


def _server_context(config: RDPListenerConfig) -> ssl.SSLContext | None:
    if config.cert_path is None or config.key_path is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # Security level 0 (set here) also lets the lab serve the 1024-bit and SHA-1
    # certificates that the rules must find.
    permit_tls_versions(context, config.tls_min_version)
    context.load_cert_chain(config.cert_path, config.key_path)
    return context
