"""The scan plan: every default in one place, flags over the file, and no other raw reader."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from auditor.pipeline import plan
from auditor.pipeline.config import parse_config
from auditor.reports.formats import OutputFormat
from auditor.results.vocabulary import Severity
from auditor.yamlio import load_text

PACKAGE = Path(plan.__file__).resolve().parents[1]


def _config(text: str) -> plan.ScanConfig:
    return parse_config(load_text(text), None)


def test_an_empty_configuration_gets_the_documented_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    scan = plan.build(plan.Command.HOST, plan.Flags(hosts=("A.corp.test",)), _config(""))
    assert scan.reports.directory == Path("auditor-report")
    assert scan.reports.formats == (OutputFormat.HTML, OutputFormat.JSON)
    assert scan.reports.threshold is Severity.HIGH
    assert scan.journal == Path("auditor-report/journal.jsonl")
    assert scan.hosts is not None
    assert scan.hosts.concurrency == 8
    assert scan.hosts.deadline is None
    assert scan.hosts.settings.transport == "https"
    assert scan.hosts.settings.winrm.auth == "negotiate"
    assert [t.name for t in scan.hosts.targets] == ["a.corp.test"]
    assert scan.domain is None


def test_flags_win_over_the_file_and_the_file_over_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = _config(
        "hosts: [a.corp.test, b.corp.test]\nconcurrency: 3\nhost_deadline: 60\nfail_on: low\n"
        "output: {formats: [md]}\nnames: {a.corp.test: 127.0.0.9}\n"
        "host_groups: {jump: {hosts: ['b.*'], roles: [jump_host]}}\n"
    )
    from_file = plan.build(plan.Command.HOST, plan.Flags(), config)
    assert from_file.hosts is not None
    assert from_file.hosts.concurrency == 3
    assert from_file.hosts.deadline == 60
    assert from_file.reports.threshold is Severity.LOW
    assert from_file.reports.formats == (OutputFormat.MARKDOWN,)
    assert [(t.name, t.address, t.extra_roles) for t in from_file.hosts.targets] == [
        ("a.corp.test", "127.0.0.9", ()),
        ("b.corp.test", "b.corp.test", ("jump_host",)),
    ]
    flags = plan.Flags(hosts=("c.corp.test",), concurrency=5, fail_on="critical", formats=("csv",))
    from_flags = plan.build(plan.Command.HOST, flags, config)
    assert from_flags.hosts is not None
    assert from_flags.hosts.concurrency == 5
    assert from_flags.reports.threshold is Severity.CRITICAL
    assert from_flags.reports.formats == (OutputFormat.CSV,)
    assert [t.name for t in from_flags.hosts.targets] == ["c.corp.test"]


def test_a_domain_scan_plans_the_directory_and_its_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = _config(
        "domain: {name: corp.test, dc: DC1.corp.test}\nhosts: [Extra.corp.test]\n"
        "credentials: {username: a, password: 'env:P'}\ninventory: {os: ['*server*']}\n"
    )
    scan = plan.build(plan.Command.DOMAIN, plan.Flags(concurrency=2), config)
    assert scan.domain is not None
    assert scan.domain.ldap.dc == "dc1.corp.test"
    assert scan.domain.ldap.realm == "corp.test"  # the Kerberos realm of `a` and of `CORP\\a`
    assert scan.domain.inventory.os == ("*server*",)
    assert scan.domain.inventory.enabled_only is True
    assert scan.hosts is not None
    assert scan.hosts.targets == ()  # the directory names them when the scan runs
    assert scan.hosts.also == ("extra.corp.test",)
    assert scan.hosts.concurrency == 2
    assert scan.credentials == plan.CredentialRef("a", "env:P")
    only_directory = plan.build(plan.Command.DOMAIN, plan.Flags(no_hosts=True), config)
    assert only_directory.hosts is None
    assert {r.scope.target.value for r in only_directory.rules} == {"domain"}


def test_probe_only_plans_no_logon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    flags = plan.Flags(hosts=("a.corp.test",), probe_only=True)
    scan = plan.build(plan.Command.HOST, flags, _config(""))
    assert scan.hosts is not None
    assert scan.hosts.credentials is None
    assert scan.credentials is None
    assert all(
        any(f.startswith("probe.") for f in (*r.facts, *r.optional_facts)) for r in scan.rules
    )


def _named(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def _raw_readers(path: Path) -> list[str]:
    """`config.raw`, `config.section(...)`, `x.config.path_value(...)`: reads of the raw file."""
    tree = ast.parse(path.read_text("utf-8"))
    return [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in {"raw", "section", "path_value"}
        and "config" in _named(node.value).lower()
    ]


def test_only_the_plan_reads_the_configuration_file() -> None:
    owners = {PACKAGE / "pipeline" / "config.py", PACKAGE / "pipeline" / "plan.py"}
    readers = [
        where
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in owners and "lab" not in path.relative_to(PACKAGE).parts
        for where in _raw_readers(path)
    ]
    assert readers == []
