"""WinRM listener probe: the HTTP auth schemes offered, anonymous WS-Man Identify, and TLS."""

from __future__ import annotations

import http.client
import re
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from auditor.collectors.probes.tls import (
    ConnectFailed,
    ProbeError,
    TLSFact,
    TLSFacts,
    TLSProbeError,
    describe,
    open_connection,
    probe_tls,
    reading_context,
)
from auditor.collectors.safexml import XmlRefused, parse_without_dtd

WSMAN_PATH = "/wsman"
# An IdentifyResponse is well under 1 KiB: an answer far larger is not one.
MAX_ANSWER_BYTES = 64 * 1024
_SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
_SOAP_ENVELOPE = "{http://www.w3.org/2003/05/soap-envelope}"
# DSP0226 section 11: an empty Identify in the wsmid namespace.
_IDENTIFY_REQUEST = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
    b"<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
)
# One comma-separated item of a header value; commas inside quoted strings do not split.
_ITEM = re.compile(r'(?:"(?:\\.|[^"\\])*"|[^,"])+')
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token


class IdentifyFact(TypedDict):
    product_vendor: str
    product_version: str
    protocol_version: str


class WinRMFact(TypedDict):
    port: int
    transport: str
    listening: bool
    auth_schemes: list[str]
    identify: IdentifyFact | None
    tls: TLSFact | None
    error: str | None


@dataclass(frozen=True)
class IdentifyFacts:
    """What the service says about itself to anyone (MS-WSMV 3.1.4.1.23)."""

    product_vendor: str
    product_version: str
    protocol_version: str

    def to_fact(self) -> IdentifyFact:
        return {
            "product_vendor": self.product_vendor,
            "product_version": self.product_version,
            "protocol_version": self.protocol_version,
        }


@dataclass(frozen=True)
class WinRMFacts:
    """How a WinRM listener answers a client that has no credentials."""

    port: int
    use_tls: bool
    listening: bool
    auth_schemes: tuple[str, ...] = ()
    identify: IdentifyFacts | None = None
    tls: TLSFacts | None = None
    error: str | None = None

    def to_fact(self) -> WinRMFact:
        return {
            "port": self.port,
            "transport": "HTTPS" if self.use_tls else "HTTP",
            "listening": self.listening,
            "auth_schemes": list(self.auth_schemes),
            "identify": None if self.identify is None else self.identify.to_fact(),
            "tls": None if self.tls is None else self.tls.to_fact(),
            "error": self.error,
        }


@dataclass(frozen=True)
class _Target:
    host: str
    address: str
    port: int
    timeout: float
    tls: ssl.SSLContext | None


def probe_winrm(
    host: str,
    address: str,
    port: int,
    use_tls: bool,
    timeout: float = 5.0,
    ca_bundle: Path | None = None,
) -> WinRMFacts:
    """Ask for the auth schemes, then Identify, then (HTTPS) the TLS facts; never raises.

    No request carries an Authorization header. Over HTTPS the certificate is not
    trusted for anything: nothing secret is sent.
    """
    target = _Target(host, address, port, timeout, reading_context() if use_tls else None)
    errors: list[str] = []
    schemes: tuple[str, ...] = ()
    try:
        schemes = _auth_schemes(target)
    except ConnectFailed as exc:
        return WinRMFacts(port=port, use_tls=use_tls, listening=False, error=str(exc))
    except (OSError, http.client.HTTPException, ProbeError) as exc:
        errors.append(f"auth schemes: {describe(exc)}")
    identify = None
    try:
        identify = _identify(target)
    except (OSError, http.client.HTTPException, ProbeError) as exc:
        errors.append(f"Identify: {describe(exc)}")
    tls = None
    if use_tls:
        try:
            tls = probe_tls(host, address, port, timeout, ca_bundle)
        except TLSProbeError as exc:
            errors.append(f"tls: {exc}")
    return WinRMFacts(
        port=port,
        use_tls=use_tls,
        listening=True,
        auth_schemes=schemes,
        identify=identify,
        tls=tls,
        error="; ".join(errors) or None,
    )


