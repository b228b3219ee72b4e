"""Each bind mode against the Samba DC, and each refusal's exact one-line message."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor import netmap
from auditor.collectors.ldap import (
    LdapBindError,
    LdapConnectError,
    LdapError,
    LdapSettings,
    LdapSettingsError,
    LdapTlsError,
    collect_domain,
)
from auditor.collectors.ldap.connection import open_session
from auditor.credentials import Credentials, Secret
from auditor.errors import AuditorError, ExitCode
from auditor.facts.model import FactDocument
from auditor.lab.pki import create_ca

from .conftest import LdapLab
from .test_collect import canonical

pytestmark = pytest.mark.samba
TICKET_CACHE = Credentials(None, None, "ticket-cache")


def naming_context(lab: LdapLab, settings: LdapSettings, credentials: Credentials) -> str:
    with open_session(settings, credentials) as reader:
        found = reader.read("", ["defaultNamingContext"]) or {}
        whoami = reader.read(lab.dc.base_dn, ["objectSid"])
    assert whoami is not None
    return found["defaultnamingcontext"][0].decode()


def refusal(settings: LdapSettings, credentials: Credentials) -> LdapError:
    with pytest.raises(LdapError) as error, open_session(settings, credentials):
        pass
    assert isinstance(error.value, AuditorError)
    assert error.value.exit_code is ExitCode.USAGE
    assert "\n" not in str(error.value)
    return error.value


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
@pytest.mark.parametrize("name", ["upn", "down-level"])
def test_simple_bind_over_tls(ldap_lab: LdapLab, mode: str, name: str) -> None:
    user = (
        ldap_lab.dc.admin.user_principal_name
        if name == "upn"
        else ldap_lab.dc.admin.down_level_logon_name
    )
    credentials = Credentials(user, Secret(ldap_lab.dc.admin.password), "test")
    settings = ldap_lab.settings(mode=mode)
    assert naming_context(ldap_lab, settings, credentials) == ldap_lab.dc.base_dn
    assert settings.url == (
        f"ldaps://{ldap_lab.dc.fqdn}:636" if mode == "ldaps" else f"ldap://{ldap_lab.dc.fqdn}:389"
    )


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_kerberos_bind_with_a_real_ticket(
    ldap_lab: LdapLab, ticket_cache: dict[str, str], monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    for key, val in ticket_cache.items():
        monkeypatch.setenv(key, val)
    settings = ldap_lab.settings(mode=mode, bind="kerberos")
    assert naming_context(ldap_lab, settings, TICKET_CACHE) == ldap_lab.dc.base_dn
    named = Credentials(ldap_lab.dc.admin.user_principal_name, None, "ticket-cache")
    assert naming_context(ldap_lab, settings, named) == ldap_lab.dc.base_dn


@pytest.mark.parametrize("form", ["down-level", "upn", "dns-domain", "bare"])
def test_kerberos_bind_with_the_user_name_as_users_write_it(
    ldap_lab: LdapLab, ticket_cache: dict[str, str], monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    """`CORP\\user` once lost its backslash to Kerberos' escaping and found no ticket."""
    for key, val in ticket_cache.items():
        monkeypatch.setenv(key, val)
    admin = ldap_lab.dc.admin
    username = {
        "down-level": admin.down_level_logon_name,
        "upn": admin.user_principal_name,
        "dns-domain": f"{admin.username}@{admin.realm.lower()}",
        "bare": admin.username,
    }[form]
    settings = ldap_lab.settings(bind="kerberos", realm=admin.realm.lower())
    named = Credentials(username, None, "ticket-cache")
    assert naming_context(ldap_lab, settings, named) == ldap_lab.dc.base_dn


