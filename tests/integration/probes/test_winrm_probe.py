"""probe_winrm against the lab's emulated WinRM hosts, and its parsing of hostile answers."""

from __future__ import annotations

import http.server
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest

from auditor import netmap
from auditor.collectors.probes import probe_winrm
from auditor.collectors.probes.tls import ProbeError
from auditor.collectors.probes.winrm import MAX_ANSWER_BYTES, parse_auth_schemes, parse_identify
from auditor.lab.pki import IssuedCert, LabCA, issue_host_cert
from auditor.lab.winrm import Faults, ServiceAuth, ServiceSettings, WinRMHostConfig, WinRMHostServer

from .lab import fact_schema_errors

# WinRM listeners bind fixed ports (5985/5986); a per-process third octet keeps two
# test runs on one machine from fighting over them.
NETWORK = f"127.13.{1 + os.getpid() % 250}"
ANONYMOUS_IDENTIFY = {
    "product_vendor": "Microsoft Corporation",
    "product_version": "OS: 0.0.0 SP: 0.0 Stack: 3.0",
    "protocol_version": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
}


@dataclass(frozen=True)
class WinRMHost:
    name: str
    address: str
    cert: IssuedCert


@pytest.fixture(scope="module")
def winrm_lab(
    lab_ca: LabCA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, WinRMHost]]:
    """Basic on (HTTP and HTTPS), Windows defaults, a host that hangs up, a slow host."""
    directory = tmp_path_factory.mktemp("winrm-certs")
    settings: dict[str, dict[str, Any]] = {
        "basic": {"service": ServiceSettings(auth=ServiceAuth(basic=True, credssp=True))},
        "default": {},
        "drops": {"faults": Faults(drop_connection=True)},
        "slow": {"faults": Faults(latency_ms=600)},
    }
    hosts = {}
    configs = []
    for index, (key, overrides) in enumerate(settings.items(), start=1):
        name = f"srv{index:02d}.corp.auditor.test"
        cert = issue_host_cert(lab_ca, directory, name)
        hosts[key] = WinRMHost(name, f"{NETWORK}.{index}", cert)
        config = WinRMHostConfig(
            name,
            f"{NETWORK}.{index}",
            https_listener=key == "basic",
            tls_cert=cert.cert_path,
            tls_key=cert.key_path,
            tls_thumbprint=cert.thumbprint,
        )
        configs.append(replace(config, **overrides))
    with WinRMHostServer(configs), netmap.mapped({h.name: h.address for h in hosts.values()}):
        yield hosts


@pytest.mark.parametrize(
    ("key", "schemes"),
    [
        ("basic", ["Negotiate", "Kerberos", "Basic", "CredSSP"]),
        ("default", ["Negotiate", "Kerberos"]),
    ],
)
def test_http_listener(winrm_lab: dict[str, WinRMHost], key: str, schemes: list[str]) -> None:
    host = winrm_lab[key]
    fact = probe_winrm(host.name, host.address, 5985, False, 3.0).to_fact()
    assert fact_schema_errors("probe.winrm.http", fact) == []
    assert fact == {
        "port": 5985,
        "transport": "HTTP",
        "listening": True,
        "auth_schemes": schemes,
        "identify": ANONYMOUS_IDENTIFY,
        "tls": None,
        "error": None,
    }


def test_https_listener(winrm_lab: dict[str, WinRMHost], lab_ca: LabCA) -> None:
    host = winrm_lab["basic"]
    fact = probe_winrm(host.name, host.address, 5986, True, 3.0, lab_ca.cert_path).to_fact()
    assert fact_schema_errors("probe.winrm.https", fact) == []
    tls = fact["tls"]
    assert {key: value for key, value in fact.items() if key != "tls"} == {
        "port": 5986,
        "transport": "HTTPS",
        "listening": True,
        "auth_schemes": ["Negotiate", "Kerberos", "Basic", "CredSSP"],
        "identify": ANONYMOUS_IDENTIFY,
        "error": None,
    }
    assert tls is not None
    assert tls["versions"] == {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True}
    assert tls["certificate"]["thumbprint"] == host.cert.thumbprint
    assert tls["certificate"]["name_matches"] is True
    assert tls["certificate"]["chain_valid"] is True


def test_https_port_without_listener(winrm_lab: dict[str, WinRMHost]) -> None:
    host = winrm_lab["default"]
    fact = probe_winrm(host.name, host.address, 5986, True, 3.0).to_fact()
    assert fact["listening"] is False
    assert fact["error"] == f"{host.address}:5986 refused the connection (port closed)"


def test_host_that_hangs_up(winrm_lab: dict[str, WinRMHost]) -> None:
    host = winrm_lab["drops"]
    fact = probe_winrm(host.name, host.address, 5985, False, 3.0).to_fact()
    assert fact["listening"] is True
    assert fact["auth_schemes"] == []
    assert fact["identify"] is None
    closed = "Remote end closed connection without response"
    assert fact["error"] == f"auth schemes: {closed}; Identify: {closed}"


def test_slow_host_times_out(winrm_lab: dict[str, WinRMHost]) -> None:
    host = winrm_lab["slow"]  # answers after 600 ms
    fact = probe_winrm(host.name, host.address, 5985, False, 0.2).to_fact()
    assert fact["listening"] is True
    timed_out = "timed out waiting for the server"
    assert fact["error"] == f"auth schemes: {timed_out}; Identify: {timed_out}"


