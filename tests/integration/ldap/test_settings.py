"""LdapSettings: what is refused before any packet is sent, and what a plain session says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from auditor.collectors.ldap import LdapSettings, LdapSettingsError
from auditor.credentials import Credentials, Secret

TICKET_CACHE = Credentials(None, None, "ticket-cache")


@pytest.mark.parametrize(
    ("changes", "user", "message"),
    [
        (
            {"bind": "ntlm"},
            "Administrator@ldap.auditor.test",
            "an NTLM bind needs DOMAIN\\user and a password",
        ),
        (
            {},
            "Administrator",
            "user 'Administrator': write it as user@domain (UPN) or DOMAIN\\user",
        ),
        ({"page_size": 0}, "a@b", "page size 0 is outside 1-100000"),
        ({"mode": "ldapz"}, "a@b", "unknown mode 'ldapz': use ldaps, starttls or plain"),
        ({"bind": "digest"}, "a@b", "unknown bind method 'digest': use simple, kerberos or ntlm"),
        (
            {"ca_bundle": Path("/nonexistent/ca.pem")},
            "a@b",
            "CA bundle /nonexistent/ca.pem does not exist",
        ),
    ],
    ids=["ntlm-upn", "bare-name", "page-size", "mode", "bind", "ca-bundle"],
)
def test_settings_refused_before_connecting(
    changes: dict[str, object], user: str, message: str
) -> None:
    settings = LdapSettings("dc1.example.test", **changes)  # type: ignore[arg-type]
    with pytest.raises(LdapSettingsError) as error:
        settings.check(Credentials(user, Secret("x"), "test"))
    assert str(error.value) == f"{settings.url}: {message}"


@pytest.mark.parametrize("secret", ["password", "keytab"])
def test_kerberos_from_a_password_or_keytab_needs_a_user_name(secret: str) -> None:
    settings = LdapSettings("dc1.example.test", bind="kerberos")
    credentials = (
        Credentials(None, Secret("x"), "test")
        if secret == "password"
        else Credentials(None, None, "keytab:/k", keytab=Path("/k"))
    )
    with pytest.raises(LdapSettingsError) as error:
        settings.check(credentials)
    assert str(error.value) == (
        "ldaps://dc1.example.test:636: a Kerberos bind from a password or a keytab needs a user "
        "name (user@realm, DOMAIN\\user or user)"
    )


def test_kerberos_needs_the_gssapi_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gssapi" else real(name, *a)
    )
    with pytest.raises(LdapSettingsError) as error:
        LdapSettings("dc1.example.test", bind="kerberos").check(TICKET_CACHE)
    assert str(error.value) == (
        "ldaps://dc1.example.test:636: Kerberos binds need the gssapi package: pip install "
        "'auditor[kerberos]' (it builds against MIT Kerberos: apt-get install libkrb5-dev)"
    )


def test_gssapi_is_installed() -> None:
    """Kerberos is tested for real here: a missing gssapi must fail, never skip."""
    assert importlib.util.find_spec("gssapi") is not None, (
        "apt-get install -y libkrb5-dev && pip install 'auditor[kerberos]'"
    )


def test_plain_mode_carries_a_warning() -> None:
    assert LdapSettings("dc1.example.test", mode="plain").warnings == (
        "ldap://dc1.example.test:389: plain LDAP was asked for: the directory data crossed the "
        "network unencrypted and unsigned",
    )
    assert LdapSettings("dc1.example.test").warnings == ()
