"""Lab certificate authority and per-host certificates, healthy or deliberately flawed."""

from __future__ import annotations

import datetime as dt
import enum
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class CertKind(enum.StrEnum):
    """What is wrong with a host certificate, so rules have something to find."""

    VALID = "valid"
    SELF_SIGNED = "self_signed"
    EXPIRED = "expired"
    EXPIRING_SOON = "expiring_soon"
    WEAK_KEY = "weak_key"
    SHA1 = "sha1"
    NAME_MISMATCH = "name_mismatch"


@dataclass(frozen=True)
class IssuedCert:
    """PEM files of one certificate and its key, plus the Windows-style thumbprint."""

    cert_path: Path
    key_path: Path
    thumbprint: str

    def load(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_path.read_bytes())

    def der(self) -> bytes:
        """The certificate as a Windows store holds it (what `RawData` returns)."""
        return self.load().public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class LabCA:
    """The lab's root CA; its certificate is the CA bundle the scanner is given."""

    cert_path: Path
    key_path: Path

    def _material(self) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return cert, key


def thumbprint(cert: x509.Certificate) -> str:
    """SHA-1 of the DER encoding, upper-case hex: what Windows calls the thumbprint."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - identifier, not security


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def create_ca(directory: Path, common_name: str = "Auditor Lab Root CA") -> LabCA:
    """Create (or reuse) the lab CA in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = LabCA(directory / "lab-ca.pem", directory / "lab-ca.key")
    if ca.cert_path.exists() and ca.key_path.exists():
        return ca
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key, ca.key_path)
    ca.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ca


def issue_host_cert(
    ca: LabCA,
    directory: Path,
    hostname: str,
    kind: CertKind = CertKind.VALID,
    extra_names: tuple[str, ...] = (),
    file_stem: str | None = None,
) -> IssuedCert:
    """Issue a TLS server certificate for `hostname`, flawed as `kind` says."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = file_stem or f"{hostname}-{kind.value}"
    key_size = 1024 if kind is CertKind.WEAK_KEY else 2048
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    subject_name = "wrong-name.invalid" if kind is CertKind.NAME_MISMATCH else hostname
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_name)])
    now = _now()
    if kind is CertKind.EXPIRED:
        not_before, not_after = now - dt.timedelta(days=400), now - dt.timedelta(days=35)
    elif kind is CertKind.EXPIRING_SOON:
        not_before, not_after = now - dt.timedelta(days=300), now + dt.timedelta(days=10)
    else:
        not_before, not_after = now - dt.timedelta(days=1), now + dt.timedelta(days=365)
    names = (subject_name, *extra_names)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if kind is CertKind.SELF_SIGNED:
        cert = builder.issuer_name(subject).sign(key, hashes.SHA256())
    elif kind is CertKind.SHA1:
        cert = _sign_sha1(ca, key, subject_name, names)
    else:
        ca_cert, ca_key = ca._material()
        cert = builder.issuer_name(ca_cert.subject).sign(ca_key, hashes.SHA256())
    issued = IssuedCert(directory / f"{stem}.pem", directory / f"{stem}.key", thumbprint(cert))
    _write_key(key, issued.key_path)
    issued.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return issued


def _sign_sha1(
    ca: LabCA, key: rsa.RSAPrivateKey, common_name: str, names: tuple[str, ...]
) -> x509.Certificate:
    """Sign with SHA-1 through the openssl CLI: the cryptography package refuses SHA-1 signing."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    with tempfile.TemporaryDirectory() as tmp:
        csr_path, ext_path, out_path = (
            Path(tmp, "req.csr"),
            Path(tmp, "ext.cnf"),
            Path(tmp, "c.pem"),
        )
        csr_path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        ext_path.write_text(
            "subjectAltName=" + ",".join(f"DNS:{n}" for n in names) + "\n"
            "extendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n"
        )
        subprocess.run(
            [
                "openssl",
                "x509",
                "-req",
                "-sha1",
                "-days",
                "365",
                "-in",
                str(csr_path),
                "-CA",
                str(ca.cert_path),
                "-CAkey",
                str(ca.key_path),
                "-set_serial",
                str(x509.random_serial_number()),
                "-extfile",
                str(ext_path),
                "-out",
                str(out_path),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return x509.load_pem_x509_certificate(out_path.read_bytes())
