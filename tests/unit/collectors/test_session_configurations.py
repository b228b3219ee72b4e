"""Session configurations: collect.ps1 sends raw properties, Python decides the defaults.

The samples are Get-PSSessionConfiguration outputs from Microsoft's documentation
(tests/data/windows/session-configurations); no JSON of the script's own answer from a real
host exists, so each Format-List is turned into the name/value pairs the script sends.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import tree_sitter
import tree_sitter_powershell

from auditor.collectors.winrm.request import collector_script
from auditor.collectors.winrm.response import CollectorResponseError, parse_response
from auditor.facts.model import Available

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "windows" / "session-configurations"


def format_list(name: str) -> dict[str, Any]:
    """`Name : Value` lines as collect.ps1's pairs: text, and `{a, b}` as a list of text."""
    properties: dict[str, Any] = {}
    for line in (SAMPLES / name).read_text().splitlines():
        key, _, text = line.partition(" : ")
        text = text.strip()
        braces = re.fullmatch(r"\{(.*)\}", text)
        properties[key.strip()] = braces.group(1).split(", ") if braces else text
    return properties


def sessions(*configurations: dict[str, Any]) -> list[dict[str, Any]]:
    text = json.dumps(
        {
            "version": 1,
            "collected_at": "2026-01-01T00:00:00Z",
            "registry": {},
            "sections": {"session_configurations": {"ok": list(configurations)}},
        }
    )
    facts, _ = parse_response(text, ["session_configurations"])
    fact = facts["powershell.session_configurations"]
    assert isinstance(fact, Available), fact
    found: list[dict[str, Any]] = fact.value
    return found


def test_built_in_endpoint_without_language_mode_session_type_or_virtual_account() -> None:
    (endpoint,) = sessions(format_list("microsoft-powershell-3.0.txt"))
    assert endpoint == {
        "name": "microsoft.powershell",
        "enabled": True,  # the plug-in XML's text "true"
        "permission": "BUILTIN\\Administrators AccessAllowed",
        "sddl": "O:NSG:BAD:P(A;;GA;;;BA)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)",
        "uses_root_sddl": False,
        "allowed_sids": ["S-1-5-32-544"],
        "run_as_virtual_account": False,
        "session_type": "Default",
        "language_mode": "FullLanguage",  # no .pssc: a full PowerShell session
    }


def test_endpoint_from_a_session_configuration_file_without_its_own_descriptor() -> None:
    (endpoint,) = sessions(format_list("full-pssc.txt"))
    assert (endpoint["name"], endpoint["enabled"]) == ("Full", True)
    assert (endpoint["session_type"], endpoint["language_mode"]) == ("Default", "FullLanguage")
    assert (endpoint["sddl"], endpoint["uses_root_sddl"], endpoint["allowed_sids"]) == (
        "",
        True,
        [],
    )


@pytest.mark.parametrize(
    ("properties", "language_mode"),
    [
        ({"SessionType": "RestrictedRemoteServer"}, "NoLanguage"),
        ({"SessionType": "Empty"}, "NoLanguage"),
        (
            {"SessionType": "RestrictedRemoteServer", "LanguageMode": "ConstrainedLanguage"},
            "ConstrainedLanguage",
        ),
        (
            {"sessiontype": "restrictedremoteserver"},
            "NoLanguage",
        ),  # names ignore case, as in PowerShell
    ],
)
def test_language_mode_follows_the_session_type_when_none_is_set(
    properties: dict[str, str], language_mode: str
) -> None:
    (endpoint,) = sessions({"Name": "JEA", **properties})
    assert endpoint["language_mode"] == language_mode


def test_text_booleans_are_read_as_windows_writes_them() -> None:
    """PowerShell's [bool] of the text "false" is true: the old script turned a disabled
    endpoint into an enabled one. Python reads the text."""
    (off, virtual) = sessions(
        {"Name": "Off", "Enabled": "false"},
        {"Name": "Jea", "Enabled": True, "RunAsVirtualAccount": "True"},
    )
    assert (off["enabled"], off["run_as_virtual_account"]) == (False, False)
    assert (virtual["enabled"], virtual["run_as_virtual_account"]) == (True, True)
    with pytest.raises(
        CollectorResponseError, match="session configuration X: 'maybe' is not a boolean"
    ):
        sessions({"Name": "X", "Enabled": "maybe"})
    with pytest.raises(CollectorResponseError, match="has no Name"):
        sessions({"Enabled": "true"})


def test_the_section_reads_properties_through_psobject_under_strictmode() -> None:
    """Under Set-StrictMode, `$_.LanguageMode` throws where an endpoint lacks the property and
    the whole section was lost; the script must touch the configuration only via PSObject."""
    script = collector_script().encode()
    start = script.index(b"Invoke-Section 'session_configurations'")
    body = script[start : script.index(b"Invoke-Section", start + 1)]
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    touched = set()
    stack = [parser.parse(body).root_node]
    while stack:
        node = stack.pop()
        if node.type == "member_access" and node.children[0].text == b"$_":
            touched.add(node.children[-1].text)
        stack.extend(node.children)
    assert touched == {b"PSObject"}
