"""Certificates read as DER and judged in Python: the reader, the `certificates` and `rdp`
sections, and the lab answering with the DER of what it issued.

The samples under tests/data/windows/certificates/ were made on Windows (README.md there);
no Remote Desktop self-signed certificate or AD CS-issued one with a compatible licence was
found, so where a test needs those shapes it says which stand-in it uses.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from auditor.collectors.certificate import Certificate, CertificateError
from auditor.collectors.probes.tls import CertificateFacts
from auditor.collectors.winrm.request import collector_script
from auditor.collectors.winrm.response import CollectorResponseError, parse_response
from auditor.facts.model import Available, Reason, Source, Unavailable
from auditor.lab.definition import load_definition
from auditor.lab.pki import CertKind, create_ca, issue_host_cert
from auditor.lab.responder import CollectorResponder, HostMaterial

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "windows" / "certificates"
CLIENT_AUTH, SERVER_AUTH, CODE_SIGNING = (
    "1.3.6.1.5.5.7.3.2",
    "1.3.6.1.5.5.7.3.1",
    "1.3.6.1.5.5.7.3.3",
)
COLLECTED = "2017-11-01T00:00:00Z"


def sample(name: str) -> bytes:
    return x509.load_pem_x509_certificate((SAMPLES / name).read_bytes()).public_bytes(
        serialization.Encoding.DER
    )


def stored(store: str, der: bytes, *, key: bool = True, thumbprint: str | None = None) -> dict:
    """One store certificate as collect.ps1 returns it."""
    return {
        "store": store,
        "thumbprint": thumbprint or hashlib.sha1(der).hexdigest().upper(),  # noqa: S324
        "has_private_key": key,
        "der": base64.b64encode(der).decode(),
    }


def answer(**sections: Any) -> str:
    return json.dumps(
        {
            "version": 1,
            "collected_at": COLLECTED,
            "registry": {},
            "sections": {name: {"ok": value} for name, value in sections.items()},
        }
    )


def stores(*certificates: dict, host: str = "SERVER2016", suffix: str = "") -> dict:
    return {"host_name": host, "dns_suffix": suffix, "certificates": list(certificates)}


NO_HASH = {"configured_hash": {"present": False, "type": None, "data": None}, "reported": None}


def test_a_windows_made_server_certificate_is_read_from_its_der() -> None:
    cert = Certificate.from_der(sample("server2016-rsa-sha256.pem"))
    facts = cert.facts(dt.datetime(2017, 11, 1, tzinfo=dt.UTC))
    assert facts == {
        "thumbprint": "881121572FBEBC7E640204CC4A40D55BCD946318",
        "subject": "CN=SERVER2016",
        "issuer": "CN=SERVER2016",
        "self_signed": True,
        "not_before": "2017-05-27T09:02:44Z",
        "not_after": "2018-05-27T09:22:44Z",
        "days_left": 207.4,
        "key_algorithm": "RSA",
        "key_size": 2048,
        "signature_algorithm": "sha256WithRSAEncryption",
        "signature_hash": "sha256",
        "sans": ["SERVER2016"],
        "ekus": [CLIENT_AUTH, SERVER_AUTH],
    }
    # RFC 6125: DNS SANs, case-insensitive, the whole name.
    assert cert.matches("server2016") and cert.matches("SERVER2016.")
    assert not cert.matches("server2016.corp.example.com")


def test_a_sha1_self_signed_certificate_is_self_signed() -> None:
    """cryptography's issuer check refuses SHA-1 signatures: the probe called Windows' SHA-1
    self-signed certificates CA-issued before the reader verified signatures itself."""
    der = sample("server2016-rsa-sha1.pem")
    cert = Certificate.from_der(der)
    assert (cert.self_signed, cert.signature_hash) == (True, "sha1")
    assert CertificateFacts.from_der(der, "SERVER2016", False, "self-signed").to_fact()[
        "self_signed"
    ]


def test_an_ecdsa_key_and_a_code_signing_only_certificate() -> None:
    ecdsa = Certificate.from_der(sample("server2016-ecdsa-sha256.pem"))
    assert (ecdsa.key_algorithm, ecdsa.key_size, ecdsa.self_signed) == ("EC", 256, True)
    code = Certificate.from_der(sample("cmstestbadcert-codesigning.pem"))
    assert code.ekus == (CODE_SIGNING,)
    assert code.dns_names == () and code.matches("CMSTestBadCert")  # the CN without SANs


def _named_like_its_issuer() -> bytes:
    """Tool-made (no real sample needed): a CA-issued certificate whose subject equals its
    issuer's name, which the old `subject == issuer` test called self-signed."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "srv01.corp.example.com")])
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_self_signed_is_decided_by_the_signature_not_the_names() -> None:
    cert = Certificate.from_der(_named_like_its_issuer())
    assert cert.subject == cert.issuer and cert.self_signed is False
    assert cert.ekus is None  # no EKU extension: any purpose


