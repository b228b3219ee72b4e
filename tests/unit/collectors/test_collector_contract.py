"""The collector script: PowerShell 5.1 syntax, and the response contract mapped to facts."""

from __future__ import annotations

import base64
import json
import struct

import pytest
import tree_sitter
import tree_sitter_powershell

from auditor.collectors.winrm.request import build_request, collector_script
from auditor.collectors.winrm.response import CollectorResponseError, parse_response
from auditor.facts.model import Available, Reason, Unavailable
from auditor.pipeline.hosts import wanted_by
from auditor.rules.pack import load_pack


def error_nodes(source: bytes) -> list[tuple[tuple[int, int], bytes]]:
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    found = []
    stack = [parser.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            found.append((node.start_point, source[node.start_byte : node.end_byte][:80]))
        stack.extend(node.children)
    return found


def test_collector_script_parses_without_errors() -> None:
    assert error_nodes(collector_script().encode()) == []


def test_parser_does_catch_broken_powershell() -> None:
    assert error_nodes(b"function f { if ($x -eq { }\n") != []


def test_script_avoids_powershell7_only_syntax() -> None:
    script = collector_script()
    for token in ("??", "?.", "-AsHashtable", "ForEach-Object -Parallel", "&&", "||"):
        assert token not in script, token


def test_request_asks_for_every_registry_value_of_the_loaded_rules() -> None:
    rules = load_pack()
    request = build_request(wanted_by(rules))
    expected = {p for r in rules for s in r.registry for p in (s.policy, s.local) if p}
    assert {p.lower() for p in request["registry"]} == {p.lower() for p in expected}  # type: ignore[union-attr]
    assert {"os", "services"} <= set(request["sections"])  # type: ignore[arg-type]


def winhttp_blob(proxy: str, bypass: str) -> str:
    raw = struct.pack("<IIII", 0x18, 1, 3, len(proxy)) + proxy.encode()
    raw += struct.pack("<I", len(bypass)) + bypass.encode()
    return base64.b64encode(raw).decode()


def response(**sections: object) -> str:
    return json.dumps(
        {
            "version": 1,
            "collected_at": "2026-01-01T00:00:00Z",
            "registry": {
                "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa\\LmCompatibilityLevel": {
                    "present": True,
                    "type": "REG_DWORD",
                    "data": 3,
                },
                "HKLM\\SYSTEM\\X\\Denied": {"error": {"reason": "access_denied", "detail": "no"}},
            },
            "sections": sections,
        }
    )


def test_response_maps_to_facts() -> None:
    text = response(
        os={
            "ok": {
                "caption": "Windows Server 2022",
                "version": "10.0.20348",
                "build": 20348,
                "product_type": 3,
                "domain": "corp.auditor.test",
                "joined": True,
            }
        },
        services={"ok": {"W3SVC": {"state": "Running", "start_mode": "Automatic"}}},
        ssh={
            "ok": {
                "present": True,
                "path": "C:\\ProgramData\\ssh\\sshd_config",
                "files": [
                    {
                        "path": "C:\\ProgramData\\ssh\\sshd_config",
                        "text": "# PasswordAuthentication no\r\nSubsystem powershell c:/pwsh.exe -sshs\r\n",
                    }
                ],
                "includes": {},
                "administrators_authorized_keys": {"present": False, "sddl": None},
            }
        },
        winhttp_proxy={
            "ok": {
                "present": True,
                "type": "REG_BINARY",
                "data": winhttp_blob("proxy.corp:8080", "<local>"),
            }
        },
        certificates={"error": {"reason": "access_denied", "detail": "Cert:\\ denied"}},
        session_configurations={
            "ok": [
                {
                    "Name": "microsoft.powershell",
                    "Enabled": "true",
                    "SecurityDescriptorSddl": "O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;RM)S:P(AU;FA;GA;;;WD)",
                }
            ]
        },
    )
    facts, registry = parse_response(
        text,
        ["os", "services", "ssh", "winhttp_proxy", "certificates", "session_configurations", "iis"],
    )
    assert facts["host.roles"] == Available(
        ["member_server", "server", "iis"], facts["host.roles"].source
    )  # type: ignore[union-attr]
    ssh = facts["ssh.sshd_config"]
    assert isinstance(ssh, Available)
    assert ssh.value["password_authentication"] is None  # only commented out: unset, so "yes"
    assert ssh.value["powershell_subsystem"] is True
    proxy = facts["winhttp.proxy"]
    assert isinstance(proxy, Available)
    assert proxy.value == {"direct": False, "proxy_server": "proxy.corp:8080", "bypass": "<local>"}
    certs = facts["certificates"]
    assert isinstance(certs, Unavailable) and certs.reason is Reason.ACCESS_DENIED
    iis = facts["iis.sites"]
    assert isinstance(iis, Unavailable) and iis.reason is Reason.PROTOCOL_ERROR
    sessions = facts["powershell.session_configurations"]
    assert isinstance(sessions, Available)
    assert sessions.value[0]["allowed_sids"] == ["S-1-5-32-544", "S-1-5-32-580"]
    lm = registry["HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa\\LmCompatibilityLevel"]
    assert lm == Available({"present": True, "type": "REG_DWORD", "data": 3})
    denied = registry["HKLM\\SYSTEM\\X\\Denied"]
    assert isinstance(denied, Unavailable) and denied.reason is Reason.ACCESS_DENIED


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"version": 2}',
        '{"version": 1, "sections": []}',
        json.dumps({"version": 1, "registry": {}, "sections": {"os": {"ok": {"caption": "x"}}}}),
    ],
)
def test_malformed_responses_raise_a_contract_error(text: str) -> None:
    with pytest.raises(CollectorResponseError):
        parse_response(text, ["os"])
