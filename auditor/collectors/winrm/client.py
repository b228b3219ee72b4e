"""Gathering one host's facts over WinRM with pypsrp: one Get, one Enumerate, one pipeline."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import requests
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from auditor.collectors.winrm.request import SECTION_FACTS, collector_script
from auditor.collectors.winrm.response import CollectorResponseError, parse_response
from auditor.collectors.winrm.transport import (
    DEFAULT_MAX_ANSWER_BYTES,
    AnswerTooLarge,
    RedirectRefused,
    guard,
    trust_store,
)
from auditor.collectors.winrm.wsman_config import (
    CONFIG_FACTS,
    CONFIG_URI,
    LISTENER_URI,
    LISTENERS_FACT,
    listener_elements,
    parse_config,
    parse_listeners,
)
from auditor.credentials import Credentials
from auditor.errors import InputError
from auditor.facts.model import Available, Fact, Reason, Source, Unavailable

AuthMethod = Literal["negotiate", "ntlm", "kerberos", "certificate", "credssp", "basic"]
AUTH_METHODS: tuple[str, ...] = get_args(AuthMethod)
T = TypeVar("T")
_ENUM = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
# Listeners fit in one answer; a service that keeps the enumeration open is not a WinRM one.
_MAX_PULLS = 50


@dataclass(frozen=True)
class WinRMSettings:
    """How to reach hosts. HTTPS with validation by default; HTTP only with message encryption."""

    use_https: bool = True
    port: int | None = None
    auth: AuthMethod = "negotiate"
    ca_bundle: Path | None = None
    insecure: bool = False  # must be asked for explicitly, and is written into the report
    connect_timeout: float = 10.0
    operation_timeout: int = 30
    read_timeout: float = 45.0  # must exceed operation_timeout: WS-Man answers by then
    retries: int = 2
    proxy: str | None = None
    certificate_pem: Path | None = None
    certificate_key_pem: Path | None = None
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES

    def check(self) -> None:
        """Refuse unsafe combinations before any packet is sent."""
        if self.auth == "basic" and not self.use_https:
            raise InputError(
                "refusing Basic authentication over HTTP: it would send the password "
                "in clear; use HTTPS (5986) or negotiate/kerberos with encryption"
            )
        if self.auth == "certificate" and not self.use_https:
            raise InputError("certificate authentication needs HTTPS")
        if self.proxy and not self.use_https:
            raise InputError(
                "a proxy is only allowed with HTTPS: WinRM over HTTP through a proxy "
                "exposes the traffic to the proxy"
            )
        if self.read_timeout <= self.operation_timeout:
            raise InputError("read timeout must be longer than the WS-Man operation timeout")


class CollectionFailed(Exception):
    """The host could not be collected at all: `reason` says why, for every rule's error."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def classify(exc: BaseException, host: str) -> CollectionFailed:
    """One clear per-host reason for anything the transport raised."""
    if isinstance(exc, RedirectRefused):
        return CollectionFailed(
            Reason.REDIRECT_REFUSED,
            f"{host}: the WinRM service answered HTTP {exc.status} redirecting to "
            f"{exc.location!r}; WinRM never redirects, so nothing was re-sent there: find out "
            "what answers on this host's WinRM port",
        )
    if isinstance(exc, AnswerTooLarge):
        return CollectionFailed(
            Reason.PROTOCOL_ERROR,
            f"{host}: an answer exceeded the {exc.limit // (1024 * 1024)} MiB limit "
            "(winrm.max_answer_mb), far beyond any WS-Man envelope; the rest was not read",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return CollectionFailed(
            Reason.TLS_ERROR,
            f"{host}: TLS failed ({_short(exc)}); check the CA "
            "bundle or the host's certificate (--insecure only if you accept it)",
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return CollectionFailed(Reason.TIMEOUT, f"{host}: connection timed out")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return CollectionFailed(Reason.TIMEOUT, f"{host}: no answer before the read timeout")
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "Connection aborted" in text or "RemoteDisconnected" in text or "reset by peer" in text:
            return CollectionFailed(
                Reason.PROTOCOL_ERROR, f"{host}: the connection was dropped mid-exchange"
            )
        return CollectionFailed(Reason.HOST_UNREACHABLE, f"{host}: cannot connect ({_short(exc)})")
    if isinstance(exc, AuthenticationError):
        return CollectionFailed(Reason.AUTH_FAILED, f"{host}: authentication refused")
    if isinstance(exc, WSManFaultError):
        if exc.code == 5:
            return CollectionFailed(Reason.ACCESS_DENIED, f"{host}: access denied (WS-Man fault 5)")
        return CollectionFailed(
            Reason.PROTOCOL_ERROR, f"{host}: WS-Man fault {exc.code}: {exc.reason}"
        )
    if isinstance(exc, WinRMTransportError):
        return CollectionFailed(
            Reason.PROTOCOL_ERROR, f"{host}: HTTP {exc.code} from the WinRM service"
        )
    if isinstance(exc, ET.ParseError):
        return CollectionFailed(
            Reason.PROTOCOL_ERROR, f"{host}: malformed XML in the answer ({exc})"
        )
    return CollectionFailed(Reason.PROTOCOL_ERROR, f"{host}: {type(exc).__name__}: {_short(exc)}")


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


# What a transport may raise on a broken host. Anything else is a bug and propagates.
TRANSPORT_ERRORS = (
    requests.exceptions.RequestException,
    WinRMError,
    ET.ParseError,
    ValueError,
    ConnectionError,
    OSError,
)
RETRYABLE = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)


@dataclass(frozen=True)
class HostCollection:
    facts: dict[str, Fact]
    registry: dict[str, Fact]
    messages: int  # WS-Man requests sent, for the round-trip budget


class WinRMCollector:
    """Collects one host. A fresh pypsrp client per attempt: pypsrp keeps stale encryption
    state after a dropped connection."""

    def __init__(self, settings: WinRMSettings, credentials: Credentials) -> None:
        settings.check()
        self.settings = settings
        self.credentials = credentials

    def _client(self, host: str) -> WSMan:
        s = self.settings
        kwargs: dict[str, Any] = {}
        if s.auth == "certificate":
            kwargs.update(
                certificate_pem=str(s.certificate_pem),
                certificate_key_pem=str(s.certificate_key_pem),
            )
        password = self.credentials.password.reveal() if self.credentials.password else None
        client = WSMan(
            host,
            port=s.port or (5986 if s.use_https else 5985),
            ssl=s.use_https,
            username=self.credentials.username,
            password=password,
            auth=s.auth,
            cert_validation=not s.insecure,  # what is trusted is set by `guard` below
            encryption="auto" if s.use_https else "always",
            connection_timeout=int(s.connect_timeout),
            read_timeout=int(s.read_timeout),
            operation_timeout=s.operation_timeout,
            proxy=s.proxy,
            # Only the configured proxy: an environment proxy must not carry credentials silently.
            no_proxy=s.proxy is None,
            reconnection_retries=0,
            **kwargs,
        )
        guard(client, trust_store(s.use_https, s.ca_bundle, s.insecure), s.max_answer_bytes)
        return client

    def _attempt(self, host: str, action: Callable[[WSMan], T]) -> T:
        last: BaseException | None = None
        for _ in range(self.settings.retries + 1):
            client: WSMan | None = None
            try:
                client = self._client(host)
                return action(client)
            except RETRYABLE as exc:
                last = exc
            except TRANSPORT_ERRORS as exc:
                raise classify(exc, host) from None
            finally:
                if client is not None:
                    client.close()
        assert last is not None
        raise classify(last, host) from None

    def collect(self, host: str, request: dict[str, Any], request_json: str) -> HostCollection:
        """Config Get + listener Enumerate + one pipeline. Raises CollectionFailed when the host
        cannot be reached or refuses us; a malformed answer makes only its facts unavailable."""
        counter = _Counter()

        def gather(client: WSMan) -> HostCollection:
            counter.wrap(client)
            facts: dict[str, Fact] = {}
            try:
                facts.update(parse_config(client.get(CONFIG_URI)))
            except ET.ParseError as exc:
                facts.update(
                    dict.fromkeys(
                        CONFIG_FACTS, Unavailable(Reason.PROTOCOL_ERROR, f"winrm/config: {exc}")
                    )
                )
            facts[LISTENERS_FACT] = self._listeners(client)
            script_facts, registry = self._run_script(client, request, request_json)
            facts.update(script_facts)
            return HostCollection(facts, registry, counter.count)

        return self._attempt(host, gather)

    @staticmethod
    def _listeners(client: WSMan) -> Fact:
        """The listener section on its own: a malformed or refused answer makes only this fact
        unavailable, and the configuration already read stays. Transport failures still end
        the host."""
        try:
            items = _enumerate_listeners(client)
            return Available(parse_listeners(items), Source.LOCAL)
        except requests.exceptions.RequestException:
            raise  # some are ValueErrors too, and a transport failure is the host's
        except (ET.ParseError, WSManFaultError) as exc:
            failed = classify(exc, "listener enumeration")
            return Unavailable(failed.reason, failed.detail)
        except ValueError as exc:
            return Unavailable(Reason.PROTOCOL_ERROR, f"listener enumeration: {exc}")

    @staticmethod
    def _run_script(
        client: WSMan, request: dict[str, Any], request_json: str
    ) -> tuple[dict[str, Fact], dict[str, Fact]]:
        sections = list(request["sections"])
        with RunspacePool(client) as pool:
            shell = PowerShell(pool)
            shell.add_script(collector_script()).add_parameter("RequestJson", request_json)
            output = shell.invoke()
            errors = [str(e) for e in shell.streams.error]
        if shell.had_errors or len(output) != 1:
            detail = (
                "; ".join(errors)[:500] or f"expected one JSON string, got {len(output)} objects"
            )
            return script_unavailable(
                Reason.COLLECTOR_ERROR, f"collector script failed: {detail}", request
            )
        try:
            return parse_response(str(output[0]), sections)
        except CollectorResponseError as exc:
            return script_unavailable(Reason.PROTOCOL_ERROR, str(exc), request)


def _enumerate_listeners(client: WSMan) -> list[ET.Element]:
    """Enumerate, then Pull until the service says the sequence ended (a bounded number of times)."""
    enumerate_body = ET.Element(f"{{{_ENUM}}}Enumerate")
    ET.SubElement(enumerate_body, f"{{{_WSMAN}}}OptimizeEnumeration")
    ET.SubElement(enumerate_body, f"{{{_WSMAN}}}MaxElements").text = "100"
    body = client.enumerate(LISTENER_URI, resource=enumerate_body)
    items = listener_elements(body)
    for _ in range(_MAX_PULLS):
        end = body.find(f".//{{{_WSMAN}}}EndOfSequence")
        context = body.find(f".//{{{_ENUM}}}EnumerationContext")
        if end is not None or context is None or not context.text:
            return items
        pull = ET.Element(f"{{{_ENUM}}}Pull")
        ET.SubElement(pull, f"{{{_ENUM}}}EnumerationContext").text = context.text
        body = client.pull(LISTENER_URI, resource=pull)
        items.extend(listener_elements(body))
    raise ValueError(f"the enumeration did not end after {_MAX_PULLS} pulls")


def script_unavailable(
    reason: Reason, detail: str, request: dict[str, Any]
) -> tuple[dict[str, Fact], dict[str, Fact]]:
    """Every fact and registry value the script was asked for, unavailable for one reason."""
    missing = Unavailable(reason, detail)
    facts: dict[str, Fact] = {
        f: missing for name in request["sections"] for f in SECTION_FACTS[name]
    }
    registry: dict[str, Fact] = dict.fromkeys(request["registry"], missing)
    return facts, registry


class _Counter:
    """Counts WS-Man messages by wrapping the transport's send."""

    def __init__(self) -> None:
        self.count = 0

    def wrap(self, client: WSMan) -> None:
        send = client.transport.send

        def counted(message: bytes, **kwargs: Any) -> bytes:
            self.count += 1
            return send(message, **kwargs)

        client.transport.send = counted  # type: ignore[method-assign,assignment]
