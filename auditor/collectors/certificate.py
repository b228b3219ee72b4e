"""What a DER certificate says about itself: one reader for the probes and the host's stores."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

# The EKUs a TLS listener's certificate may carry: Server Authentication, Remote Desktop
# Authentication (RDP only) and anyExtendedKeyUsage; rules compare against these OIDs.
SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
REMOTE_DESKTOP_AUTH = "1.3.6.1.4.1.311.54.1.2"
ANY_PURPOSE = "2.5.29.37.0"

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


class CertificateError(ValueError):
    """The bytes are not a certificate this reader can parse; the message says why."""


@dataclass(frozen=True)
class Certificate:
    """The facts of one certificate that do not depend on who looks at it or from where."""

    thumbprint: str
    subject: str
    issuer: str
    self_signed: bool
    not_before: dt.datetime
    not_after: dt.datetime
    key_algorithm: str
    key_size: int | None
    signature_algorithm: str
    signature_hash: str | None
    dns_names: tuple[str, ...]
    ip_names: tuple[str, ...]
    common_names: tuple[str, ...]
    ekus: tuple[str, ...] | None  # None: no EKU extension, so any purpose

    @classmethod
    def from_der(cls, der: bytes) -> Certificate:
        try:
            return cls._read(der, x509.load_der_x509_certificate(der))
        except (ValueError, UnsupportedAlgorithm) as exc:  # parsing is lazy: any field may fail
            raise CertificateError(f"the certificate cannot be parsed: {exc}") from exc

    @classmethod
    def _read(cls, der: bytes, cert: x509.Certificate) -> Certificate:
        dns_names, ip_names = _subject_alt_names(cert)
        key_algorithm, key_size = _key_facts(cert)
        hash_algorithm = cert.signature_hash_algorithm
        return cls(
            # Windows' thumbprint: how the host's configuration names a certificate.
            thumbprint=hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            self_signed=_signed_by_own_key(cert),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            key_algorithm=key_algorithm,
            key_size=key_size,
            signature_algorithm=_SIGNATURE_NAMES.get(
                cert.signature_algorithm_oid, cert.signature_algorithm_oid.dotted_string
            ),
            signature_hash=hash_algorithm.name if hash_algorithm is not None else None,
            dns_names=tuple(dns_names),
            ip_names=tuple(ip_names),
            common_names=tuple(
                str(attribute.value)
                for attribute in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            ),
            ekus=_ekus(cert),
        )

    def matches(self, host: str) -> bool:
        return name_matches(host, self.dns_names, self.ip_names, self.common_names)

    def facts(self, now: dt.datetime) -> dict[str, Any]:
        """The fact shape the probes and the `certificates` fact share; `days_left` from `now`,
        so rules need no clock of their own."""
        return {
            "thumbprint": self.thumbprint,
            "subject": self.subject,
            "issuer": self.issuer,
            "self_signed": self.self_signed,
            "not_before": iso_utc(self.not_before),
            "not_after": iso_utc(self.not_after),
            "days_left": round((self.not_after - now).total_seconds() / 86400, 1),
            "key_algorithm": self.key_algorithm,
            "key_size": self.key_size,
            "signature_algorithm": self.signature_algorithm,
            "signature_hash": self.signature_hash,
            "sans": [*self.dns_names, *self.ip_names],
            "ekus": None if self.ekus is None else list(self.ekus),
        }


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


def iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dns_name_matches(pattern: str, host: str) -> bool:
    pattern = pattern.rstrip(".").lower()
    if pattern.startswith("*."):
        label, _, parent = host.partition(".")
        return bool(label) and parent == pattern[2:]
    return pattern == host


def _subject_alt_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns_names = names.get_values_for_type(x509.DNSName)
    ip_names = [str(address) for address in names.get_values_for_type(x509.IPAddress)]
    return dns_names, ip_names


def _ekus(cert: x509.Certificate) -> tuple[str, ...] | None:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return tuple(oid.dotted_string for oid in usages)


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


def _signed_by_own_key(cert: x509.Certificate) -> bool:
    """Self-signed means no one else vouches for it: its own key verifies its signature.

    Checked by hand rather than with verify_directly_issued_by, which refuses SHA-1 and MD5
    signatures: Windows' own self-signed certificates were SHA-1 for years.
    """
    try:
        key = cert.public_key()
        tbs, signature = cert.tbs_certificate_bytes, cert.signature
        hash_algorithm, parameters = (
            cert.signature_hash_algorithm,
            cert.signature_algorithm_parameters,
        )
        if isinstance(key, rsa.RSAPublicKey) and isinstance(
            parameters, padding.PKCS1v15 | padding.PSS
        ):
            key.verify(signature, tbs, parameters, hash_algorithm)  # type: ignore[arg-type]
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(parameters, ec.ECDSA):
            key.verify(signature, tbs, parameters)
        elif isinstance(key, dsa.DSAPublicKey) and hash_algorithm is not None:
            key.verify(signature, tbs, hash_algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, tbs)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True
