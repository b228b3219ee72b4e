"""probe_tls against TLS listeners serving the lab's healthy and flawed certificates."""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Callable

import pytest

from auditor.collectors.certificate import name_matches
from auditor.collectors.probes import TLSProbeError, probe_tls
from auditor.lab.pki import CertKind, IssuedCert, LabCA

from .lab import TLS_ADDRESS, TLS_HOST, fact_schema_errors

StartTLS = Callable[..., int]

LAB_CA = "CN=Auditor Lab Root CA"
SUBJECT = f"CN={TLS_HOST}"
WRONG = "wrong-name.invalid"
# kind: (subject, issuer, self_signed, key_size, signature, sans, name_matches, chain_valid, error)
EXPECTED = {
    CertKind.VALID: (SUBJECT, LAB_CA, False, 2048, "sha256", [TLS_HOST], True, True, None),
    CertKind.SELF_SIGNED: (
        SUBJECT,
        SUBJECT,
        True,
        2048,
        "sha256",
        [TLS_HOST],
        True,
        False,
        "self[- ]signed certificate",  # OpenSSL 3 hyphenates, 1.1 does not
    ),
    CertKind.EXPIRED: (
        SUBJECT,
        LAB_CA,
        False,
        2048,
        "sha256",
        [TLS_HOST],
        True,
        False,
        "certificate has expired",
    ),
    CertKind.EXPIRING_SOON: (SUBJECT, LAB_CA, False, 2048, "sha256", [TLS_HOST], True, True, None),
    # Weak keys and SHA-1 are facts of their own: the chain itself is still trusted.
    CertKind.WEAK_KEY: (SUBJECT, LAB_CA, False, 1024, "sha256", [TLS_HOST], True, True, None),
    CertKind.SHA1: (SUBJECT, LAB_CA, False, 2048, "sha1", [TLS_HOST], True, True, None),
    CertKind.NAME_MISMATCH: (
        f"CN={WRONG}",
        LAB_CA,
        False,
        2048,
        "sha256",
        [WRONG],
        False,
        True,
        None,
    ),
}


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("kind", list(CertKind), ids=str)
def test_certificate_facts(
    tls_endpoint: StartTLS,
    tls_certs: dict[CertKind, IssuedCert],
    lab_ca: LabCA,
    kind: CertKind,
) -> None:
    issued = tls_certs[kind]
    port = tls_endpoint(issued)
    tls = probe_tls(TLS_HOST, TLS_ADDRESS, port, 3.0, lab_ca.cert_path).to_fact()
    fact = tls["certificate"]
    subject, issuer, self_signed, key_size, digest, sans, matches, valid, error = EXPECTED[kind]
    loaded = issued.load()
    expected_days = (loaded.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds() / 86400
    assert abs(fact["days_left"] - expected_days) < 0.2
    assert {
        key: value for key, value in fact.items() if key not in ("chain_error", "days_left")
    } == {
        "thumbprint": issued.thumbprint,
        "subject": subject,
        "issuer": issuer,
        "self_signed": self_signed,
        "not_before": iso(loaded.not_valid_before_utc),
        "not_after": iso(loaded.not_valid_after_utc),
        "key_algorithm": "RSA",
        "key_size": key_size,
        "signature_algorithm": f"{digest}WithRSAEncryption",
        "signature_hash": digest,
        "sans": sans,
        "ekus": ["1.3.6.1.5.5.7.3.1"],
        "name_matches": matches,
        "chain_valid": valid,
    }
    if error is None:
        assert fact["chain_error"] is None
    else:
        assert re.fullmatch(error, fact["chain_error"] or "")
    listener = {
        "port": port,
        "transport": "HTTPS",
        "listening": True,
        "auth_schemes": [],
        "tls": tls,
    }
    assert fact_schema_errors("probe.winrm.https", listener) == []


def test_system_store_does_not_trust_the_lab_ca(
    tls_endpoint: StartTLS, tls_certs: dict[CertKind, IssuedCert]
) -> None:
    port = tls_endpoint(tls_certs[CertKind.VALID])
    fact = probe_tls(TLS_HOST, TLS_ADDRESS, port, 3.0).to_fact()["certificate"]
    assert fact["chain_valid"] is False
    assert fact["chain_error"] == "unable to get local issuer certificate"


def test_modern_listener_versions(
    tls_endpoint: StartTLS,
    tls_certs: dict[CertKind, IssuedCert],
    local_tls_versions: frozenset[str],
) -> None:
    port = tls_endpoint(tls_certs[CertKind.VALID], "TLSv1.2")
    versions = probe_tls(TLS_HOST, TLS_ADDRESS, port, 3.0).to_fact()["versions"]
    assert versions == {
        "TLSv1": False,
        "TLSv1.1": False,
        "TLSv1.2": True,
        "TLSv1.3": "TLSv1.3" in local_tls_versions,
    }


def test_listener_allowing_tls_1_0(
    tls_endpoint: StartTLS,
    tls_certs: dict[CertKind, IssuedCert],
    local_tls_versions: frozenset[str],
) -> None:
    port = tls_endpoint(tls_certs[CertKind.VALID], "TLSv1")
    versions = probe_tls(TLS_HOST, TLS_ADDRESS, port, 3.0).to_fact()["versions"]
    # Where OpenSSL itself cannot speak TLS 1.0 (a build without it), the probe cannot
    # either: then this asserts False for it, and local_tls_versions says why.
    assert versions == {version: version in local_tls_versions for version in versions}


def test_this_machine_speaks_every_tls_version(local_tls_versions: frozenset[str]) -> None:
    # Measured on the machine this suite was written on (OpenSSL 3.0): all four. A build
    # without TLS 1.0/1.1 fails here on purpose, so the narrower coverage is noticed.
    assert local_tls_versions == {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}


def test_closed_port_raises_tls_probe_error() -> None:
    with socket.create_server((TLS_ADDRESS, 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with pytest.raises(TLSProbeError, match=r"refused the connection \(port closed\)"):
        probe_tls(TLS_HOST, TLS_ADDRESS, port, 1.0)


def test_plain_tcp_listener_raises_tls_probe_error() -> None:
    with socket.create_server((TLS_ADDRESS, 0)) as silent:
        silent.listen(8)
        with pytest.raises(TLSProbeError, match="no TLS handshake completed"):
            probe_tls(TLS_HOST, TLS_ADDRESS, silent.getsockname()[1], 0.1)


@pytest.mark.parametrize(
    ("host", "dns", "ips", "cns", "expected"),
    [
        ("wks01.corp.auditor.test", ["WKS01.corp.auditor.test"], [], [], True),
        ("wks01.corp.auditor.test.", ["wks01.corp.auditor.test"], [], [], True),
        ("wks01.corp.auditor.test", ["*.corp.auditor.test"], [], [], True),
        ("a.wks01.corp.auditor.test", ["*.corp.auditor.test"], [], [], False),
        ("corp.auditor.test", ["*.corp.auditor.test"], [], [], False),
        ("wks01.corp.auditor.test", ["wks02.corp.auditor.test"], [], [TLS_HOST], False),
        ("wks01.corp.auditor.test", [], [], ["wks01.corp.auditor.test"], True),
        ("127.13.0.1", ["127.13.0.1"], [], [], False),
        ("127.13.0.1", [], ["127.13.0.1"], [], True),
        ("::1", [], ["0:0:0:0:0:0:0:1"], [], True),
    ],
)
def test_name_matching(
    host: str, dns: list[str], ips: list[str], cns: list[str], expected: bool
) -> None:
    assert name_matches(host, dns, ips, cns) is expected
