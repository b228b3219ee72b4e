"""A lab definition: the domain to seed and the hosts to emulate, from one YAML file."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from auditor.errors import InputError, InputProblems
from auditor.lab.domain_spec import DomainSpec, read_domain
from auditor.lab.hosts import HostProfile, parse_host
from auditor.resources import package_path
from auditor.strict import Node, Problems
from auditor.yamlio import load_text

SCAN_ACCOUNT = "svc_auditor"


@dataclass(frozen=True)
class LabDefinition:
    domain: DomainSpec
    hosts: tuple[HostProfile, ...]
    source: str

    def fqdn(self, host: HostProfile) -> str:
        return host.fqdn(self.domain.realm)


def _default_text(name: str) -> str:
    return package_path("lab", name).read_text("utf-8")


def _host(node: Node) -> tuple[Node, HostProfile] | None:
    host = parse_host(node)
    return None if host is None else (node, host)


def _read(root: Node) -> LabDefinition | None:
    """Every problem of a whole definition goes to `root`'s collector (exit code 2 together)."""
    if root.mapping() is None:
        return None
    root.keys({"domain", "hosts"}, ("domain",))
    domain = read_domain(root["domain"]) if root["domain"].present else None
    hosts = root["hosts"].each(_host)
    seen: dict[str, str] = {}
    for node, host in hosts:
        for key in (host.name.lower(), host.address):
            if key in seen:
                node.fail(f"{host.name} repeats {key} (also {seen[key]})")
            seen[key] = host.name
    if domain is None:
        return None
    return LabDefinition(domain, tuple(host for _, host in hosts), root.problems.where)


def load_definition(path: Path | None) -> LabDefinition:
    """The given definition file, or the shipped default (default_domain.yaml + default_hosts.yaml)."""
    if path is None:
        problems = Problems("default lab")
        data = load_text(_default_text("default_domain.yaml"))
        data["hosts"] = load_text(_default_text("default_hosts.yaml"))["hosts"]
        definition = _read(problems.root(data))
    else:
        problems = Problems(str(path))
        try:
            root = problems.load(path)
        except OSError as exc:
            raise InputError(f"{path}: cannot read the lab definition: {exc.strerror}") from None
        definition = _read(root) if root is not None else None
    if definition is None or problems.items:  # None comes with its problem
        raise InputProblems(problems.items)
    return definition


def scale_hosts(definition: LabDefinition, count: int) -> LabDefinition:
    """`--hosts N`: clone the profiles round-robin to N hosts on 127.20.x.y, for scale tests."""
    if count <= len(definition.hosts) or not definition.hosts:
        return definition
    clones = list(definition.hosts)
    for n in range(len(definition.hosts), count):
        base = definition.hosts[n % len(definition.hosts)]
        clones.append(
            replace(
                base,
                name=f"H{n:05d}",
                address=f"127.20.{n // 250}.{n % 250 + 1}",
                expect_fail=base.expect_fail,
            )
        )
    return LabDefinition(definition.domain, tuple(clones), definition.source)
