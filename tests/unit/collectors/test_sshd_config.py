"""sshd_config read as sshd reads it, on the files Windows OpenSSH ships (tests/data/windows/ssh)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor.collectors import sshd_config
from auditor.collectors.winrm.response import parse_response
from auditor.engine.evaluate import evaluate
from auditor.facts.model import (
    Available,
    DocumentKind,
    Fact,
    FactDocument,
    Reason,
    Target,
    Unavailable,
)
from auditor.results.vocabulary import Status
from auditor.rules.pack import load_pack

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "windows" / "ssh"
MAIN = "C:\\ProgramData\\ssh\\sshd_config"
DEFAULT = (SAMPLES / "sshd_config_default").read_text()
PWSH = "Subsystem powershell c:/progra~1/powershell/7/pwsh.exe -sshs -NoLogo"


def answer(
    main: str, others: dict[str, str] | None = None, includes: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """The ssh section's answer as collect.ps1 writes it."""
    files = [{"path": MAIN, "text": main}]
    files += [{"path": path, "text": text} for path, text in (others or {}).items()]
    return {
        "present": True,
        "path": MAIN,
        "files": files,
        "includes": includes or {},
        "administrators_authorized_keys": {"present": False, "sddl": None},
    }


def ssh_fact(ok: dict[str, Any]) -> Fact:
    text = json.dumps(
        {
            "version": 1,
            "collected_at": "2026-01-01T00:00:00Z",
            "registry": {},
            "sections": {"ssh": {"ok": ok}},
        }
    )
    facts, _ = parse_response(text, ["ssh"])
    return facts["ssh.sshd_config"]


def value(ok: dict[str, Any]) -> dict[str, Any]:
    fact = ssh_fact(ok)
    assert isinstance(fact, Available), fact
    result: dict[str, Any] = fact.value
    return result


def rule_status(fact: Fact) -> Status:
    (rule,) = [r for r in load_pack() if r.id == "winrm-ssh-password-auth"]
    doc = FactDocument(Target(DocumentKind.HOST, "srv01"), {"ssh.sshd_config": fact}, "now")
    return evaluate(rule, doc).status


def test_windows_default_file_sets_nothing_but_the_administrators_keys() -> None:
    config = sshd_config.parse(MAIN, {MAIN: DEFAULT}, {})
    assert config.first("passwordauthentication") is None  # only commented out
    assert config.first("authorizedkeysfile") == sshd_config.Directive(
        "authorizedkeysfile", (".ssh/authorized_keys",), f"{MAIN}:39"
    )
    assert config.first("subsystem") is not None
    assert config.first("subsystem").args == ("sftp", "sftp-server.exe")  # type: ignore[union-attr]
    (block,) = config.blocks
    assert (block.criteria, block.where) == ("Group administrators", f"{MAIN}:87")
    assert [(d.keyword, d.args) for d in block.directives] == [
        ("authorizedkeysfile", ("__PROGRAMDATA__/ssh/administrators_authorized_keys",))
    ]
    found = value(answer(DEFAULT))
    assert found["password_authentication"] is None  # OpenSSH's default: yes
    assert found["password_authentication_match_blocks"] == []
    assert found["powershell_subsystem"] is False
    assert found["files"] == [MAIN]


def test_early_windows_default_with_a_lower_case_keyword_and_no_final_newline() -> None:
    text = (SAMPLES / "sshd_config_win32_openssh_2016").read_text()
    config = sshd_config.parse(MAIN, {MAIN: text}, {})
    agent = config.first("hostkeyagent")
    assert agent is not None and agent.args == ("\\\\.\\pipe\\openssh-ssh-agent",)
    assert config.blocks == []  # "#Match User anoncvs" is a comment


def test_the_first_value_wins_not_the_last() -> None:
    """The old parser kept the last value: a later "yes" made a host look open, and worse."""
    text = "PasswordAuthentication no\n" + DEFAULT.replace(
        "#PasswordAuthentication yes", "PasswordAuthentication yes"
    )
    found = value(answer(text + PWSH + "\n"))
    assert found["password_authentication"] is False


def test_a_line_appended_to_the_default_file_lands_in_its_administrators_match_block() -> None:
    """Windows' default ends in "Match Group administrators": what is appended after it applies
    to administrators only. The old parser read this appended "no" as global and passed."""
    text = DEFAULT + PWSH + "\nPasswordAuthentication no\n"
    found = value(answer(text))
    assert found["password_authentication"] is None
    assert found["password_authentication_match_blocks"] == [
        {
            "criteria": "Group administrators",
            "password_authentication": False,
            "where": f"{MAIN}:90",
        }
    ]
    assert found["powershell_subsystem"] is True  # a Subsystem inside a Match block still serves
    assert rule_status(ssh_fact(answer(text))) is Status.FAIL