def test_bytes_that_are_no_certificate_are_refused() -> None:
    with pytest.raises(CertificateError, match="cannot be parsed"):
        Certificate.from_der(b"\x30\x03\x02\x01\x01")


def test_the_script_returns_der_from_both_stores_and_judges_nothing() -> None:
    """The bug: only Cert:\\LocalMachine\\My was read, and self-signed was subject == issuer."""
    script = collector_script()
    section = script[
        script.index("Invoke-Section 'certificates'") : script.index("Invoke-Section 'rdp'")
    ]
    assert "@('My', 'Remote Desktop')" in section and "'Cert:\\LocalMachine\\' + $store" in section
    assert "[Convert]::ToBase64String($cert.RawData)" in section
    assert "$cert.HasPrivateKey" in section
    for interpretation in (".Subject", ".Issuer", ".NotAfter", ".Extensions"):
        assert interpretation not in section
    assert "self_signed" not in script and "Get-CertificateFacts" not in script


def test_the_certificates_section_reads_both_stores_and_matches_the_host_s_fqdn() -> None:
    web = sample("server2016-rsa-sha256.pem")
    # No Remote Desktop certificate made by Windows could be vendored: the SHA-1 one of the
    # same host stands in for it in that store (the parser sees store name and DER only).
    remote = sample("server2016-rsa-sha1.pem")
    text = answer(
        certificates=stores(stored("My", web), stored("Remote Desktop", remote, key=False))
    )
    facts, _ = parse_response(text, ["certificates"])
    certificates = facts["certificates"]
    assert isinstance(certificates, Available) and certificates.source is Source.LOCAL
    first, second = certificates.value
    assert (first["store"], first["has_private_key"], first["name_matches"]) == ("My", True, True)
    assert (second["store"], second["has_private_key"]) == ("Remote Desktop", False)
    assert second["signature_hash"] == "sha1" and second["self_signed"] is True
    # With a DNS suffix the host's FQDN is SERVER2016.corp.example.com: the SAN does not match.
    text = answer(certificates=stores(stored("My", web), suffix="corp.example.com."))
    facts, _ = parse_response(text, ["certificates"])
    assert facts["certificates"].value[0]["name_matches"] is False  # type: ignore[union-attr]


def test_a_thumbprint_that_is_not_the_der_s_is_a_contract_error() -> None:
    der = sample("server2016-rsa-sha256.pem")
    text = answer(certificates=stores(stored("My", der, thumbprint="00" * 20)))
    with pytest.raises(CollectorResponseError, match="hashes to 881121572FBE"):
        parse_response(text, ["certificates"])


def test_an_unreadable_certificate_costs_the_certificates_fact_only() -> None:
    text = answer(certificates=stores(stored("My", b"\x30\x03\x02\x01\x01")), services={})
    facts, _ = parse_response(text, ["certificates", "services"])
    certificates = facts["certificates"]
    assert isinstance(certificates, Unavailable)
    assert certificates.reason is Reason.PROTOCOL_ERROR
    assert certificates.detail.startswith("unreadable certificate My\\")
    assert facts["services"] == Available({}, Source.LOCAL)


