"""TLS versions and certificate facts of a listener, read without ever trusting it."""

from __future__ import annotations

import datetime as dt
import functools
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, cast

from auditor.collectors.certificate import Certificate, CertificateError
from auditor.wire.tls import TLS_VERSIONS, permit_tls_versions

Preamble = Callable[[socket.socket], None]
"""What a protocol must exchange in clear text before TLS starts (RDP's X.224 negotiation)."""


class ProbeError(Exception):
    """A peer answered, but not in a way the probe can use; the message says how."""


class ConnectFailed(ProbeError):
    """No TCP connection: the port is closed or filtered, or the host is unreachable."""


class TLSProbeError(ProbeError):
    """No TLS handshake completed, so there are no TLS facts to report."""


TLSVersionsFact = TypedDict(
    "TLSVersionsFact", {"TLSv1": bool, "TLSv1.1": bool, "TLSv1.2": bool, "TLSv1.3": bool}
)


class CertificateFact(TypedDict):
    thumbprint: str
    subject: str
    issuer: str
    self_signed: bool
    not_before: str
    not_after: str
    days_left: float
    key_algorithm: str
    key_size: int | None
    signature_algorithm: str
    signature_hash: str | None
    sans: list[str]
    ekus: list[str] | None
    name_matches: bool
    chain_valid: bool | None
    chain_error: str | None


class TLSFact(TypedDict):
    versions: TLSVersionsFact
    certificate: CertificateFact


@dataclass(frozen=True)
class CertificateFacts:
    """The server's certificate, and whether it is trusted for `host`: what only a live
    listener tells (the scan's trust store, the name the scan reached it by)."""

    certificate: Certificate
    name_matches: bool
    chain_valid: bool | None
    chain_error: str | None

    @classmethod
    def from_der(
        cls, der: bytes, host: str, chain_valid: bool | None, chain_error: str | None
    ) -> CertificateFacts:
        """Read the facts from DER; raises ProbeError when the server sent something unreadable."""
        try:
            certificate = Certificate.from_der(der)
        except CertificateError as exc:
            raise ProbeError(f"the server {exc}") from exc
        return cls(certificate, certificate.matches(host), chain_valid, chain_error)

    def to_fact(self) -> CertificateFact:
        facts = self.certificate.facts(dt.datetime.now(dt.UTC))
        live = {
            "name_matches": self.name_matches,
            "chain_valid": self.chain_valid,
            "chain_error": self.chain_error,
        }
        return cast(CertificateFact, facts | live)


@dataclass(frozen=True)
class TLSFacts:
    """Which TLS versions completed a handshake, and the certificate the server presented."""

    accepted_versions: frozenset[str]
    certificate: CertificateFacts

    def to_fact(self) -> TLSFact:
        versions: TLSVersionsFact = {
            "TLSv1": "TLSv1" in self.accepted_versions,
            "TLSv1.1": "TLSv1.1" in self.accepted_versions,
            "TLSv1.2": "TLSv1.2" in self.accepted_versions,
            "TLSv1.3": "TLSv1.3" in self.accepted_versions,
        }
        return {"versions": versions, "certificate": self.certificate.to_fact()}


def probe_tls(
    host: str,
    address: str,
    port: int,
    timeout: float,
    ca_bundle: Path | None = None,
    preamble: Preamble | None = None,
) -> TLSFacts:
    """Try each TLS version on its own connection, then check the chain on one more.

    `host` is the name the certificate must match (and the SNI); `address` is where to
    connect. `preamble`, when given, runs on every connection before the handshake.
    Raises TLSProbeError when no handshake completes, and OSError or ssl.SSLError when
    `ca_bundle` cannot be loaded (a configuration error, not a fact about the host).
    """
    verifying = _verifying_context(ca_bundle)
    endpoint = _Endpoint(host, address, port, timeout, preamble)
    accepted: list[str] = []
    failures: list[str] = []
    der: bytes | None = None
    for version in TLS_VERSIONS:
        try:
            presented = endpoint.handshake(reading_context(version, version))
        except ConnectFailed as exc:
            if not accepted and not failures:
                raise TLSProbeError(str(exc)) from exc
            failures.append(f"{version}: {exc}")
        except (OSError, ProbeError) as exc:
            failures.append(f"{version}: {describe(exc)}")
        else:
            accepted.append(version)
            der = der or presented
    if der is None:
        raise TLSProbeError(
            f"no TLS handshake completed with {address}:{port} ({'; '.join(failures)})"
        )
    chain_valid, chain_error = _check_chain(endpoint, verifying)
    return TLSFacts(
        frozenset(accepted), CertificateFacts.from_der(der, host, chain_valid, chain_error)
    )


def open_connection(address: str, port: int, timeout: float) -> socket.socket:
    """Connect; `timeout` bounds the connect and then every read, so no probe can hang."""
    try:
        return socket.create_connection((address, port), timeout=timeout)
    except TimeoutError as exc:
        raise ConnectFailed(
            f"no answer from {address}:{port} within {timeout:g} s (filtered or host down)"
        ) from exc
    except ConnectionRefusedError as exc:
        raise ConnectFailed(f"{address}:{port} refused the connection (port closed)") from exc
    except OSError as exc:
        raise ConnectFailed(f"cannot connect to {address}:{port}: {describe(exc)}") from exc


def describe(exc: Exception) -> str:
    """A one-line reason for a report: socket timeouts otherwise print as an empty string."""
    if isinstance(exc, TimeoutError):
        return "timed out waiting for the server"
    return str(exc) or type(exc).__name__


def reading_context(minimum: str = "TLSv1", maximum: str | None = None) -> ssl.SSLContext:
    """A client context that completes a handshake with any server: to read, never to trust."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    permit_tls_versions(context, minimum, maximum)
    return context


@functools.lru_cache(maxsize=16)
def _verifying_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """One per trust store for the whole scan: loading the system store costs ~20 ms."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The name is judged on its own (name_matches); this context answers "is it trusted".
    context.check_hostname = False
    # Level 0 also in verification: weak keys and SHA-1 are facts of their own, and
    # should not hide whether the chain reaches a trusted root.
    permit_tls_versions(context, "TLSv1")
    if ca_bundle is None:
        context.load_default_certs()
    else:
        context.load_verify_locations(cafile=ca_bundle)
    return context


@dataclass(frozen=True)
class _Endpoint:
    """Where to connect, the name to present, and what to exchange before TLS."""

    host: str
    address: str
    port: int
    timeout: float
    preamble: Preamble | None

    def handshake(self, context: ssl.SSLContext) -> bytes:
        """One connection, the preamble, a full handshake: the server certificate as DER."""
        with open_connection(self.address, self.port, self.timeout) as sock:
            if self.preamble is not None:
                self.preamble(sock)
            with context.wrap_socket(sock, server_hostname=self.host) as tls:
                der = tls.getpeercert(binary_form=True)
        if der is None:
            raise ProbeError("the server completed the handshake without a certificate")
        return der


def _check_chain(endpoint: _Endpoint, context: ssl.SSLContext) -> tuple[bool | None, str | None]:
    try:
        endpoint.handshake(context)
    except ssl.SSLCertVerificationError as exc:
        return False, exc.verify_message
    except (OSError, ProbeError) as exc:
        return None, f"chain not checked: {describe(exc)}"
    return True, None
