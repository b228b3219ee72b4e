"""The collection table (x-collected-by in host-facts-1.json) is complete, and everything derived
from it agrees: the probes, the WS-Man reads, collect.ps1's sections, their parsers, the failure
facts, the request and the lab's answers."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import tree_sitter
import tree_sitter_powershell

from auditor.collectors.host import HostScanSettings, collect_host
from auditor.collectors.probes.collector import PROBES
from auditor.collectors.protocol import Collected, HostTarget, Wanted
from auditor.collectors.winrm.client import WinRMSettings
from auditor.collectors.winrm.collector import WSMAN_FACTS, WinRMHostCollector
from auditor.collectors.winrm.request import (
    ANSWERED_FACTS,
    OFFLINE_SECTION_FACTS,
    SECTION_FACTS,
    build_request,
    collector_script,
)
from auditor.collectors.winrm.response import SECTION_PARSERS, Answer, parse_response
from auditor.collectors.winrm.wsman_config import CONFIG_FACTS, LISTENERS_FACT
from auditor.errors import InputProblems
from auditor.facts.model import Available, DocumentKind, Reason, Unavailable
from auditor.facts.schema import (
    FactSchemaError,
    Gatherer,
    _collected_by,
    fact_names,
    gathered_by,
    host_collection,
)
from auditor.lab.definition import load_definition
from auditor.lab.hosts import HostProfile, parse_host
from auditor.lab.pki import CertKind, create_ca, issue_host_cert
from auditor.lab.responder import CollectorResponder, HostMaterial, default_answers
from auditor.lab.winrm.config import WinRMHostConfig
from auditor.resources import package_path
from auditor.strict import Problems

HOST_FACTS = fact_names(DocumentKind.HOST)


def _host(raw: dict[str, object], where: str) -> HostProfile:
    """One lab host read as the lab definition reads it; its problems raised together."""
    problems = Problems(where, lines=False)
    host = parse_host(problems.root(raw))
    problems.check()
    assert host is not None
    return host


EVERYTHING = Wanted.of(HOST_FACTS, ())
NOT_PROBED = HOST_FACTS - gathered_by(Gatherer.PROBE)


def test_every_host_fact_names_exactly_one_gatherer() -> None:
    text = package_path("facts", "schemas", "host-facts-1.json").read_text("utf-8")
    assert set(host_collection()) == HOST_FACTS
    # Each fact names one at least (above); as many as there are facts means one each.
    assert len(re.findall(r'"x-collected-by":', text)) == len(HOST_FACTS)
    assert {by.gatherer for by in host_collection().values()} == set(Gatherer)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "x-collected-by must be one string, not None"),
        ("ldap", "'ldap' is not one of probe, wsman-config, wsman-listeners, script:SECTION"),
        ("script", "'script' names no section (script:SECTION)"),
        ("script:two words", "'script:two words' names no section"),
        ("probe:rdp", "'probe:rdp': only script:SECTION names a section"),
    ],
)
def test_a_bad_gatherer_is_refused_with_the_fact_named(raw: object, message: str) -> None:
    with pytest.raises(FactSchemaError, match=re.escape(message)) as caught:
        _collected_by("host.example", raw)
    assert str(caught.value).startswith("host-facts-1.json: host.example: x-collected-by")


def test_probes_and_wsman_reads_gather_their_facts() -> None:
    assert set(PROBES) == gathered_by(Gatherer.PROBE)
    assert gathered_by(Gatherer.WSMAN_LISTENERS) == {LISTENERS_FACT}
    # CONFIG_FACTS is the table's; that parse_config reads each of them on a real Windows
    # answer is test_wsman_config.py::test_real_windows_config_answer.


def script_section_names(source: bytes) -> list[str]:
    """The first argument of every `Invoke-Section 'name' { ... }` in collect.ps1."""
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    names, stack = [], [parser.parse(source).root_node]
    while stack:
        node = stack.pop()
        stack.extend(reversed(node.children))
        name = next((c for c in node.children if c.type == "command_name"), None)
        if node.type != "command" or name is None or name.text != b"Invoke-Section":
            continue
        elements = next(c for c in node.children if c.type == "command_elements")
        argument = next(c for c in elements.children if c.type == "array_literal_expression")
        literal = next(c for c in _walk(argument) if c.type == "string_literal")
        names.append((literal.text or b"").decode().strip("'\""))
    return names


def _walk(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    out, stack = [], [node]
    while stack:
        item = stack.pop()
        out.append(item)
        stack.extend(reversed(item.children))
    return out


def test_every_script_section_has_a_parser_and_a_section_in_collect_ps1() -> None:
    in_script = script_section_names(collector_script().encode())
    assert len(in_script) == len(set(in_script)), in_script
    assert set(in_script) == set(ANSWERED_FACTS) == set(SECTION_PARSERS)
    # the offline-only sections read what WS-Man reads online, and nothing else
    assert {f for facts in OFFLINE_SECTION_FACTS.values() for f in facts} == WSMAN_FACTS
    # and the reader does find sections: one more in the script would be seen
    extra = collector_script() + "\nInvoke-Section 'extra' { 1 }\n"
    assert script_section_names(extra.encode()) == [*in_script, "extra"]


def test_the_request_asks_for_the_sections_of_the_wanted_facts() -> None:
    assert build_request(Wanted.of((), ()))["sections"] == ["os", "services"]
    iis = build_request(Wanted.of({"iis.sites", "probe.rdp"}, ("HKLM\\A\\B",)))
    assert iis["sections"] == ["os", "iis", "services"]
    assert iis["registry"] == ["HKLM\\A\\B"]
    assert build_request(EVERYTHING)["sections"] == list(SECTION_FACTS)
    # online, WS-Man reads WinRM's configuration: only an offline request asks the script
    offline = build_request(EVERYTHING, offline=True)["sections"]
    assert offline == [*SECTION_FACTS, "winrm_config", "winrm_listeners"]
    listeners_only = build_request(Wanted.of({"winrm.listeners"}, ()), offline=True)
    assert listeners_only["sections"] == ["os", "services", "winrm_listeners"]


def test_without_credentials_every_fact_winrm_would_gather_is_not_collected() -> None:
    target = HostTarget("h.corp.test", "127.0.0.1")
    wanted = Wanted.of({"iis.sites"}, ("HKLM:\\SOFTWARE\\X\\Y",))
    got = WinRMHostCollector(WinRMSettings(), "auto", None).collect(target, wanted, Collected({}))
    table = host_collection()
    expected = {f for f, by in table.items() if by.section in ("os", "iis", "services")}
    assert set(got.facts) == CONFIG_FACTS | {LISTENERS_FACT} | expected
    assert set(got.registry) == {"HKLM\\SOFTWARE\\X\\Y"}
    for fact in (*got.facts.values(), *got.registry.values()):
        assert isinstance(fact, Unavailable) and fact.reason is Reason.NOT_COLLECTED
    assert got.failure is None
    assert got.info == {"transport": None, "messages": 0}


def test_a_probe_only_document_carries_every_fact_wanted_from_winrm() -> None:
    settings = HostScanSettings(WinRMSettings(), probes=False)
    target = HostTarget("h.corp.test", "127.0.0.1", ("jump_host",))
    doc, info = collect_host(target, settings, None, EVERYTHING)
    assert set(doc.facts) == NOT_PROBED
    assert doc.failure is None and info == {"transport": None, "messages": 0}
    assert doc.target.roles == ("jump_host",)
    assert doc.collector == "auditor winrm+probes"


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> HostMaterial:
    """A domain and certificates issued by a lab CA, as `auditor lab up` makes them."""
    directory = tmp_path_factory.mktemp("pki")
    ca = create_ca(directory)
    https = issue_host_cert(ca, directory / "https", "fs01.corp.auditor.test")
    rdp = issue_host_cert(ca, directory / "rdp", "fs01.corp.auditor.test", CertKind.SELF_SIGNED)
    return HostMaterial("corp.auditor.test", "CORP", "S-1-5-21-1-2-3", https, rdp)


def test_the_lab_answers_every_section_with_what_its_parser_reads(material: HostMaterial) -> None:
    request = build_request(EVERYTHING)
    for host in load_definition(None).hosts:
        text = CollectorResponder(host, material).respond(request)
        answered = json.loads(text)["sections"]
        assert set(answered) == set(SECTION_FACTS), host.name
        ok = {name: entry["ok"] for name, entry in answered.items()}
        now = dt.datetime.now(dt.UTC)
        for name, answer in ok.items():
            found = SECTION_PARSERS[name](Answer(answer, ok, now))
            assert set(found) == set(SECTION_FACTS[name]), (host.name, name)
        facts, _ = parse_response(text, list(SECTION_FACTS))
        assert set(facts) == NOT_PROBED - CONFIG_FACTS - {LISTENERS_FACT}
        assert all(isinstance(f, Available) for f in facts.values()), (host.name, facts)


def test_the_lab_s_default_answers_are_for_script_sections() -> None:
    assert set(default_answers()) <= set(SECTION_FACTS)
    assert default_answers()["session_configurations"][0]["Name"] == "microsoft.powershell"


def test_a_profile_answers_a_section_verbatim_and_unknown_sections_are_refused(
    material: HostMaterial,
) -> None:
    answer = {
        "present": True,
        "path": "D:\\ssh\\sshd_config",
        "files": [{"path": "D:\\ssh\\sshd_config", "text": "PasswordAuthentication no\n"}],
        "includes": {},
        "administrators_authorized_keys": {"present": False, "sddl": None},
    }
    host = _host(
        {
            "name": "FS09",
            "address": "127.10.9.9",
            "roles": ["member_server"],
            "sections": {"ssh": answer},
        },
        "test",
    )
    sent = json.loads(CollectorResponder(host, material).respond({"sections": ["ssh", "os"]}))
    assert sent["sections"]["ssh"] == {"ok": answer}
    assert sent["sections"]["os"]["ok"]["hostname"] == "FS09"  # the others still derived
    with pytest.raises(InputProblems) as caught:
        _host({"name": "FS09", "address": "127.10.9.9", "sections": {"bogus": 1}}, "x.yaml")
    assert caught.value.problems[0].startswith("x.yaml: sections: unknown key 'bogus' (allowed: ")


def test_a_section_the_lab_does_not_derive_is_answered_from_data(material: HostMaterial) -> None:
    host = _host({"name": "FS09", "address": "127.10.9.9", "roles": []}, "test")

    class DerivesNothing(CollectorResponder):
        def _derived(self, request: object) -> dict[str, object]:  # type: ignore[override]
            return {}

    sent = json.loads(
        DerivesNothing(host, material).respond({"sections": ["session_configurations", "rdp"]})
    )
    assert sent["sections"] == {
        "session_configurations": {"ok": default_answers()["session_configurations"]}
    }


def test_the_lab_answers_the_offline_sections_with_its_ws_man_xml(material: HostMaterial) -> None:
    host = _host({"name": "FS09", "address": "127.10.9.9", "roles": ["member_server"]}, "test")
    config = WinRMHostConfig("fs09.corp.auditor.test", "127.10.9.9", https_port=8443)
    text = CollectorResponder(host, material, config).respond(
        build_request(EVERYTHING, offline=True)
    )
    facts, _ = parse_response(text, list(ANSWERED_FACTS))
    assert set(facts) == NOT_PROBED
    assert all(isinstance(f, Available) for f in facts.values()), facts
    listeners = facts["winrm.listeners"]
    assert isinstance(listeners, Available)
    assert [(x["transport"], x["port"]) for x in listeners.value] == [("HTTP", 5985)]
    # without its WS-Man side (an online request never asks), the lab leaves them unanswered
    sent = json.loads(CollectorResponder(host, material).respond(build_request(EVERYTHING, True)))
    assert set(sent["sections"]) == set(SECTION_FACTS)


def test_a_profile_s_listener_ports_are_ports() -> None:
    host = _host(
        {
            "name": "FS09",
            "address": "127.10.9.9",
            "winrm": {"https_port": 8443},
            "rdp": {"port": 3390},
        },
        "test",
    )
    assert (host.winrm.http_port, host.winrm.https_port, host.rdp.port) == (5985, 8443, 3390)
    with pytest.raises(InputProblems) as caught:
        _host({"name": "FS09", "address": "127.10.9.9", "rdp": {"port": 0}}, "x.yaml")
    assert caught.value.problems == ["x.yaml: rdp.port: must be between 1 and 65535, got 0"]
