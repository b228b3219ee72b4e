"""A lab definition: the domain to seed and the hosts to emulate, from one YAML file."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditor.errors import InputError
from auditor.lab.domain_spec import DomainSpec, DomainSpecError, parse_domain_spec
from auditor.lab.hosts import HostProfile, HostProfileError, parse_host
from auditor.resources import package_path
from auditor.yamlio import YamlProblem, load_text

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


def parse_definition(data: Any, source: str) -> LabDefinition:
    """Validate a whole definition; every problem is reported together (exit code 2)."""
    if not isinstance(data, dict) or set(data) - {"domain", "hosts"} or "domain" not in data:
        raise InputError(f"{source}: a lab definition is a mapping with 'domain' and 'hosts'")
    problems: list[str] = []
    try:
        domain = parse_domain_spec(data["domain"], source=source)
    except DomainSpecError as exc:
        problems.extend(str(exc).splitlines())
    hosts = []
    for i, raw in enumerate(data.get("hosts") or []):
        try:
            host = parse_host(raw, f"{source}: hosts[{i}]")
        except HostProfileError as exc:
            problems.extend(exc.problems)
            continue
        if host is not None:
            hosts.append(host)
    seen: dict[str, str] = {}
    for host in hosts:
        for key in (host.name.lower(), host.address):
            if key in seen:
                problems.append(f"{source}: hosts: {host.name} repeats {key} (also {seen[key]})")
            seen[key] = host.name
    if problems:
        raise InputError("\n".join(problems))
    return LabDefinition(domain, tuple(hosts), source)


def load_definition(path: Path | None) -> LabDefinition:
    """The given definition file, or the shipped default (default_domain.yaml + default_hosts.yaml)."""
    try:
        if path is None:
            data = load_text(_default_text("default_domain.yaml"))
            data["hosts"] = load_text(_default_text("default_hosts.yaml"))["hosts"]
            return parse_definition(data, "default lab")
        return parse_definition(load_text(path.read_text(encoding="utf-8")), str(path))
    except YamlProblem as exc:
        raise InputError(f"{path or 'default lab'}:{exc.line}: {exc.message}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the lab definition: {exc.strerror}") from None


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