def test_kerberos_bind_from_a_password_leaves_no_ticket_cache(
    ldap_lab: LdapLab, ticket_cache: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The TGT lives in memory: the cache KRB5CCNAME names is neither read nor written."""
    monkeypatch.setenv("KRB5_CONFIG", ticket_cache["KRB5_CONFIG"])
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'ccache'}")
    admin = ldap_lab.dc.admin
    settings = ldap_lab.settings(bind="kerberos", realm=admin.realm.lower())
    credentials = Credentials(admin.down_level_logon_name, Secret(admin.password), "test")
    assert naming_context(ldap_lab, settings, credentials) == ldap_lab.dc.base_dn
    assert list(tmp_path.iterdir()) == []


def test_kerberos_bind_from_a_wrong_password(
    ldap_lab: LdapLab, ticket_cache: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KRB5_CONFIG", ticket_cache["KRB5_CONFIG"])
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'ccache'}")
    realm = ldap_lab.dc.admin.realm.upper()
    settings = ldap_lab.settings(bind="kerberos", realm=realm.lower())
    error = refusal(settings, Credentials("Administrator", Secret("not-the-password"), "test"))
    assert isinstance(error, LdapBindError)
    assert error.exit_code is ExitCode.USAGE  # like a simple bind's wrong password
    assert str(error) == (
        f"ldaps://{ldap_lab.dc.fqdn}:636: Kerberos bind as Administrator@{realm} refused: the "
        f"KDC of {realm} said: Preauthentication failed; check the user name and the password"
    )
    assert list(tmp_path.iterdir()) == []


def test_kerberos_collection_equals_simple(
    ldap_lab: LdapLab,
    ticket_cache: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    collected: FactDocument,
) -> None:
    for key, val in ticket_cache.items():
        monkeypatch.setenv(key, val)
    document = collect_domain(ldap_lab.settings(bind="kerberos", live_tests=True), TICKET_CACHE)
    for name in ("accounts", "groups.privileged", "computers", "domain.info"):
        assert canonical(document.facts[name].value) == canonical(  # type: ignore[union-attr]
            collected.facts[name].value  # type: ignore[union-attr]
        ), name
    live = document.facts["ldap.live"].value  # type: ignore[union-attr]
    assert live["unsigned_simple_bind_refused"] is True
    assert live["channel_binding_enforced"] is None
    assert live["detail"].endswith(
        "NTLM bind over LDAPS without channel binding not tried: it needs a password, and this "
        "collection used the Kerberos ticket cache"
    )


def test_simple_bind_without_tls_is_refused_before_sending(ldap_lab: LdapLab) -> None:
    error = refusal(ldap_lab.settings(mode="plain"), ldap_lab.admin)
    assert isinstance(error, LdapSettingsError)
    assert str(error) == (
        f"ldap://{ldap_lab.dc.fqdn}:389: refusing a simple bind over plain LDAP: the password "
        "would cross the network in clear; use --ldap-mode ldaps (636) or starttls (389)"
    )


def test_wrong_password(ldap_lab: LdapLab) -> None:
    upn = ldap_lab.dc.admin.user_principal_name
    error = refusal(ldap_lab.settings(), Credentials(upn, Secret("not-the-password"), "test"))
    assert isinstance(error, LdapBindError)
    assert str(error) == (
        f"ldaps://{ldap_lab.dc.fqdn}:636: simple bind as {upn} refused: invalidCredentials "
        "(49) (unknown user or wrong password): 80090308: LdapErr: DSID-0C0903A9, comment: "
        "AcceptSecurityContext error, data 52e, v1db1; check the user name (user@domain or "
        "DOMAIN\\user) and the password"
    )
    assert "not-the-password" not in str(error)


def test_unreachable_dc(ldap_lab: LdapLab) -> None:
    with netmap.mapped({"gone.ldap.auditor.test": "127.14.0.254"}):
        error = refusal(ldap_lab.settings(dc="gone.ldap.auditor.test"), ldap_lab.admin)
    assert isinstance(error, LdapConnectError)
    assert str(error) == (
        "ldaps://gone.ldap.auditor.test:636: connection refused: nothing listens for LDAPS "
        "there; check the DC name and port (no DC certificate? try --ldap-mode starttls)"
    )


def test_unknown_dc_name(ldap_lab: LdapLab) -> None:
    error = refusal(ldap_lab.settings(dc="no-such-dc.invalid"), ldap_lab.admin)
    assert str(error) == (
        "ldaps://no-such-dc.invalid:636: cannot resolve no-such-dc.invalid (Name or service not "
        "known): check DNS (or the name map) and the DC name"
    )


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """Accepts TCP connections and never says a word, like a half-dead DC."""
    with socket.create_server(("127.14.0.253", 0)) as server:
        held: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    held.append(server.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield server.getsockname()[1]
        stop.set()
        thread.join()
        for connection in held:
            connection.close()


def test_a_silent_dc_times_out(ldap_lab: LdapLab, silent_listener: int) -> None:
    with netmap.mapped({"mute.ldap.auditor.test": "127.14.0.253"}):
        settings = ldap_lab.settings(
            dc="mute.ldap.auditor.test", port=silent_listener, connect_timeout=1, receive_timeout=1
        )
        error = refusal(settings, ldap_lab.admin)
    assert str(error) == (
        f"ldaps://mute.ldap.auditor.test:{silent_listener}: no answer in time (connect 1s, "
        "receive 1s): the DC is down or a firewall drops the port"
    )


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_tls_validation_failure_with_a_wrong_ca(
    ldap_lab: LdapLab, tmp_path: Path, mode: str
) -> None:
    wrong = create_ca(tmp_path, "Some Other CA").cert_path
    error = refusal(ldap_lab.settings(mode=mode, ca_bundle=wrong), ldap_lab.admin)
    assert isinstance(error, LdapTlsError)
    assert str(error) == (
        f"{ldap_lab.settings(mode=mode).url}: TLS certificate not trusted (unable to get local "
        f"issuer certificate) by the CA bundle {wrong}; pass the CA that issued the DC's "
        "certificate with ldap.ca_bundle in the scan configuration"
    )


def test_tls_name_mismatch(ldap_lab: LdapLab) -> None:
    with netmap.mapped({"alias.ldap.auditor.test": ldap_lab.dc.address}):
        error = refusal(ldap_lab.settings(dc="alias.ldap.auditor.test"), ldap_lab.admin)
    assert str(error) == (
        "ldaps://alias.ldap.auditor.test:636: TLS certificate is not issued to "
        "alias.ldap.auditor.test: connect by the name the certificate carries"
    )


def test_kerberos_without_tls_is_refused_by_the_dc(
    ldap_lab: LdapLab, ticket_cache: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, val in ticket_cache.items():
        monkeypatch.setenv(key, val)
    error = refusal(ldap_lab.settings(mode="plain", bind="kerberos"), TICKET_CACHE)
    assert str(error) == (
        f"ldap://{ldap_lab.dc.fqdn}:389: Kerberos bind as the ticket cache's principal "
        "refused: strongerAuthRequired (8): SASL:[GSSAPI]: not allowed if TLS is used.; the DC "
        "requires signing or TLS: use --ldap-mode ldaps"
    )


def test_kerberos_without_a_ticket(
    ldap_lab: LdapLab, ticket_cache: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KRB5_CONFIG", ticket_cache["KRB5_CONFIG"])
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'empty'}")
    error = refusal(ldap_lab.settings(bind="kerberos"), TICKET_CACHE)
    assert str(error) == (
        f"ldaps://{ldap_lab.dc.fqdn}:636: Kerberos bind as the ticket cache's principal failed: "
        f"No Kerberos credentials available (default cache: FILE:{tmp_path / 'empty'}); run "
        "kinit first (and check KRB5CCNAME)"
    )
    other = Credentials("someone@LDAP.AUDITOR.TEST", None, "ticket-cache")
    assert str(refusal(ldap_lab.settings(bind="kerberos"), other)) == (
        f"ldaps://{ldap_lab.dc.fqdn}:636: no Kerberos ticket for someone@LDAP.AUDITOR.TEST: "
        f"Can't find client principal someone@LDAP.AUDITOR.TEST in cache collection; run kinit "
        "someone@LDAP.AUDITOR.TEST"
    )


def test_ntlm_is_refused_by_samba(ldap_lab: LdapLab) -> None:
    """ldap3's NTLM bind is Microsoft's Sicily protocol: Windows DCs offer it, Samba does not."""
    credentials = Credentials(
        ldap_lab.dc.admin.down_level_logon_name, Secret(ldap_lab.dc.admin.password), "test"
    )
    error = refusal(ldap_lab.settings(bind="ntlm"), credentials)
    assert isinstance(error, LdapBindError)
    assert str(error) == (
        f"ldaps://{ldap_lab.dc.fqdn}:636: NTLM bind as LDAPTEST\\Administrator refused: the DC "
        "does not offer NTLM (Sicily) binds over LDAP, Samba never does; use --bind kerberos or "
        "simple over LDAPS"
    )
