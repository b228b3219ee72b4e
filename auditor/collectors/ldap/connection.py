"""Opening an authenticated LDAP session to a DC: transport, certificate checks, bind, refusals."""

from __future__ import annotations

import importlib.util
import re
import socket
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ldap3 import GSSAPI, NONE, NTLM, SASL, SIMPLE, Connection, Server, Tls
from ldap3.core.exceptions import (
    LDAPCertificateError,
    LDAPExceptionError,
    LDAPSocketOpenError,
    LDAPStartTLSError,
)
from ldap3.core.results import RESULT_CODES

from auditor.collectors.ldap.errors import (
    LdapBindError,
    LdapConnectError,
    LdapSettingsError,
    LdapTlsError,
)
from auditor.collectors.ldap.search import DirectoryReader
from auditor.credentials import Credentials, Secret, kerberos_principal

Transport = Literal["ldaps", "starttls", "plain"]
BindMethod = Literal["simple", "kerberos", "ntlm"]
KERBEROS_HINT = (
    "Kerberos binds need the gssapi package: pip install 'auditor[kerberos]' "
    "(it builds against MIT Kerberos: apt-get install libkrb5-dev)"
)
# Windows' "data NNN" in AcceptSecurityContext errors says why a logon failed.
_AD_LOGON_ERRORS = {
    "525": "no such user",
    "52e": "unknown user or wrong password",
    "530": "logon not permitted at this time",
    "531": "logon not permitted from this workstation",
    "532": "password expired",
    "533": "account disabled",
    "701": "account expired",
    "773": "password must be reset",
    "775": "account locked out",
    "80090346": "channel binding token missing or wrong",
}
_VERIFY_FAILED = re.compile(r"certificate verify failed: ([^(]+)")
_GSS_MINOR = re.compile(r"Minor \(\d+\): (.+)$")
_AD_DATA = re.compile(r"\bdata ([0-9a-f]+)\b", re.IGNORECASE)
_HINTS = {
    7: "the DC does not accept this bind method",
    8: "the DC requires signing or TLS: use --ldap-mode ldaps",
    13: "the DC requires an encrypted session: use --ldap-mode ldaps or starttls",
    48: "the DC refused this kind of authentication (empty password or anonymous bind?)",
    49: "check the user name (user@domain or DOMAIN\\user) and the password",
    53: "the DC is unwilling to authenticate us (account restrictions or DC policy)",
}


@dataclass(frozen=True)
class LdapSettings:
    """How to reach one DC. LDAPS with certificate validation unless asked otherwise."""

    dc: str  # the DC's host name: its certificate and its Kerberos SPN (ldap/<dc>) use it
    realm: str | None = None  # the domain's DNS name: the Kerberos realm of a user without one
    port: int | None = None  # None: 636 for ldaps, 389 for starttls and plain
    mode: Transport = "ldaps"
    ca_bundle: Path | None = None  # None: the system trust store
    bind: BindMethod = "simple"
    page_size: int = 1000
    connect_timeout: float = 10.0
    receive_timeout: int = 120  # seconds; ldap3 needs a whole number
    live_tests: bool = True  # probe the DC's own refusals (extra short connections)

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 636 if self.mode == "ldaps" else 389

    @property
    def url(self) -> str:
        scheme = "ldaps" if self.mode == "ldaps" else "ldap"
        return f"{scheme}://{self.dc}:{self.effective_port}"

    @property
    def warnings(self) -> tuple[str, ...]:
        """What a report of this collection must say about how it was made."""
        if self.mode == "plain":
            return (
                f"{self.url}: plain LDAP was asked for: the directory data crossed the "
                "network unencrypted and unsigned",
            )
        return ()

    def check(self, credentials: Credentials) -> None:
        """Refuse unsafe or impossible combinations before any packet is sent."""
        where = self.url
        if self.mode not in ("ldaps", "starttls", "plain"):
            raise LdapSettingsError(
                f"{where}: unknown mode {self.mode!r}: use ldaps, starttls or plain"
            )
        if not 1 <= self.page_size <= 100_000:
            raise LdapSettingsError(f"{where}: page size {self.page_size} is outside 1-100000")
        if self.connect_timeout <= 0 or self.receive_timeout <= 0:
            raise LdapSettingsError(f"{where}: timeouts must be positive")
        if self.ca_bundle is not None and not self.ca_bundle.is_file():
            raise LdapSettingsError(f"{where}: CA bundle {self.ca_bundle} does not exist")
        user, password = credentials.username, credentials.password
        if self.bind == "simple":
            if self.mode == "plain":
                raise LdapSettingsError(
                    f"{where}: refusing a simple bind over plain LDAP: the password would cross "
                    "the network in clear; use --ldap-mode ldaps (636) or starttls (389)"
                )
            if not user or password is None:
                raise LdapSettingsError(f"{where}: a simple bind needs a user name and a password")
            if not ("@" in user or "\\" in user or "=" in user):
                raise LdapSettingsError(
                    f"{where}: user {user!r}: write it as user@domain (UPN) or DOMAIN\\user"
                )
        elif self.bind == "ntlm":
            if not user or "\\" not in user or password is None:
                raise LdapSettingsError(f"{where}: an NTLM bind needs DOMAIN\\user and a password")
        elif self.bind == "kerberos":
            if (password is not None or credentials.keytab is not None) and not user:
                raise LdapSettingsError(
                    f"{where}: a Kerberos bind from a password or a keytab needs a user name "
                    "(user@realm, DOMAIN\\user or user)"
                )
            if importlib.util.find_spec("gssapi") is None:
                raise LdapSettingsError(f"{where}: {KERBEROS_HINT}")
        else:
            raise LdapSettingsError(
                f"{where}: unknown bind method {self.bind!r}: use simple, kerberos or ntlm"
            )


