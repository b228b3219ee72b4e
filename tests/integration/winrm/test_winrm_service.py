"""Service behaviour beyond authentication: resources, listeners, shell limits, remote access."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import NAMESPACES, SelectorSet, WSMan
from winrm_lab import Lab

LISTENER = "http://schemas.microsoft.com/wbem/wsman/1/config/listener"
WSEN = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
CFG_LISTENER = f"{{{LISTENER}}}"


def test_unknown_resource_uri_is_destination_unreachable(connect: Callable[..., WSMan]) -> None:
    with connect("ntlm") as wsman, pytest.raises(WSManFaultError) as err:
        wsman.get_server_config("config/nonexistent")
    assert err.value.code == 2150858752
    assert err.value.reason is not None
    assert "cannot find the resource identified by the resource URI" in err.value.reason


def test_policy_listener_and_disabled_listener_are_enumerated(
    connect: Callable[..., WSMan], lab: Lab
) -> None:
    enumerate_ = ET.Element(f"{{{WSEN}}}Enumerate")
    ET.SubElement(enumerate_, f"{{{WSMAN}}}OptimizeEnumeration")
    with connect("gpo_listener") as wsman:
        body = wsman.enumerate(LISTENER, enumerate_)
    items = body.findall(f"wsen:EnumerateResponse/wsman:Items/{CFG_LISTENER}Listener", NAMESPACES)
    facts = [
        (
            li.get("Source"),
            li.findtext(f"{CFG_LISTENER}Transport"),
            li.findtext(f"{CFG_LISTENER}Enabled"),
        )
        for li in items
    ]
    assert facts == [("GPO", "HTTP", "true"), (None, "HTTPS", "false")]
    host = lab.hosts["gpo_listener"]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host.address, 5986), timeout=2).close()


def test_get_one_listener_by_selectors(connect: Callable[..., WSMan]) -> None:
    selectors = SelectorSet()
    selectors.add_option("Address", "*")
    selectors.add_option("Transport", "HTTP")
    with connect("ntlm") as wsman:
        body = wsman.get(LISTENER, selector_set=selectors)
        assert body.findtext(f"{CFG_LISTENER}Listener/{CFG_LISTENER}Port") == "5985"
        selectors.values[1] = ("Transport", "HTTPS", {})
        with pytest.raises(WSManFaultError) as err:
            wsman.get(LISTENER, selector_set=selectors)
    assert err.value.code == 2150858843


def test_max_shells_per_user_is_a_quota_fault(connect: Callable[..., WSMan]) -> None:
    with connect("quota") as wsman, RunspacePool(wsman):
        second = RunspacePool(wsman)
        with pytest.raises(WSManFaultError) as err:
            second.open()
    assert err.value.code == 2150859173
    assert (
        err.value.reason is not None and "maximum number of concurrent shells" in err.value.reason
    )


def test_remote_shell_access_off_refuses_shells(connect: Callable[..., WSMan]) -> None:
    with connect("no_shells") as wsman, pytest.raises(WSManFaultError) as err:
        RunspacePool(wsman).open()
    assert err.value.reason is not None and "not allowed to open remote shells" in err.value.reason


def test_allow_remote_access_off_closes_the_port(lab: Lab) -> None:
    host = lab.hosts["no_remote"]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host.address, host.http_port), timeout=2).close()
