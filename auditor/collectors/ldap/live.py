"""What the DC itself refuses, tried on the wire: unsigned simple binds, NTLM without CBT."""

from __future__ import annotations

import secrets
from contextlib import suppress
from dataclasses import replace
from typing import Any

from ldap3 import NTLM, SIMPLE
from ldap3.core.exceptions import LDAPExceptionError
from ldap3.core.results import RESULT_CODES

from auditor.collectors.ldap.connection import LdapSettings, bind_refusal, connect
from auditor.collectors.ldap.errors import LdapError
from auditor.credentials import Credentials
from auditor.facts.model import Available, Source

_STRONGER_AUTH_REQUIRED = 8
_CONFIDENTIALITY_REQUIRED = 13
_INVALID_CREDENTIALS = 49
_BAD_BINDINGS = "80090346"  # SEC_E_BAD_BINDINGS in AD's "data ..." diagnostic


def live_checks(settings: LdapSettings, credentials: Credentials, dns_name: str) -> Available:
    """The ldap.live fact: each answer is measured, or null with the reason it could not be."""
    unsigned, unsigned_detail = unsigned_simple_bind_refused(settings, dns_name)
    binding, binding_detail = channel_binding_enforced(settings, credentials)
    return Available(
        {
            "unsigned_simple_bind_refused": unsigned,
            "channel_binding_enforced": binding,
            "detail": f"{unsigned_detail} | {binding_detail}",
        },
        Source.PROBE,
    )


def unsigned_simple_bind_refused(settings: LdapSettings, dns_name: str) -> tuple[bool | None, str]:
    """A simple bind on 389 without TLS, as a user that does not exist with a random password.

    No real password ever crosses the wire: a DC that enforces signing refuses the bind before
    looking at the credentials (strongerAuthRequired; Samba: "Transport encryption required"),
    one that does not answers invalidCredentials.
    """
    plain = replace(
        settings, mode="plain", port=settings.port if settings.mode != "ldaps" else None
    )
    user = f"auditor-signing-probe-{secrets.token_hex(4)}@{dns_name}"
    what = f"simple bind without TLS on {plain.url}"
    try:
        bound, code, message = _try_bind(
            plain, {"user": user, "authentication": SIMPLE, "password": secrets.token_urlsafe(24)}
        )
    except LdapError as exc:
        return None, f"{what} not tested: {exc}"
    if bound:
        return False, f"{what} as a user that does not exist succeeded: unsigned binds are accepted"
    name = RESULT_CODES.get(code, "no answer") if code is not None else "no answer"
    said = f"{name} ({code})" + (f": {message}" if message else "")
    if code in (_STRONGER_AUTH_REQUIRED, _CONFIDENTIALITY_REQUIRED):
        return True, f"{what} refused: {said}"
    if code == _INVALID_CREDENTIALS:
        return False, (
            f"{what} was processed ({said} for a user that does not exist): the DC "
            "accepts unsigned simple binds"
        )
    return None, f"{what}: unexpected answer {said}"


def channel_binding_enforced(
    settings: LdapSettings, credentials: Credentials
) -> tuple[bool | None, str]:
    """An NTLM bind over LDAPS without channel binding information (ldap3 sends none).

    Accepted means enforcement is off; refused with SEC_E_BAD_BINDINGS means it is on. Kerberos
    binds cannot measure it: ldap3's GSSAPI always sends the TLS channel binding.
    """
    what = "NTLM bind over LDAPS without channel binding"
    if credentials.password is None or not credentials.username:
        return None, (
            f"{what} not tried: it needs a password, and this collection used the "
            "Kerberos ticket cache"
        )
    user = credentials.username
    if "\\" not in user:  # NTLM takes a UPN as the user name with an empty domain
        user = "\\" + user
    tls = replace(settings, mode="ldaps", port=settings.port if settings.mode == "ldaps" else None)
    try:
        bound, code, message = _try_bind(
            tls, {"user": user, "authentication": NTLM, "password": credentials.password.reveal()}
        )
    except LdapError as exc:
        return None, f"{what} not tried: {exc}"
    if bound:
        return False, f"{what} was accepted: channel binding is not enforced"
    if code is None:
        return None, (
            f"{what} not measurable: the DC does not offer NTLM (Sicily) binds over "
            "LDAP (Samba never does), and ldap3 always sends channel binding with "
            "the other bind methods"
        )
    if _BAD_BINDINGS in message:
        return True, f"{what} refused for missing channel binding (data {_BAD_BINDINGS})"
    return None, (
        f"{what} inconclusive: "
        + bind_refusal(tls.url, "NTLM bind", credentials.username, code, message)
    )


def _try_bind(settings: LdapSettings, arguments: dict[str, Any]) -> tuple[bool, int | None, str]:
    """(bound, result code or None when the DC sent no bind answer, diagnostic message)."""
    connection = connect(settings, arguments)
    try:
        bound = bool(connection.bind())
        result = connection.result or {}
    except (LDAPExceptionError, OSError) as exc:
        return False, None, str(exc)
    finally:
        with suppress(LDAPExceptionError, OSError):
            connection.unbind()
    code = result.get("result")
    message = str(result.get("message") or "").strip("\x00 \r\n")
    return bound, code if isinstance(code, int) else None, message
