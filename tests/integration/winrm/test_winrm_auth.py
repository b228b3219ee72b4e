"""Authentication: Basic and NTLM over HTTPS, channel binding, and what Windows refuses."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
import spnego
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
from pypsrp.wsman import NAMESPACES, WSMan
from spnego.channel_bindings import GssChannelBindings
from winrm_lab import ADMIN, ADMIN_PASSWORD, VIEWER, VIEWER_PASSWORD, Lab, negotiate_exchange

GET_CONFIG = b"""<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>
 <a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>
 <a:MessageID>uuid:6F1BA4C9-6CB1-4D2F-9A44-4C3C2B7C1F11</a:MessageID>
 <w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/config</w:ResourceURI>
 </s:Header><s:Body/></s:Envelope>"""


def _has_config(wsman: WSMan) -> bool:
    return wsman.get_server_config().find("cfg:Config", NAMESPACES) is not None


def _offered(response: requests.Response) -> list[str]:
    return list(response.raw.headers.getlist("WWW-Authenticate"))


def test_basic_over_https_with_certificate_validation(connect: Callable[..., WSMan]) -> None:
    with connect("basic", https=True, auth="basic") as wsman:
        assert _has_config(wsman)


def test_ntlm_over_https_with_cbt_on_a_strict_host(connect: Callable[..., WSMan]) -> None:
    with connect("strict", https=True) as wsman:
        assert _has_config(wsman)


def test_strict_host_refuses_ntlm_without_cbt(connect: Callable[..., WSMan]) -> None:
    with (
        connect("strict", https=True, negotiate_send_cbt=False) as wsman,
        pytest.raises(AuthenticationError),
    ):
        wsman.get_server_config()


def test_relaxed_host_takes_ntlm_without_cbt(connect: Callable[..., WSMan]) -> None:
    with connect("basic", https=True, negotiate_send_cbt=False) as wsman:
        assert _has_config(wsman)


@pytest.mark.parametrize("role", ["strict", "basic"])
def test_wrong_cbt_is_refused_whatever_the_level(lab: Lab, role: str) -> None:
    wrong = GssChannelBindings(application_data=b"tls-server-end-point:" + b"\x01" * 32)
    context = spnego.client(
        ADMIN,
        ADMIN_PASSWORD,
        hostname=lab.hosts[role].hostname,
        protocol="ntlm",
        channel_bindings=wrong,
    )
    response = negotiate_exchange(
        lab.url(role, https=True), context, GET_CONFIG, str(lab.ca_bundle)
    )
    assert response.status_code == 401


def test_ntlm_handshake_by_hand_reaches_the_service(lab: Lab) -> None:
    context = spnego.client(ADMIN, ADMIN_PASSWORD, hostname="basic", protocol="negotiate")
    response = negotiate_exchange(
        lab.url("basic", https=True), context, GET_CONFIG, str(lab.ca_bundle)
    )
    assert response.status_code == 200
    assert b"cfg:Config" in response.content


@pytest.mark.parametrize(
    ("role", "offered"),
    [
        ("ntlm", ["Negotiate", "Kerberos"]),
        ("all_methods", ["Negotiate", "Kerberos", 'Basic realm="WSMAN"', "CredSSP"]),
        ("kerberos_only", ["Kerberos"]),
    ],
)
def test_401_offers_enabled_methods_in_windows_order(
    lab: Lab, role: str, offered: list[str]
) -> None:
    response = requests.post(lab.url(role), data=b"", timeout=5)
    assert response.status_code == 401
    assert _offered(response) == offered
    assert response.headers["Server"] == "Microsoft-HTTPAPI/2.0"
    assert response.headers["Connection"] == "close"


def test_basic_over_http_is_refused_without_allow_unencrypted(lab: Lab) -> None:
    response = requests.post(
        lab.url("all_methods"), data=GET_CONFIG, auth=(ADMIN, ADMIN_PASSWORD), timeout=5
    )
    assert response.status_code == 401


def test_pypsrp_itself_refuses_basic_over_http(connect: Callable[..., WSMan]) -> None:
    with pytest.raises(ValueError, match="Cannot use message encryption with auth 'basic'"):
        connect("all_methods", auth="basic")


def test_basic_over_http_works_with_allow_unencrypted(connect: Callable[..., WSMan]) -> None:
    with connect("unencrypted", auth="basic", encryption="never") as wsman:
        assert _has_config(wsman)


def test_plaintext_soap_over_http_is_refused(connect: Callable[..., WSMan]) -> None:
    with connect("ntlm", encryption="never") as wsman, pytest.raises(WinRMTransportError) as err:
        wsman.get_server_config()
    assert err.value.code == 500
    assert err.value.response_text == ""


@pytest.mark.parametrize(
    ("role", "auth", "https"), [("ntlm", "ntlm", False), ("basic", "basic", True)]
)
def test_wrong_password_is_refused(
    connect: Callable[..., WSMan], role: str, auth: str, https: bool
) -> None:
    with (
        connect(role, https=https, auth=auth, password="wrong") as wsman,
        pytest.raises(AuthenticationError),
    ):
        wsman.get_server_config()


def test_disabled_basic_is_refused(connect: Callable[..., WSMan]) -> None:
    with connect("strict", https=True, auth="basic") as wsman, pytest.raises(AuthenticationError):
        wsman.get_server_config()


def test_disabled_negotiate_is_refused(lab: Lab) -> None:
    context = spnego.client(ADMIN, ADMIN_PASSWORD, hostname="x", protocol="ntlm")
    assert negotiate_exchange(lab.url("kerberos_only"), context).status_code == 401


def test_account_outside_root_sddl_gets_access_denied(connect: Callable[..., WSMan]) -> None:
    with (
        connect("ntlm", username=VIEWER, password=VIEWER_PASSWORD) as wsman,
        pytest.raises(WSManFaultError) as err,
    ):
        wsman.get_server_config()
    assert err.value.code == 5
    assert err.value.reason == "Access is denied."


def test_other_paths_are_not_found(lab: Lab) -> None:
    response = requests.post(lab.url("ntlm").replace("/wsman", "/other"), data=b"", timeout=5)
    assert response.status_code == 404
    assert b"HTTP Error 404. The requested resource is not found." in response.content
