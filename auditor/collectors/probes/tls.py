"""TLS versions and certificate facts of a listener, read without ever trusting it."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from auditor.wire.tls import TLS_VERSIONS, permit_tls_versions

# OpenSSL's names, which are what administrators see in certutil and openssl output.
_SIGNATURE_NAMES: dict[x509.ObjectIdentifier, str] = {
    SignatureAlgorithmOID.RSA_WITH_MD5: "md5WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA1: "sha1WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA224: "sha224WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512WithRSAEncryption",
    SignatureAlgorithmOID.RSASSA_PSS: "rsassaPss",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "ecdsa-with-SHA1",
    SignatureAlgorithmOID.ECDSA_WITH_SHA224: "ecdsa-with-SHA224",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "dsaWithSHA1",
    SignatureAlgorithmOID.DSA_WITH_SHA256: "dsa_with_SHA256",
    SignatureAlgorithmOID.ED25519: "ED25519",
    SignatureAlgorithmOID.ED448: "ED448",
}

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
    key_algorithm: str
    key_size: int | None
    signature_algorithm: str
    sans: list[str]
    name_matches: bool
    chain_valid: bool | None
    chain_error: str | None
    days_left: float


class TLSFact(TypedDict):
    versions: TLSVersionsFact
    certificate: CertificateFact


@dataclass(frozen=True)
class CertificateFacts:
    """What the server's certificate says about itself, and whether it is trusted for `host`."""

    thumbprint: str
    subject: str
    issuer: str
    self_signed: bool
    not_before: dt.datetime
    not_after: dt.datetime
    key_algorithm: str
    key_size: int | None
    signature_algorithm: str
    sans: tuple[str, ...]
    name_matches: bool
    chain_valid: bool | None
    chain_error: str | None

    @classmethod
    def from_der(
        cls, der: bytes, host: str, chain_valid: bool | None, chain_error: str | None
    ) -> CertificateFacts:
        """Read the facts from DER; raises ProbeError when the server sent something unreadable."""
        try:
            cert = x509.load_der_x509_certificate(der)
            dns_names, ip_names = _subject_alt_names(cert)
            key_algorithm, key_size = _key_facts(cert)
        except ValueError as exc:
            raise ProbeError(f"the server certificate cannot be parsed: {exc}") from exc
        common_names = [
            str(attribute.value)
            for attribute in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ]
        return cls(
            # Windows' thumbprint: an identifier to compare with the host's configuration.
            thumbprint=hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            self_signed=_is_self_signed(cert),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            key_algorithm=key_algorithm,
            key_size=key_size,
            signature_algorithm=_SIGNATURE_NAMES.get(
                cert.signature_algorithm_oid, cert.signature_algorithm_oid.dotted_string
            ),
            sans=(*dns_names, *ip_names),
            name_matches=name_matches(host, dns_names, ip_names, common_names),
            chain_valid=chain_valid,
            chain_error=chain_error,
        )

    def to_fact(self) -> CertificateFact:
        return {
            "thumbprint": self.thumbprint,
            "subject": self.subject,
            "issuer": self.issuer,
            "self_signed": self.self_signed,
            "not_before": _iso_utc(self.not_before),
            "not_after": _iso_utc(self.not_after),
            "key_algorithm": self.key_algorithm,
            "key_size": self.key_size,
            "signature_algorithm": self.signature_algorithm,
            "sans": list(self.sans),
            "name_matches": self.name_matches,
            "chain_valid": self.chain_valid,
            "chain_error": self.chain_error,
            # Relative to when the probe ran, so rules need no clock of their own.
            "days_left": round(
                (self.not_after - dt.datetime.now(dt.UTC)).total_seconds() / 86400, 1
            ),
        }


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


def name_matches(
    host: str, dns_names: Sequence[str], ip_names: Sequence[str], common_names: Sequence[str]
) -> bool:
    """RFC 6125 matching: DNS SANs (one left-most wildcard label), the CN only without them."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        wanted = host.rstrip(".").lower()
        candidates = dns_names or common_names
        return any(_dns_name_matches(pattern, wanted) for pattern in candidates)
    return any(ipaddress.ip_address(name) == address for name in ip_names)


def _dns_name_matches(pattern: str, host: str) -> bool:
    pattern = pattern.rstrip(".").lower()
    if pattern.startswith("*."):
        label, _, parent = host.partition(".")
        return bool(label) and parent == pattern[2:]
    return pattern == host


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


def _subject_alt_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns_names = names.get_values_for_type(x509.DNSName)
    ip_names = [str(address) for address in names.get_values_for_type(x509.IPAddress)]
    return dns_names, ip_names


def _key_facts(cert: x509.Certificate) -> tuple[str, int | None]:
    try:
        key = cert.public_key()
    except UnsupportedAlgorithm:
        return "unknown", None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, None


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
