"""The emulation's SOAP has the shape of real Windows answers recorded by pypsrp's test suite."""

from __future__ import annotations

import io
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pypsrp.exceptions import WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import NAMESPACES, SelectorSet, WSMan

RECORDINGS = Path(__file__).resolve().parents[2] / "data" / "recordings" / "pypsrp-windows"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CONFIG = "http://schemas.microsoft.com/wbem/wsman/1/config"
ACTIVITY_ID = "{http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd}ActivityId"
ACTION = re.compile(r"Action[^>]*>[^<]*/([A-Za-z]+)</")

Shape = tuple[frozenset[tuple[str, str]], frozenset[tuple[str, tuple[str, ...]]]]


def shape(xml: str) -> Shape:
    """Namespaces declared, and every element path with its attribute names; values ignored."""
    declared: set[tuple[str, str]] = set()
    elements: set[tuple[str, tuple[str, ...]]] = set()
    path: list[str] = []
    for event, item in ET.iterparse(io.BytesIO(xml.encode()), events=("start-ns", "start", "end")):
        if event == "start-ns":
            assert isinstance(item, tuple)
            declared.add(item)
        elif event == "start":
            assert isinstance(item, ET.Element)
            path.append(item.tag)
            if item.tag != ACTIVITY_ID:  # Windows adds it only when tracing is on
                elements.add(("/".join(path), tuple(sorted(item.attrib))))
        else:
            path.pop()
    return frozenset(declared), frozenset(elements)


def recorded(name: str, action: str, index: int = 0, contains: str = "") -> str:
    """The index-th recorded response to `action` whose request contains `contains`."""
    messages = yaml.safe_load((RECORDINGS / f"{name}.yml").read_text())["messages"]
    found = [
        m["response"]
        for m in messages
        if (match := ACTION.search(m["request"]))
        and match.group(1) == action
        and contains in m["request"]
    ]
    return str(found[index])


def capture(wsman: WSMan) -> list[tuple[str, str]]:
    """Record (action, response text) of every exchange, faults included, without changing them."""
    exchanges: list[tuple[str, str]] = []
    send = wsman.transport.send

    def recording(message: bytes, **kwargs: Any) -> bytes:
        action = ACTION.search(message.decode())
        name = action.group(1) if action else "?"
        try:
            response = send(message, **kwargs)
        except WinRMTransportError as err:
            exchanges.append((name, err.response_text))
            raise
        exchanges.append((name, response.decode()))
        return response

    wsman.transport.send = recording  # type: ignore[method-assign]
    return exchanges


@pytest.fixture(scope="module")
def session_exchanges(connect: Callable[..., WSMan]) -> Iterator[list[tuple[str, str]]]:
    """A full PSRP session against the emulation: open, pipeline with input, close."""
    with connect("basic", https=True, auth="basic") as wsman:
        exchanges = capture(wsman)
        with RunspacePool(wsman) as pool:
            ps = PowerShell(pool)
            ps.add_cmdlet("Get-Echo").add_parameter("Value", "x")
            ps.invoke(input=["piped"])  # type: ignore[arg-type] # pypsrp takes lists too
            ps.close()
        yield exchanges


def ours(exchanges: list[tuple[str, str]], action: str, index: int = 0) -> str:
    return [text for name, text in exchanges if name == action][index]


@pytest.mark.parametrize(
    ("action", "recording", "our_index", "recorded_index", "contains"),
    [
        ("Create", "test_psrp_open_runspace", 0, 0, ""),
        ("Receive", "test_psrp_open_runspace", 0, 0, ""),
        ("Command", "test_psrp_multiple_invocations", 0, 0, ""),
        ("Send", "test_psrp_with_input", 0, 0, ""),
        ("Receive", "test_psrp_multiple_invocations", -1, 0, "DesiredStream CommandId"),
        ("Signal", "test_psrp_multiple_invocations", 0, 0, ""),
        ("Delete", "test_psrp_open_runspace", 0, 0, ""),
    ],
)
def test_shell_operations_have_the_recorded_shape(
    session_exchanges: list[tuple[str, str]],
    action: str,
    recording: str,
    our_index: int,
    recorded_index: int,
    contains: str,
) -> None:
    mine = ours(session_exchanges, action, our_index)
    theirs = recorded(recording, action, recorded_index, contains)
    assert shape(mine) == shape(theirs)


def test_config_has_the_recorded_elements_in_order(connect: Callable[..., WSMan]) -> None:
    with connect("basic", https=True, auth="basic") as wsman:
        exchanges = capture(wsman)
        wsman.get_server_config()
    mine, theirs = ours(exchanges, "Get"), recorded("test_wsman_update_envelope_size_500", "Get")
    assert shape(mine) == shape(theirs)
    config = f"{{{NAMESPACES['cfg']}}}Config"

    def order(text: str) -> list[str]:
        root = ET.fromstring(text).find(f".//{config}")
        assert root is not None
        return [e.tag for e in root.iter()]

    assert order(mine) == order(theirs)


def _fault_facts(xml: str) -> tuple[str, ...]:
    """Action, code, subcode, reason, WSManFault code and message text of a fault."""
    root = ET.fromstring(xml)
    fault = root.find(".//wsmanfault:WSManFault", NAMESPACES)
    message = root.find(".//wsmanfault:WSManFault/wsmanfault:Message", NAMESPACES)
    assert fault is not None and message is not None
    return (
        root.findtext("s:Header/wsa:Action", namespaces=NAMESPACES) or "",
        root.findtext(".//s:Code/s:Value", namespaces=NAMESPACES) or "",
        root.findtext(".//s:Subcode/s:Value", namespaces=NAMESPACES) or "",
        root.findtext(".//s:Reason/s:Text", namespaces=NAMESPACES) or "",
        fault.get("Code", ""),
        "".join(message.itertext()),
    )


def _unknown_command(pool: RunspacePool, wsman: WSMan) -> None:
    pool.shell.receive("stdout", command_id=str(uuid.uuid4()).upper())


def _receive_timeout(pool: RunspacePool, wsman: WSMan) -> None:
    pool.shell.receive("stdout", timeout=1)


def _unknown_shell(pool: RunspacePool, wsman: WSMan) -> None:
    selectors = SelectorSet()
    selectors.add_option("ShellId", str(uuid.uuid4()).upper())
    wsman.get(SHELL, selector_set=selectors)


def _negative_timeout(pool: RunspacePool, wsman: WSMan) -> None:
    wsman.get(CONFIG, timeout=-1)


@pytest.mark.parametrize(
    ("provoke", "recording", "action", "index"),
    [
        (_unknown_command, "test_psrp_receive_failure", "Receive", 2),
        (_receive_timeout, "test_psrp_long_running_cmdlet", "Receive", 3),
        (_unknown_shell, "test_psrp_is_alive_invalid_selectors", "Get", 1),
        (_negative_timeout, "test_psrp_is_alive_other_wsman_error", "Get", 0),
    ],
)
def test_faults_match_the_recorded_ones(
    connect: Callable[..., WSMan],
    provoke: Callable[[RunspacePool, WSMan], None],
    recording: str,
    action: str,
    index: int,
) -> None:
    with connect("basic", https=True, auth="basic") as wsman:
        exchanges = capture(wsman)
        with RunspacePool(wsman) as pool, pytest.raises(WSManFaultError):
            provoke(pool, wsman)
    mine = [text for name, text in exchanges if name == action][-1]
    theirs = recorded(recording, action, index)
    assert shape(mine) == shape(theirs)
    assert _fault_facts(mine) == _fault_facts(theirs)
