"""HTTP authentication as WinRM does it: the 401 offer, Basic, Negotiate, Kerberos, channel binding."""

from __future__ import annotations

import base64
import binascii
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import spnego
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

from auditor.lab.winrm.accounts import Account, AccountBook
from auditor.lab.winrm.config import WinRMHostConfig
from auditor.lab.winrm.http import Request, Response

# pyspnego's NTLM acceptor reads the credential store named by NTLM_USER_FILE each time it
# checks an AUTHENTICATE message, and its Kerberos acceptor takes the keys of the keytab named
# by KRB5_KTNAME when it creates a context. Each host has its own of both, so the variables
# are pointed at the host's around every acceptor call, under a lock shared by all servers of
# the process. A host without keys gets an empty keytab: its Kerberos tokens are refused.
_HOST_ENV_LOCK = threading.Lock()
_NO_KEYS = "MEMORY:winrm-lab-no-keys"
# A ticket the host's keys do not decrypt makes MIT answer with a KRB-ERROR token and no
# context; pyspnego then fails reading the context's flags with AttributeError, not SpnegoError.
_REFUSED = (SpnegoError, ValueError, AttributeError)
_NTLM_AUTHENTICATE = b"NTLMSSP\x00\x03\x00\x00\x00"
_NTLM_NEGOTIATE = b"NTLMSSP\x00\x01\x00\x00\x00"
_NTLM_SIGNATURE = b"NTLMSSP\x00"
_MSV_AV_EOL = 0
_MSV_AV_CHANNEL_BINDINGS = 0x000A
# NTProofStr (16 bytes) and the fixed part of NTLMv2_CLIENT_CHALLENGE (28) precede the AV pairs.
_NTLMV2_AV_PAIRS_OFFSET = 44
_NO_BINDINGS = b"\x00" * 16


@contextmanager
def _host_keys(ntlm_user_file: Path, keytab: Path | None) -> Iterator[None]:
    values = {
        "NTLM_USER_FILE": str(ntlm_user_file),
        "KRB5_KTNAME": f"FILE:{keytab}" if keytab else _NO_KEYS,
    }
    with _HOST_ENV_LOCK:
        saved = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    del os.environ[name]
                else:
                    os.environ[name] = value