def rdp_thumbprint(rdp: dict, certificates: dict | None = None) -> Any:
    sections = {"rdp": rdp} | ({"certificates": certificates} if certificates else {})
    facts, _ = parse_response(answer(**sections), list(sections))
    return facts["rdp.certificate_thumbprint"]


def test_rdp_takes_the_hash_configured_on_the_listener() -> None:
    configured = {
        "present": True,
        "type": "REG_BINARY",
        "data": base64.b64encode(bytes(range(20))).decode(),
    }
    fact = rdp_thumbprint(
        {"configured_hash": configured, "reported": {"hash": "AA", "hash_type": 1}}
    )
    assert fact == Available(bytes(range(20)).hex().upper(), Source.LOCAL)


@pytest.mark.parametrize(
    ("hash_type", "source"), [(1, Source.DEFAULT), (2, Source.POLICY), (3, Source.LOCAL)]
)
def test_rdp_takes_the_hash_the_service_reports_with_who_chose_it(
    hash_type: int, source: Source
) -> None:
    fact = rdp_thumbprint({**NO_HASH, "reported": {"hash": "9f8e7d", "hash_type": hash_type}})
    assert fact == Available("9F8E7D", source)


def test_rdp_without_a_hash_presents_the_self_signed_certificate_of_the_remote_desktop_store() -> (
    None
):
    """The bug: only My was read, so Windows' default RDP certificate was never found."""
    own = sample("server2016-rsa-sha1.pem")  # stand-in, see the stores test above
    other = sample("server2016-rsa-sha256.pem")
    fact = rdp_thumbprint(
        {**NO_HASH, "reported": {"hash": "", "hash_type": 0}},
        stores(stored("My", other), stored("Remote Desktop", own)),
    )
    assert fact == Available("5507896C7614A316712D99069D44C0C23E56A454", Source.DEFAULT)
    assert rdp_thumbprint(NO_HASH, stores(stored("My", other))) == Available(None, Source.DEFAULT)


def test_rdp_without_a_hash_and_without_the_stores_is_unknown() -> None:
    fact = rdp_thumbprint(NO_HASH)
    assert isinstance(fact, Unavailable) and fact.reason is Reason.NOT_COLLECTED
    assert "the certificate stores were not read" in fact.detail


@pytest.fixture(scope="module")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    directory = tmp_path_factory.mktemp("pki")
    return create_ca(directory), directory


@pytest.mark.parametrize(
    ("host", "rdp_store", "rdp_source"),
    [("FS01", "Remote Desktop", Source.DEFAULT), ("WKS01", "My", Source.LOCAL)],
)
def test_the_lab_answers_with_the_der_it_issued_in_a_real_host_s_layout(
    lab_pki: tuple[Any, Path], host: str, rdp_store: str, rdp_source: Source
) -> None:
    """FS01 keeps Windows' self-signed RDP certificate; WKS01's was issued by the CA (expired)
    and configured on RDP-Tcp. The lab's answer goes through the parser a real host's does."""
    ca, directory = lab_pki
    profile = next(h for h in load_definition(None).hosts if h.name == host)
    fqdn = profile.fqdn("corp.auditor.test")
    https = issue_host_cert(ca, directory / host, fqdn, file_stem="winrm")
    rdp = issue_host_cert(ca, directory / host, fqdn, profile.rdp.certificate, file_stem="rdp")
    material = HostMaterial("corp.auditor.test", "CORP", "S-1-5-21-1-2-3", https, rdp)
    text = CollectorResponder(profile, material).respond({"sections": ["certificates", "rdp"]})
    facts, _ = parse_response(text, ["certificates", "rdp"])
    by_thumbprint = {c["thumbprint"]: c for c in facts["certificates"].value}  # type: ignore[union-attr]
    assert by_thumbprint[https.thumbprint]["store"] == "My"
    assert by_thumbprint[https.thumbprint]["name_matches"] is True
    thumbprint = facts["rdp.certificate_thumbprint"]
    assert thumbprint == Available(rdp.thumbprint, rdp_source)
    presented = by_thumbprint[rdp.thumbprint]
    assert presented["store"] == rdp_store
    assert presented["self_signed"] is (profile.rdp.certificate is CertKind.SELF_SIGNED)