@contextmanager
def open_session(settings: LdapSettings, credentials: Credentials) -> Iterator[DirectoryReader]:
    """A bound session to the DC; every refusal is raised as a one-line LdapError."""
    settings.check(credentials)
    connection = connect(settings, _bind_arguments(settings, credentials))
    try:
        _bind(settings, connection, credentials)
        yield DirectoryReader(connection, settings.url, settings.page_size)
    finally:
        with suppress(LDAPExceptionError, OSError):
            connection.unbind()


def connect(settings: LdapSettings, bind_arguments: dict[str, Any]) -> Any:
    """An open (TLS-protected unless plain) but not yet bound ldap3 connection."""
    tls = None
    if settings.mode != "plain":
        tls = Tls(
            validate=ssl.CERT_REQUIRED,
            sni=settings.dc,
            ca_certs_file=str(settings.ca_bundle) if settings.ca_bundle else None,
        )
    server = Server(
        settings.dc,
        port=settings.effective_port,
        use_ssl=settings.mode == "ldaps",
        tls=tls,
        get_info=NONE,
        connect_timeout=settings.connect_timeout,
    )
    connection = Connection(
        server,
        auto_bind=False,
        auto_referrals=False,
        auto_range=False,
        read_only=True,
        raise_exceptions=False,
        check_names=False,
        return_empty_attributes=False,
        receive_timeout=settings.receive_timeout,
        **bind_arguments,
    )
    try:
        socket.getaddrinfo(settings.dc, settings.effective_port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise LdapConnectError(
            f"{settings.url}: cannot resolve {settings.dc} ({exc.strerror}): "
            "check DNS (or the name map) and the DC name"
        ) from None
    try:
        connection.open(read_server_info=False)
        if settings.mode == "starttls" and not connection.start_tls(read_server_info=False):
            raise LdapTlsError(
                f"{settings.url}: StartTLS failed: {connection.last_error}; use --ldap-mode ldaps"
            )
    except LDAPStartTLSError as exc:
        if isinstance(exc, ssl.SSLError | LDAPCertificateError):
            raise _tls_error(settings, exc) from None
        raise LdapTlsError(
            f"{settings.url}: the DC refused StartTLS ({exc}); use --ldap-mode ldaps"
        ) from None
    except LDAPSocketOpenError as exc:
        raise _connect_error(settings, exc) from None
    except LDAPExceptionError as exc:
        raise LdapConnectError(f"{settings.url}: cannot open an LDAP session: {exc}") from None
    return connection


def _bind_arguments(settings: LdapSettings, credentials: Credentials) -> dict[str, Any]:
    password = credentials.password.reveal() if credentials.password else None
    if settings.bind == "simple":
        return {"user": credentials.username, "password": password, "authentication": SIMPLE}
    if settings.bind == "ntlm":
        return {"user": credentials.username, "password": password, "authentication": NTLM}
    return {
        "authentication": SASL,
        "sasl_mechanism": GSSAPI,
        "sasl_credentials": (None, None, _kerberos_credentials(settings, credentials)),
    }


def _kerberos_credentials(settings: LdapSettings, credentials: Credentials) -> Any:
    """A TGT from the password or the keytab, else the ticket of `credentials.username` from the
    cache; None = the cache's default one."""
    if not credentials.username:
        return None
    import gssapi
    from gssapi.raw.misc import GSSError

    principal = kerberos_principal(credentials.username, settings.realm)
    name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
    if credentials.keytab is not None:
        return _ticket_from_keytab(settings, name, principal, credentials.keytab)
    if credentials.password is not None:
        return _ticket_from_password(settings, name, principal, credentials.password)
    try:
        return gssapi.Credentials(name=name, usage="initiate")
    except GSSError as exc:
        raise LdapBindError(
            f"{settings.url}: no Kerberos ticket for {principal}: "
            f"{_gss_text(exc)}; run kinit {principal}"
        ) from None


def _ticket_from_password(
    settings: LdapSettings, name: Any, principal: str, password: Secret
) -> Any:
    """A TGT asked of the KDC with the password and kept in a private in-memory cache (MIT's
    password logon uses a MEMORY: cache of its own): KRB5CCNAME and the user's default cache
    are never read or written, and nothing is left on disk."""
    import gssapi
    from gssapi.raw import acquire_cred_with_password
    from gssapi.raw.misc import GSSError

    try:
        acquired = acquire_cred_with_password(
            name, password.reveal().encode("utf-8"), usage="initiate"
        )
    except GSSError as exc:
        realm = principal.partition("@")[2] or "the default realm"
        raise LdapBindError(
            f"{settings.url}: Kerberos bind as {principal} refused: the KDC of {realm} said: "
            f"{_gss_text(exc)}; {_gss_hint(settings, exc, from_password=True)}"
        ) from None
    return gssapi.Credentials(acquired.creds)


def _ticket_from_keytab(settings: LdapSettings, name: Any, principal: str, keytab: Path) -> Any:
    """The keytab's keys, with a private in-memory cache for the TGT they get (asked of the KDC
    when the bind needs it): the user's default cache is never read or written."""
    import gssapi
    from gssapi.raw.misc import GSSError

    store: dict[bytes | str, bytes | str] = {
        "client_keytab": str(keytab),
        "ccache": f"MEMORY:auditor-{uuid.uuid4().hex}",
    }
    try:
        return gssapi.Credentials(name=name, usage="initiate", store=store)
    except GSSError as exc:
        raise LdapBindError(
            f"{settings.url}: Kerberos bind as {principal} failed: keytab {keytab}: "
            f"{_gss_text(exc)}; check that it holds keys for that principal (klist -k)"
        ) from None


def _bind(settings: LdapSettings, connection: Any, credentials: Credentials) -> None:
    who = credentials.username or "the ticket cache's principal"
    method = {"simple": "simple bind", "ntlm": "NTLM bind", "kerberos": "Kerberos bind"}[
        settings.bind
    ]
    no_ntlm = (
        f"{settings.url}: {method} as {who} refused: the DC does not offer NTLM "
        "(Sicily) binds over LDAP, Samba never does; use --bind kerberos or simple "
        "over LDAPS"
    )
    try:
        bound = _send_bind(settings, connection, method, who)
    except LDAPExceptionError as exc:
        if settings.bind == "ntlm":  # Samba drops the connection on a Sicily discovery
            raise LdapBindError(no_ntlm) from None
        raise LdapConnectError(f"{settings.url}: {method} as {who} failed: {exc}") from None
    if bound:
        return
    result = connection.result or {}
    code = result.get("result")
    if not isinstance(code, int):  # ldap3 ends an NTLM bind early when NTLM is not offered
        if settings.bind == "ntlm":
            raise LdapBindError(no_ntlm)
        raise LdapConnectError(
            f"{settings.url}: {method} as {who} got no answer: "
            f"{connection.last_error or 'no bind response'}"
        )
    raise LdapBindError(bind_refusal(settings.url, method, who, code, result.get("message", "")))


def _send_bind(settings: LdapSettings, connection: Any, method: str, who: str) -> bool:
    if settings.bind != "kerberos":
        return bool(connection.bind())
    from gssapi.raw.misc import GSSError  # the optional kerberos extra, checked by check()

    try:
        return bool(connection.bind())
    except GSSError as exc:
        raise LdapBindError(
            f"{settings.url}: {method} as {who} failed: {_gss_text(exc)}; "
            f"{_gss_hint(settings, exc)}"
        ) from None


def bind_refusal(url: str, method: str, who: str, code: int, message: str) -> str:
    """One line: what was refused, the DC's words, and what to try."""
    name = RESULT_CODES.get(code, "unknown result")
    text = message.strip("\x00 \r\n")
    data = _AD_DATA.search(text)
    why = _AD_LOGON_ERRORS.get(data.group(1).lower()) if data else None
    hint = _HINTS.get(code, "see the DC's message")
    if code == 7 and "NTLM" in method:
        hint = "Samba and DCs with NTLM disabled refuse it: use --bind kerberos or simple"
    said = f" ({why})" if why else ""
    return (
        f"{url}: {method} as {who} refused: {name} ({code}){said}"
        + (f": {text}" if text else "")
        + f"; {hint}"
    )


def _connect_error(settings: LdapSettings, exc: LDAPSocketOpenError) -> Exception:
    """Name the cause from the exception types ldap3 merges into its own."""
    causes = [exc]
    if len(exc.args) > 1 and isinstance(exc.args[1], list):  # one per candidate address
        causes = [item[0] for item in exc.args[1] if isinstance(item, tuple) and item]
    where = settings.url
    for cause in causes:
        if isinstance(cause, ssl.SSLError | LDAPCertificateError):
            return _tls_error(settings, cause)
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            service = "LDAPS" if settings.mode == "ldaps" else "LDAP"
            return LdapConnectError(
                f"{where}: connection refused: nothing listens for {service} there; check the "
                "DC name and port"
                + (
                    " (no DC certificate? try --ldap-mode starttls)"
                    if settings.mode == "ldaps"
                    else ""
                )
            )
        if isinstance(cause, TimeoutError):
            return LdapConnectError(
                f"{where}: no answer in time (connect {settings.connect_timeout:g}s, receive "
                f"{settings.receive_timeout}s): the DC is down or a firewall drops the port"
            )
    return LdapConnectError(f"{where}: cannot connect: {causes[0]}")


def _tls_error(settings: LdapSettings, exc: BaseException) -> LdapTlsError:
    where = settings.url
    trust = (
        f"the CA bundle {settings.ca_bundle}" if settings.ca_bundle else "the system trust store"
    )
    if isinstance(exc, LDAPCertificateError):
        return LdapTlsError(
            f"{where}: TLS certificate is not issued to {settings.dc}: connect "
            "by the name the certificate carries"
        )
    # ldap3 re-creates the ssl exception from its text: read the reason from that text.
    verify = _VERIFY_FAILED.search(str(exc))
    if isinstance(exc, ssl.SSLCertVerificationError) or verify:
        why = verify.group(1).strip() if verify else "certificate verify failed"
        return LdapTlsError(
            f"{where}: TLS certificate not trusted ({why}) by {trust}; pass "
            "the CA that issued the DC's certificate with ldap.ca_bundle in the scan configuration"
        )
    return LdapTlsError(f"{where}: TLS handshake failed ({exc})")


def _gss_text(exc: Any) -> str:
    """The minor status is the useful part ("No Kerberos credentials available...")."""
    text = " ".join(str(exc).split())
    minor = _GSS_MINOR.search(text)
    return minor.group(1).strip() if minor else text


def _gss_hint(settings: LdapSettings, exc: Any, *, from_password: bool = False) -> str:
    text = _gss_text(exc).lower()
    if from_password and ("preauth" in text or "password" in text or "not found" in text):
        return "check the user name and the password"
    if "credentials" in text and ("no " in text or "not found" in text):
        return "run kinit first (and check KRB5CCNAME)"
    if "server" in text and "not found" in text:
        return f"the KDC does not know ldap/{settings.dc}: connect by the DC's host name"
    if "skew" in text:
        return "synchronise this machine's clock with the DC"
    return "check the ticket cache (klist) and KRB5_CONFIG"