def tls_server_end_point(cert_path: Path) -> GssChannelBindings:
    """RFC 5929 tls-server-end-point bindings of a server certificate, as clients compute them."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(cert.public_bytes(Encoding.DER))
    return GssChannelBindings(application_data=b"tls-server-end-point:" + digest.finalize())


def authenticate_message_bindings(token: bytes) -> tuple[bool, bytes | None]:
    """(is an NTLM AUTHENTICATE message, its MsvAvChannelBindings hash or None).

    The message is found inside a SPNEGO token by its signature; its offsets are
    relative to that signature.
    """
    start = token.find(_NTLM_AUTHENTICATE)
    if start < 0:
        return False, None
    message = token[start:]
    try:
        nt_length, _max, nt_offset = struct.unpack_from("<HHI", message, 20)
    except struct.error:
        return True, None
    response = message[nt_offset : nt_offset + nt_length]
    position = _NTLMV2_AV_PAIRS_OFFSET
    while position + 4 <= len(response):
        av_id, av_length = struct.unpack_from("<HH", response, position)
        if av_id == _MSV_AV_EOL:
            break
        if av_id == _MSV_AV_CHANNEL_BINDINGS:
            return True, response[position + 4 : position + 4 + av_length]
        position += 4 + av_length
    return True, None


@dataclass
class ConnectionAuth:
    """Authentication bound to one TCP connection: Negotiate authenticates the connection."""

    account: Account | None = None
    context: spnego.ContextProxy | None = None
    pending: spnego.ContextProxy | None = None


@dataclass(frozen=True)
class AuthResult:
    """Who the request is from, or the 401 to answer; `final_token` goes on the 200."""

    account: Account | None = None
    response: Response | None = None
    final_token: str | None = None


class Authenticator:
    """One host's authentication, configured from its winrm/config/service/auth."""

    def __init__(
        self,
        config: WinRMHostConfig,
        book: AccountBook,
        credential_file: Path,
        https_bindings: GssChannelBindings | None,
    ) -> None:
        self._config = config
        self._auth = config.service.auth
        self._book = book
        self._credential_file = credential_file
        self._https_bindings = https_bindings

    def offer(self) -> tuple[tuple[str, str], ...]:
        """One WWW-Authenticate per enabled scheme, in the order Windows sends them."""
        schemes: list[str] = []
        if self._auth.negotiate:
            schemes.append("Negotiate")
        if self._auth.kerberos:
            schemes.append("Kerberos")
        if self._auth.basic:
            schemes.append('Basic realm="WSMAN"')
        if self._auth.credssp:
            schemes.append("CredSSP")
        return tuple(("WWW-Authenticate", s) for s in schemes)

    def unauthorized(self) -> AuthResult:
        """The anonymous or failed-logon 401; Windows closes the connection after it."""
        return AuthResult(response=Response(401, self.offer(), close=True))

    def authenticate(self, request: Request, conn: ConnectionAuth, is_https: bool) -> AuthResult:
        header = request.header("authorization")
        if not header:
            return AuthResult(conn.account) if conn.account else self.unauthorized()
        if self._config.faults.auth_refused:
            conn.pending = None
            return self.unauthorized()
        scheme, _, token = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and self._auth.basic:
            # Basic over HTTP needs AllowUnencrypted: the password would travel in clear.
            if not is_https and not self._config.service.allow_unencrypted:
                return self.unauthorized()
            return self._basic(token.strip())
        if scheme == "negotiate" and self._auth.negotiate:
            return self._negotiate(token.strip(), conn, is_https)
        if scheme == "kerberos" and self._auth.kerberos:
            return self._kerberos(token.strip(), conn, is_https)
        # Disabled schemes, and CredSSP which the emulation can only advertise.
        return self.unauthorized()

    def _kerberos_bindings(self, is_https: bool) -> GssChannelBindings | None:
        """Bindings a Kerberos AP-REQ must match: gssapi refuses different ones when the
        client sent any; a client that sent none is not refused, even under Strict."""
        if is_https and self._auth.cbt_hardening_level != "None":
            return self._https_bindings
        return None

    def _kerberos(self, token: str, conn: ConnectionAuth, is_https: bool) -> AuthResult:
        """A raw Kerberos AP-REQ under the Kerberos scheme; the AP-REP goes back on the 200."""
        conn.pending = None
        try:
            raw = base64.b64decode(token, validate=True)
            with _host_keys(self._credential_file, self._config.keytab):
                context = spnego.server(protocol="kerberos")
                out = context.step(raw, channel_bindings=self._kerberos_bindings(is_https))
        except _REFUSED:
            # No keys for the ticket's service, a forged or expired ticket, or not base64 at all.
            return self.unauthorized()
        account = self._book.find(context.client_principal or "") if context.complete else None
        if account is None:
            return self.unauthorized()
        conn.account, conn.context = account, context
        out_header = f"Kerberos {base64.b64encode(out).decode()}" if out else None
        return AuthResult(account, final_token=out_header)

    def _basic(self, token: str) -> AuthResult:
        try:
            decoded = base64.b64decode(token, validate=True)
        except binascii.Error:
            return self.unauthorized()
        try:
            text = decoded.decode("utf-8")
        except UnicodeDecodeError:
            text = decoded.decode("latin-1")
        user, sep, password = text.partition(":")
        account = self._book.verify(user, password) if sep else None
        return AuthResult(account) if account else self.unauthorized()

    def _negotiate(self, token: str, conn: ConnectionAuth, is_https: bool) -> AuthResult:
        try:
            raw = base64.b64decode(token, validate=True)
        except binascii.Error:
            return self.unauthorized()
        is_authenticate, bindings_hash = authenticate_message_bindings(raw)
        bindings = None
        if is_https and self._auth.cbt_hardening_level != "None":
            supplied = bindings_hash not in (None, _NO_BINDINGS)
            if is_authenticate and self._auth.cbt_hardening_level == "Strict" and not supplied:
                conn.pending = None
                return self.unauthorized()
            # Supplied bindings are always checked; pyspnego refuses a hash that differs.
            bindings = self._https_bindings if supplied else None
        if _NTLM_SIGNATURE not in raw:
            bindings = self._kerberos_bindings(is_https)
        starts_handshake = raw[:1] == b"\x60" or raw.startswith(_NTLM_NEGOTIATE)
        context = conn.pending if conn.pending is not None and not starts_handshake else None
        try:
            with _host_keys(self._credential_file, self._config.keytab):
                if context is None:
                    context = spnego.server(hostname=self._config.hostname, service="HTTP")
                out = context.step(raw, channel_bindings=bindings)
        except _REFUSED:
            # Wrong password, bad bindings, no keys for the ticket, or not NTLM/Kerberos/SPNEGO.
            conn.pending = None
            return self.unauthorized()
        out_header = f"Negotiate {base64.b64encode(out).decode()}" if out else None
        if not context.complete:
            conn.pending = context
            headers = (("WWW-Authenticate", out_header),) if out_header else self.offer()
            return AuthResult(response=Response(401, headers))
        conn.pending = None
        account = self._book.find(context.client_principal or "")
        if account is None:
            return self.unauthorized()
        conn.account, conn.context = account, context
        return AuthResult(account, final_token=out_header)
