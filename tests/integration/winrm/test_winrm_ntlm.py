"""NTLM over HTTP with message encryption: config, listeners, identify and PowerShell pipelines."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
import requests
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import NAMESPACES, WSMan
from winrm_lab import LOCAL_ADMIN, LOCAL_PASSWORD, Lab

CONFIG = "http://schemas.microsoft.com/wbem/wsman/1/config"
LISTENER = CONFIG + "/listener"
ENUMERATE = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
WSEN = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
IDENTIFY = b"""<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">
 <s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"""
WSMID = "{http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd}"


def _cfg(parent: ET.Element, path: str) -> str:
    node = parent.find(path, NAMESPACES)
    assert node is not None, path
    return node.text or ""


def test_get_whole_config_marks_policy_settings(connect: Callable[..., WSMan]) -> None:
    with connect("ntlm") as wsman:
        body = wsman.get_server_config()
    config = body.find("cfg:Config", NAMESPACES)
    assert config is not None
    assert _cfg(config, "cfg:MaxEnvelopeSizekb") == "500"
    assert _cfg(config, "cfg:Service/cfg:Auth/cfg:Basic") == "false"
    assert _cfg(config, "cfg:Service/cfg:Auth/cfg:CbtHardeningLevel") == "Relaxed"
    unencrypted = config.find("cfg:Service/cfg:AllowUnencrypted", NAMESPACES)
    trusted = config.find("cfg:Client/cfg:TrustedHosts", NAMESPACES)
    basic = config.find("cfg:Service/cfg:Auth/cfg:Basic", NAMESPACES)
    assert unencrypted is not None and unencrypted.get("Source") == "GPO"
    assert trusted is not None and trusted.get("Source") == "GPO"
    assert basic is not None and basic.get("Source") is None


@pytest.mark.parametrize(
    ("uri", "root", "leaf"),
    [
        ("config/service", "Service", "RootSDDL"),
        ("config/client", "Client", "TrustedHosts"),
        ("config/service/auth", "Auth", "CbtHardeningLevel"),
        ("config/client/auth", "Auth", "Digest"),
    ],
)
def test_get_config_sub_resources(
    connect: Callable[..., WSMan], uri: str, root: str, leaf: str
) -> None:
    namespace = f"http://schemas.microsoft.com/wbem/wsman/1/{uri}"
    with connect("ntlm") as wsman:
        body = wsman.get_server_config(uri)
    element = body.find(f"{{{namespace}}}{root}")
    assert element is not None
    assert element.find(f"{{{namespace}}}{leaf}") is not None


def test_enumerate_and_pull_listeners(connect: Callable[..., WSMan], lab: Lab) -> None:
    with connect("ntlm") as wsman:
        started = wsman.enumerate(LISTENER, ET.Element(f"{{{WSEN}}}Enumerate"))
        context = started.find("wsen:EnumerateResponse/wsen:EnumerationContext", NAMESPACES)
        assert context is not None and context.text
        pull = ET.Element(f"{{{WSEN}}}Pull")
        ET.SubElement(pull, f"{{{WSEN}}}EnumerationContext").text = context.text
        ET.SubElement(pull, f"{{{WSEN}}}MaxElements").text = "20"
        pulled = wsman.pull(LISTENER, pull)
    namespace = "{http://schemas.microsoft.com/wbem/wsman/1/config/listener}"
    listeners = pulled.findall(f"wsen:PullResponse/wsen:Items/{namespace}Listener", NAMESPACES)
    assert pulled.find("wsen:PullResponse/wsen:EndOfSequence", NAMESPACES) is not None
    assert [li.findtext(f"{namespace}Transport") for li in listeners] == ["HTTP"]
    assert listeners[0].findtext(f"{namespace}Port") == "5985"
    assert lab.hosts["ntlm"].address in [
        n.text for n in listeners[0].iter(f"{namespace}ListeningOn")
    ]


def test_optimized_enumeration_returns_items_at_once(connect: Callable[..., WSMan]) -> None:
    enumerate_ = ET.Element(f"{{{WSEN}}}Enumerate")
    ET.SubElement(enumerate_, "{http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}OptimizeEnumeration")
    with connect("basic", https=True, auth="basic") as wsman:
        body = wsman.enumerate(LISTENER, enumerate_)
    response = body.find("wsen:EnumerateResponse", NAMESPACES)
    assert response is not None
    assert response.find("wsman:EndOfSequence", NAMESPACES) is not None
    assert len(response.findall("wsman:Items/*", NAMESPACES)) == 2


def test_identify_anonymous_hides_os_version(lab: Lab) -> None:
    response = requests.post(
        lab.url("ntlm"),
        data=IDENTIFY,
        headers={"WSMANIDENTIFY": "unauthenticated", "Content-Type": "application/soap+xml"},
        timeout=5,
    )
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert root.findtext(f".//{WSMID}ProductVendor") == "Microsoft Corporation"
    assert root.findtext(f".//{WSMID}ProductVersion") == "OS: 0.0.0 SP: 0.0 Stack: 3.0"
    assert root.findtext(f".//{WSMID}ProtocolVersion") == NAMESPACES["wsman"]


def test_identify_authenticated_gives_os_version(connect: Callable[..., WSMan]) -> None:
    with connect("ntlm") as wsman:
        root = ET.fromstring(wsman.transport.send(IDENTIFY))
    assert root.findtext(f".//{WSMID}ProductVersion") == "OS: 10.0.20348 SP: 0.0 Stack: 3.0"


def test_local_account_logs_on_by_bare_name(connect: Callable[..., WSMan]) -> None:
    with connect("ntlm", username=LOCAL_ADMIN, password=LOCAL_PASSWORD) as wsman:
        assert wsman.get_server_config().find("cfg:Config", NAMESPACES) is not None


def test_runspace_pool_runs_handler_pipelines(connect: Callable[..., WSMan]) -> None:
    with connect("ntlm") as wsman, RunspacePool(wsman) as pool:
        facts = PowerShell(pool)
        facts.add_cmdlet("Get-LabFacts")
        output = facts.invoke()
        assert output == ["first", 42, True, {"Name": "ntlm.corp.auditor.test", "Items": [1, 2]}]
        assert not facts.had_errors
        facts.close()

        echo = PowerShell(pool)
        echo.add_cmdlet("Get-Echo").add_parameter("Value", "named").add_argument("positional")
        piped = ["piped"]
        assert echo.invoke(input=piped) == ["named", "positional", "piped"]  # type: ignore[arg-type]


def test_unknown_cmdlet_fails_pipeline_like_windows(connect: Callable[..., WSMan]) -> None:
    with connect("ntlm") as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Nonexistent")
        assert ps.invoke() == []
        assert ps.had_errors
        [error] = ps.streams.error
        assert "The term 'Get-Nonexistent' is not recognized" in str(error)
        assert error.fq_error == "CommandNotFoundException"


def test_script_errors_are_non_terminating(connect: Callable[..., WSMan]) -> None:
    with connect("ntlm") as wsman, RunspacePool(wsman) as pool:
        script = PowerShell(pool)
        script.add_script("Get-Nonexistent -Force")
        script.invoke()
        # A script carries on past a non-terminating error: Completed, error on the stream.
        assert not script.had_errors
        assert [e.fq_error for e in script.streams.error] == ["CommandNotFoundException"]

        broken = PowerShell(pool)
        broken.add_cmdlet("Get-Broken")
        broken.invoke()
        [error] = broken.streams.error
        assert error.fq_error == "PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand"
        assert (error.category, error.reason) == (13, "ItemNotFoundException")
        assert (error.activity, error.target_name) == ("Get-Broken", "C:\\nope")