def test_not_a_winrm_listener() -> None:
    with socket.create_server((f"{NETWORK}.20", 0)) as silent:
        fact = probe_winrm(
            "x.corp.auditor.test", f"{NETWORK}.20", silent.getsockname()[1], True, 0.1
        )
    assert fact.listening is True
    assert fact.tls is None
    assert fact.error is not None
    assert fact.error.startswith("auth schemes: timed out")
    assert "tls: no TLS handshake completed" in fact.error


@pytest.mark.parametrize(
    ("headers", "schemes"),
    [
        (["Negotiate", 'Basic realm="WSMAN"', "CredSSP"], ("Negotiate", "Basic", "CredSSP")),
        (['Basic realm="a, b", charset="UTF-8", Negotiate'], ("Basic", "Negotiate")),
        (["Negotiate oYG2MIGzoAMKAQE=", "negotiate"], ("Negotiate",)),
        (['Digest realm="x", qop="auth,auth-int", nonce="a=b"'], ("Digest",)),
        (["", " , ", '"quoted"'], ()),
    ],
)
def test_auth_scheme_parsing(headers: list[str], schemes: tuple[str, ...]) -> None:
    assert parse_auth_schemes(headers) == schemes


IDENTIFY = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
    b'<wsmid:IdentifyResponse xmlns:wsmid="urn:x">%s</wsmid:IdentifyResponse></s:Body></s:Envelope>'
)
FIELDS = (
    b"<wsmid:ProtocolVersion>p</wsmid:ProtocolVersion><wsmid:ProductVendor>v</wsmid:ProductVendor>"
)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"<s:Envelope", "not well-formed XML"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "declares a DTD"),
        (b" " * (MAX_ANSWER_BYTES + 1), f"over {MAX_ANSWER_BYTES} bytes"),
        (b"<Envelope><Body><IdentifyResponse/></Body></Envelope>", "not a SOAP envelope"),
        (IDENTIFY.replace(b"IdentifyResponse", b"Fault") % b"", "not a SOAP envelope"),
        (IDENTIFY % FIELDS, "has no ProductVersion"),
    ],
)
def test_hostile_identify_answers_are_errors(answer: bytes, message: str) -> None:
    with pytest.raises(ProbeError, match=message):
        parse_identify(answer)


def test_identify_parsing_ignores_the_namespace_spelling() -> None:
    fields = FIELDS + b"<wsmid:ProductVersion> OS: 0.0.0 SP: 0.0 Stack: 3.0 </wsmid:ProductVersion>"
    identify = parse_identify(IDENTIFY % fields)
    assert identify.to_fact() == {
        "product_vendor": "v",
        "product_version": "OS: 0.0.0 SP: 0.0 Stack: 3.0",
        "protocol_version": "p",
    }


def utf16_identify(declaration: str, vendor: str) -> bytes:
    """An IdentifyResponse in UTF-16 (BOM and declaration), as a listener may choose to send."""
    fields = (
        "<wsmid:ProtocolVersion>p</wsmid:ProtocolVersion>"
        f"<wsmid:ProductVendor>{vendor}</wsmid:ProductVendor>"
        "<wsmid:ProductVersion>OS</wsmid:ProductVersion>"
    )
    body = (IDENTIFY % fields.encode("ascii")).decode("ascii")
    return f'<?xml version="1.0" encoding="UTF-16"?>{declaration}{body}'.encode("utf-16")


ENTITY = '<!DOCTYPE s:Envelope [<!ENTITY vendor "Spoofed by a DTD">]>'


@contextmanager
def listener_answering(identify: bytes) -> Iterator[int]:
    """A WinRM-like listener on loopback: 401 Negotiate, then `identify` for the Identify."""

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 5  # a stalled client does not hold the server

        def do_POST(self) -> None:
            request = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if b"Identify" not in request:
                self.send_response(401)
                self.send_header("WWW-Authenticate", "Negotiate")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/soap+xml;charset=UTF-16")
            self.send_header("Content-Length", str(len(identify)))
            self.end_headers()
            self.wfile.write(identify)

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            thread.join(timeout=10)


def test_a_utf16_identify_with_a_dtd_is_refused_over_http() -> None:
    """The DTD is the parser's to see: a byte search for `<!DOCTYPE` misses it in UTF-16."""
    with listener_answering(utf16_identify(ENTITY, "&vendor;")) as port:
        fact = probe_winrm("x.corp.auditor.test", "127.0.0.1", port, False, 5.0).to_fact()
    assert fact["auth_schemes"] == ["Negotiate"]
    assert fact["identify"] is None
    assert fact["error"] == "Identify: the answer declares a DTD; not parsed"


def test_a_utf16_identify_without_a_dtd_is_read_over_http() -> None:
    with listener_answering(utf16_identify("", "Microsoft &amp; Co")) as port:
        fact = probe_winrm("x.corp.auditor.test", "127.0.0.1", port, False, 5.0).to_fact()
    assert fact["error"] is None
    assert fact["identify"] == {
        "product_vendor": "Microsoft & Co",
        "product_version": "OS",
        "protocol_version": "p",
    }