def parse_auth_schemes(challenges: Sequence[str]) -> tuple[str, ...]:
    """Scheme names of WWW-Authenticate values, in order, each once (RFC 9110 11.6.1).

    One value may hold several challenges; an item that starts with `name=` is a
    parameter of the challenge before it, not a scheme.
    """
    schemes: list[str] = []
    for challenge in challenges:
        for item in _ITEM.findall(challenge):
            token = _TOKEN.match(item.strip())
            if token is None or item.strip()[token.end() :].lstrip().startswith("="):
                continue
            if token.group().lower() not in (scheme.lower() for scheme in schemes):
                schemes.append(token.group())
    return tuple(schemes)


def parse_identify(answer: bytes) -> IdentifyFacts:
    """The three Identify fields of a SOAP answer; ProbeError for anything else."""
    if len(answer) > MAX_ANSWER_BYTES:
        raise ProbeError(f"the answer is over {MAX_ANSWER_BYTES} bytes, not an IdentifyResponse")
    try:
        envelope = parse_without_dtd(answer)
    except XmlRefused as exc:
        raise ProbeError(f"the answer {exc}") from exc
    response = envelope.find(f"{_SOAP_ENVELOPE}Body/{{*}}IdentifyResponse")
    if envelope.tag != f"{_SOAP_ENVELOPE}Envelope" or response is None:
        raise ProbeError("the answer is not a SOAP envelope holding an IdentifyResponse")
    fields = {}
    for name in ("ProductVendor", "ProductVersion", "ProtocolVersion"):
        text = response.findtext(f"{{*}}{name}")
        if text is None:
            raise ProbeError(f"the IdentifyResponse has no {name}")
        fields[name] = text.strip()
    return IdentifyFacts(
        product_vendor=fields["ProductVendor"],
        product_version=fields["ProductVersion"],
        protocol_version=fields["ProtocolVersion"],
    )


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) to the target's address, while Host and SNI carry its name."""

    def __init__(self, target: _Target) -> None:
        super().__init__(target.host, target.port, timeout=target.timeout)
        self._target = target

    def connect(self) -> None:
        sock = open_connection(self._target.address, self._target.port, self._target.timeout)
        if self._target.tls is None:
            self.sock = sock
            return
        try:
            self.sock = self._target.tls.wrap_socket(sock, server_hostname=self._target.host)
        except OSError:
            sock.close()
            raise


@contextmanager
def _post(
    target: _Target, headers: Mapping[str, str], body: bytes
) -> Iterator[http.client.HTTPResponse]:
    connection = _PinnedConnection(target)
    try:
        connection.request(
            "POST",
            WSMAN_PATH,
            body=body,
            headers={"Content-Type": _SOAP_CONTENT_TYPE, "Connection": "close", **headers},
        )
        yield connection.getresponse()
    finally:
        connection.close()


def _auth_schemes(target: _Target) -> tuple[str, ...]:
    with _post(target, {}, b"") as response:
        if response.status != http.HTTPStatus.UNAUTHORIZED:
            raise ProbeError(
                f"an unauthenticated POST {WSMAN_PATH} was answered "
                f"{response.status} {response.reason}, not 401{_redirect_note(response)}"
            )
        return parse_auth_schemes(response.msg.get_all("WWW-Authenticate") or [])


def _identify(target: _Target) -> IdentifyFacts:
    with _post(target, {"WSMANIDENTIFY": "unauthenticated"}, _IDENTIFY_REQUEST) as response:
        announced = response.getheader("Content-Length", "0")
        if announced.isdigit() and int(announced) > MAX_ANSWER_BYTES:
            raise ProbeError(f"the answer announces {announced} bytes, not an IdentifyResponse")
        answer = response.read(MAX_ANSWER_BYTES + 1)
        if response.status != http.HTTPStatus.OK:
            raise ProbeError(
                f"answered {response.status} {response.reason}, not 200{_redirect_note(response)}"
            )
    return parse_identify(answer)


def _redirect_note(response: http.client.HTTPResponse) -> str:
    """http.client never follows a redirect; say where one pointed, since WinRM never sends one."""
    if not 300 <= response.status < 400:
        return ""
    location = (response.getheader("Location") or "")[:200]
    return f" (a redirect to {location!r}, not followed)"
