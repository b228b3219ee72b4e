"""The WinRM configuration parser on a real Windows answer (pypsrp's recordings)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from auditor.collectors.winrm.wsman_config import (
    CFG,
    CONFIG_FACTS,
    config_from_xml,
    listener_elements,
    listeners_from_xml,
    parse_config,
    parse_listeners,
)
from auditor.facts.model import Available, Reason, Source, Unavailable

RECORDINGS = Path(__file__).resolve().parents[2] / "data" / "recordings" / "pypsrp-windows"


def recorded_config_body() -> ET.Element:
    data = yaml.safe_load((RECORDINGS / "test_wsman_update_envelope_size_4096.yml").read_text())
    for message in data["messages"]:
        if "transfer/GetResponse" in message["response"] and "cfg:Config" in message["response"]:
            envelope = ET.fromstring(message["response"])
            body = envelope.find("{http://www.w3.org/2003/05/soap-envelope}Body")
            assert body is not None
            return body
    raise AssertionError("no recorded winrm/config GetResponse")


def test_real_windows_config_answer() -> None:
    facts = parse_config(recorded_config_body())
    assert set(facts) == CONFIG_FACTS
    values = {k: v.value for k, v in facts.items() if isinstance(v, Available)}
    assert values["winrm.service.auth.basic"] is True
    assert values["winrm.service.auth.credssp"] is True
    assert values["winrm.service.auth.certificate"] is False
    assert values["winrm.service.allow_unencrypted"] is False
    assert values["winrm.service.auth.cbt_hardening_level"] == "Relaxed"
    assert values["winrm.client.auth.digest"] is True
    assert values["winrm.client.trusted_hosts"] == ""
    assert values["winrm.service.ipv4_filter"] == "*"
    assert values["winrm.service.root_sddl"] == {
        "sddl": "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)",
        "grants": [
            {"sid": "S-1-5-32-544", "rights": ["GA"]},
            {"sid": "S-1-5-4", "rights": ["GR"]},  # INTERACTIVE may read: Windows' default
        ],
    }
    assert all(v.source is Source.LOCAL for v in facts.values() if isinstance(v, Available))


def test_gpo_source_and_missing_elements() -> None:
    body = ET.fromstring(
        '<b><cfg:Config xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config">'
        '<cfg:Service><cfg:AllowUnencrypted Source="GPO">true</cfg:AllowUnencrypted>'
        "<cfg:Auth><cfg:Basic>maybe</cfg:Basic></cfg:Auth></cfg:Service></cfg:Config></b>"
    )
    facts = parse_config(body)
    assert facts["winrm.service.allow_unencrypted"] == Available(True, Source.POLICY)
    basic = facts["winrm.service.auth.basic"]
    assert isinstance(basic, Unavailable) and basic.reason is Reason.PROTOCOL_ERROR
    assert isinstance(facts["winrm.client.trusted_hosts"], Unavailable)


def test_answer_without_config_makes_every_fact_unavailable() -> None:
    facts = parse_config(ET.fromstring("<b/>"))
    assert all(isinstance(f, Unavailable) for f in facts.values())


def test_listeners() -> None:
    body = ET.fromstring(
        '<b xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config">'
        "<cfg:Listener><cfg:Address>*</cfg:Address><cfg:Transport>HTTPS</cfg:Transport>"
        "<cfg:Port>5986</cfg:Port><cfg:Hostname>fs01</cfg:Hostname><cfg:Enabled>true</cfg:Enabled>"
        "<cfg:CertificateThumbprint>ab cd</cfg:CertificateThumbprint></cfg:Listener></b>"
    )
    assert parse_listeners(
        body.iter("{http://schemas.microsoft.com/wbem/wsman/1/config}Listener")
    ) == [
        {
            "address": "*",
            "transport": "HTTPS",
            "port": 5986,
            "enabled": True,
            "hostname": "fs01",
            "certificate_thumbprint": "ABCD",
            "source": "local",
        }
    ]
    bad = ET.fromstring(
        '<cfg:Listener xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config">'
        "<cfg:Transport>FTP</cfg:Transport></cfg:Listener>"
    )
    with pytest.raises(ValueError, match="FTP"):
        parse_listeners([bad])


def test_listeners_in_the_listener_namespace_as_windows_sends_them() -> None:
    body = ET.fromstring(
        '<s:Body xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:l="http://schemas.microsoft.com/wbem/wsman/1/config/listener">'
        "<l:Listener><l:Address>*</l:Address><l:Transport>HTTP</l:Transport><l:Port>5985</l:Port>"
        "<l:Enabled>true</l:Enabled></l:Listener></s:Body>"
    )
    listeners = parse_listeners(listener_elements(body))
    assert [(x["transport"], x["port"], x["enabled"]) for x in listeners] == [("HTTP", 5985, True)]


def recorded_config_text() -> str:
    """The cfg:Config element of the recorded GetResponse, as text: what the WS-Man scripting
    API's Session.Get returns on the host (and `winrm get winrm/config -format:xml` prints),
    the same element without the SOAP envelope."""
    data = yaml.safe_load((RECORDINGS / "test_wsman_update_envelope_size_4096.yml").read_text())
    for message in data["messages"]:
        response = message["response"]
        if "transfer/GetResponse" in response and "cfg:Config" in response:
            start, end = response.index("<cfg:Config"), response.index("</cfg:Config>")
            return response[start : end + len("</cfg:Config>")]
    raise AssertionError("no recorded winrm/config GetResponse")


def test_offline_config_text_reads_as_the_ws_man_answer_does() -> None:
    text = recorded_config_text()
    assert text.startswith(
        '<cfg:Config xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config">'
    )
    offline = config_from_xml("\r\n" + text + "\r\n")  # as a console line ends it
    assert offline == parse_config(recorded_config_body())
    assert offline["winrm.service.auth.credssp"] == Available(True, Source.LOCAL)


def test_offline_config_that_is_not_xml_or_declares_a_dtd_is_unavailable() -> None:
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaa">]><cfg:Config xmlns:cfg="' + CFG + '">&a;</cfg:Config>'
    for text in ("<cfg:Config", bomb, ""):
        facts = config_from_xml(text)
        assert set(facts) == CONFIG_FACTS
        assert all(
            isinstance(f, Unavailable) and f.reason is Reason.PROTOCOL_ERROR for f in facts.values()
        ), text


# No real `winrm enumerate winrm/config/listener -format:xml` output was found in a public
# repository; the item below follows MS-WSMV 2.2.4.19 (ListenerType) and the listener namespace
# Windows answers an Enumerate in (a Pull's items are these elements, one per listener).
LISTENER_ITEM = (
    '<cfg:Listener xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config/listener" '
    'xml:lang="en-US" Source="GPO"><cfg:Address>*</cfg:Address><cfg:Transport>HTTPS'
    "</cfg:Transport><cfg:Port>8443</cfg:Port><cfg:Hostname>app01.corp.example.com</cfg:Hostname>"
    "<cfg:Enabled>true</cfg:Enabled><cfg:URLPrefix>wsman</cfg:URLPrefix>"
    "<cfg:CertificateThumbprint>AB CD 01</cfg:CertificateThumbprint>"
    "<cfg:ListeningOn>10.0.0.5</cfg:ListeningOn></cfg:Listener>"
)


def test_offline_listener_items_read_as_the_enumeration_does() -> None:
    fact = listeners_from_xml([LISTENER_ITEM])
    assert fact == Available(
        [
            {
                "address": "*",
                "transport": "HTTPS",
                "port": 8443,
                "enabled": True,
                "hostname": "app01.corp.example.com",
                "certificate_thumbprint": "ABCD01",
                "source": "policy",
            }
        ],
        Source.LOCAL,
    )
    assert listeners_from_xml([]) == Available([], Source.LOCAL)  # no listener configured
    for items in (["<cfg:Listener"], [f'<cfg:Config xmlns:cfg="{CFG}"/>'], [LISTENER_ITEM, "x"]):
        bad = listeners_from_xml(items)
        assert isinstance(bad, Unavailable) and bad.reason is Reason.PROTOCOL_ERROR, items