def test_a_match_block_turning_passwords_on_fails_the_rule_with_its_criteria() -> None:
    text = (
        "PasswordAuthentication no\n"
        + PWSH
        + "\n"
        + DEFAULT
        + "Match Address 192.168.0.0/16,10.1.2.3\n    PasswordAuthentication yes\n"
    )
    found = value(answer(text))
    assert found["password_authentication"] is False
    assert found["password_authentication_match_blocks"] == [
        {
            "criteria": "Address 192.168.0.0/16,10.1.2.3",
            "password_authentication": True,
            "where": f"{MAIN}:92",
        }
    ]
    assert rule_status(ssh_fact(answer(text))) is Status.FAIL
    refused = answer("PasswordAuthentication no\n" + PWSH + "\n" + DEFAULT)
    assert rule_status(ssh_fact(refused)) is Status.PASS


def test_keywords_ignore_case_take_an_equals_sign_and_a_trailing_comment() -> None:
    found = value(answer("passwordauthentication=NO  # hardened\r\n" + PWSH + "\r\n"))
    assert found["password_authentication"] is False
    assert found["powershell_subsystem"] is True
    assert value(answer("Subsystem PowerShell pwsh.exe -sshs\n"))["powershell_subsystem"] is False


def test_include_files_count_where_the_include_line_stands() -> None:
    """No real Windows sshd_config with Include was found: these lines are ours."""
    first = "C:\\ProgramData\\ssh\\sshd_config.d\\10-hardening.conf"
    second = "C:\\ProgramData\\ssh\\sshd_config.d\\50-vendor.conf"
    others = {
        first: "PasswordAuthentication no\nMatch User backup\n  PasswordAuthentication yes\n",
        second: "PasswordAuthentication yes\n",
    }
    main = "Include sshd_config.d/*.conf\n" + PWSH + "\n" + DEFAULT
    # the host's glob answers in its own order; sshd reads the matches sorted
    found = value(answer(main, others, {"sshd_config.d/*.conf": [second, first]}))
    assert found["password_authentication"] is False
    assert found["files"] == [MAIN, first, second]
    assert [b["criteria"] for b in found["password_authentication_match_blocks"]] == ["User backup"]
    # the Match block of the included file ends with that file: the Subsystem line is global
    config = sshd_config.parse(MAIN, {MAIN: main, **others}, {"sshd_config.d/*.conf": [first]})
    assert config.first("subsystem") is not None
    assert config.first("subsystem").args[0] == "powershell"  # type: ignore[union-attr]


def test_an_include_inside_a_match_block_belongs_to_that_block() -> None:
    extra = "C:\\ProgramData\\ssh\\admins.conf"
    main = DEFAULT + 'Include "admins.conf"\n'
    found = value(answer(main, {extra: "PasswordAuthentication yes\n"}, {"admins.conf": [extra]}))
    assert found["password_authentication"] is None
    assert found["password_authentication_match_blocks"] == [
        {"criteria": "Group administrators", "password_authentication": True, "where": f"{extra}:1"}
    ]


def test_an_include_the_collector_did_not_expand_makes_the_fact_unavailable() -> None:
    fact = ssh_fact(answer("Include ~/extra.conf\nPasswordAuthentication no\n"))
    assert isinstance(fact, Unavailable) and fact.reason is Reason.COLLECTOR_ERROR
    assert "Include ~/extra.conf: not expanded by the collector" in fact.detail
    assert rule_status(fact) is Status.ERROR


def test_an_include_that_matches_nothing_is_no_error() -> None:
    found = value(
        answer("Include conf.d/*.conf\nPasswordAuthentication no\n", includes={"CONF.D/*.conf": []})
    )
    assert found["password_authentication"] is False  # Windows paths compare without case


def test_a_file_that_includes_itself_stops_at_sshd_s_depth_limit() -> None:
    fact = ssh_fact(answer("Include sshd_config\n", includes={"sshd_config": [MAIN]}))
    assert isinstance(fact, Unavailable)
    assert f"Include nested deeper than {sshd_config.MAX_INCLUDE_DEPTH}" in fact.detail


def test_a_value_sshd_refuses_makes_the_fact_unavailable() -> None:
    fact = ssh_fact(answer("PasswordAuthentication maybe\n"))
    assert isinstance(fact, Unavailable)
    assert f"{MAIN}:1: passwordauthentication 'maybe' is neither yes nor no" in fact.detail


def test_no_sshd_config_and_the_administrators_keys_file() -> None:
    assert value({"present": False, "path": MAIN}) == {"present": False, "path": MAIN}
    sddl = "O:BAG:SYD:PAI(A;;FA;;;SY)(A;;FA;;;BA)"
    ok = answer(DEFAULT) | {"administrators_authorized_keys": {"present": True, "sddl": sddl}}
    assert value(ok)["administrators_authorized_keys"] == {"present": True, "sddl": sddl}
