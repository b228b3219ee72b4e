"""Targets enter once and with a name a host could have (issue 13, item 12)."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.collectors.winrm.request import collector_script
from auditor.facts.io import MAX_NAME_LENGTH
from auditor.lab.definition import load_definition
from auditor.lab.responder import CollectorResponder, HostMaterial
from tests.cli import auditor

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hosts" / "web01-iis.json"
HUGE = "h" * 10_000_000  # what the hostile sweep used: 10 MB, copied into every result


def test_an_empty_facts_file_is_no_targets_not_a_clean_scan(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text("[]")
    done = auditor("scan", "facts", "empty.json", "-o", "out", cwd=tmp_path)
    assert done.returncode == 2, done.stdout
    assert (
        done.stderr
        == "error: empty.json: no targets: the file holds an empty list of facts documents\n"
    )
    assert not (tmp_path / "out").exists()


def test_a_target_twice_in_one_file_is_refused(tmp_path: Path) -> None:
    document = json.loads(EXAMPLE.read_text())
    (tmp_path / "dup.json").write_text(json.dumps([document, document]))
    done = auditor("scan", "facts", "dup.json", "-o", "out", cwd=tmp_path)
    assert done.returncode == 2, done.stdout
    assert done.stderr == (
        "error: dup.json[1]: target host:web01.corp.auditor.test is also in dup.json[0]: "
        "give each target once\n"
    )


def test_a_target_in_two_files_is_refused(tmp_path: Path) -> None:
    done = auditor("scan", "facts", EXAMPLE, EXAMPLE, "-o", "out", cwd=tmp_path)
    assert done.returncode == 2
    assert f"target host:web01.corp.auditor.test is also in {EXAMPLE}" in done.stderr


def test_a_huge_target_name_in_a_facts_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    document = json.loads(EXAMPLE.read_text())
    document["target"]["name"] = HUGE
    (tmp_path / "huge.json").write_text(json.dumps(document))
    done = auditor("scan", "facts", "huge.json", "-o", "out", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: huge.json: target.name is {len(HUGE)} characters long; "
        f"a DNS name has at most {MAX_NAME_LENGTH}\n"
    )
    assert not (tmp_path / "out").exists()


def test_the_longest_dns_name_is_still_accepted(tmp_path: Path) -> None:
    document = json.loads(EXAMPLE.read_text())
    document["target"]["name"] = "h" * MAX_NAME_LENGTH
    (tmp_path / "long.json").write_text(json.dumps(document))
    done = auditor("scan", "facts", "long.json", "-o", "out", "-f", "json", "-q", cwd=tmp_path)
    assert done.returncode in (0, 1, 3), done.stderr


def test_a_huge_host_name_in_a_configuration_is_refused_without_echoing_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "scan.yaml").write_text(f"hosts: [ok.corp.test, {HUGE}]\n")
    done = auditor("scan", "host", "--probe-only", "--config", "scan.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "error: scan.yaml:1: hosts.1: longer than 253 characters\n"


def test_a_too_long_host_name_on_the_command_line_is_refused(tmp_path: Path) -> None:
    name = "a" * 300  # the kernel caps one argument at 128 KiB: 10 MB cannot get here
    done = auditor("scan", "host", "--probe-only", name, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: host name {'a' * 40}...: 300 characters long; a DNS name has at most 253\n"
    )


def test_a_huge_host_name_in_collector_output_is_refused_without_echoing_it(
    tmp_path: Path,
) -> None:
    """collect.ps1's answer names its host in the os section: bounded where it is read too."""
    assert auditor("collector-script", "-o", "collect.ps1", cwd=tmp_path).returncode == 0
    request = json.loads((tmp_path / "collect.request.json").read_text())
    definition = load_definition(None)
    wks = next(h for h in definition.hosts if h.name == "WKS01")
    material = HostMaterial(definition.domain.realm, "CORP", "S-1-5-21-1-2-3", None, None)
    answer = json.loads(CollectorResponder(wks, material).respond(request))
    answer["sections"]["os"]["ok"]["hostname"] = HUGE
    (tmp_path / "wks01.json").write_text(json.dumps(answer))
    done = auditor("scan", "facts", "wks01.json", "-o", "out", cwd=tmp_path)
    assert done.returncode == 2
    name = f"{HUGE}.{answer['sections']['os']['ok']['domain']}"  # a short name gets its domain
    assert done.stderr == (
        f"error: wks01.json: target.name is {len(name)} characters long; "
        f"a DNS name has at most {MAX_NAME_LENGTH}\n"
    )
    assert not (tmp_path / "out").exists()


def test_the_collector_script_s_request_is_an_offline_one(tmp_path: Path) -> None:
    """Run by hand on a host, the script reads what WS-Man reads online as well."""
    assert auditor("collector-script", "-o", "collect.ps1", cwd=tmp_path).returncode == 0
    request = json.loads((tmp_path / "collect.request.json").read_text())
    assert request["sections"][-2:] == ["winrm_config", "winrm_listeners"]
    assert (tmp_path / "collect.ps1").read_text() == collector_script()
