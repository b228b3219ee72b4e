"""One host's facts document: its collectors in order (probes, then WinRM), merged into one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.clock import utc_now
from auditor.collectors.probes.collector import Probes, ReportedPortProbes
from auditor.collectors.protocol import Collected, HostCollector, HostTarget, Wanted
from auditor.collectors.winrm.client import WinRMSettings
from auditor.collectors.winrm.collector import WinRMHostCollector
from auditor.credentials import Credentials
from auditor.facts.io import write_document
from auditor.facts.model import Available, DocumentKind, Fact, FactDocument, Target, Unavailable

__all__ = [
    "HostScanSettings",
    "HostTarget",
    "collect_host",
    "host_collectors",
    "save_document",
]


@dataclass(frozen=True)
class HostScanSettings:
    winrm: WinRMSettings
    # https | http | auto (HTTPS when its certificate validates, else HTTP+encryption)
    transport: str = "https"
    probes: bool = True
    probe_timeout: float = 5.0


def host_collectors(
    settings: HostScanSettings, credentials: Credentials | None
) -> list[HostCollector]:
    """The collectors every host goes through, in order: the probes (unless turned off), then
    WinRM, which chooses its transport from what they found, then the probes again on the
    ports WinRM found the host's listeners on, where they differ."""
    winrm = WinRMHostCollector(settings.winrm, settings.transport, credentials)
    if not settings.probes:
        return [winrm]
    timeout, ca_bundle = settings.probe_timeout, settings.winrm.ca_bundle
    return [Probes(timeout, ca_bundle), winrm, ReportedPortProbes(timeout, ca_bundle)]


def collect_host(
    target: HostTarget,
    settings: HostScanSettings,
    credentials: Credentials | None,
    wanted: Wanted,
) -> tuple[FactDocument, dict[str, Any]]:
    """The host's facts document and how it was collected (transport, message count)."""
    collected_at = utc_now()
    facts: dict[str, Fact] = {}
    registry: dict[str, Fact] = {}
    info: dict[str, Any] = {}
    failure: Unavailable | None = None
    if settings.probes:
        wanted = wanted.adding(ReportedPortProbes.READS)
    for collector in host_collectors(settings, credentials):
        gathered = Collected(dict(facts), dict(registry), dict(info), failure)
        collected = collector.collect(target, wanted, gathered)
        facts.update(collected.facts)
        registry.update(collected.registry)
        info.update(collected.info)
        failure = failure or collected.failure
    roles = facts.get("host.roles")
    if isinstance(roles, Available) and target.extra_roles:
        facts["host.roles"] = Available(sorted({*roles.value, *target.extra_roles}), roles.source)
    known_roles = facts.get("host.roles")
    doc = FactDocument(
        target=Target(
            DocumentKind.HOST,
            target.name,
            target.address,
            tuple(known_roles.value) if isinstance(known_roles, Available) else target.extra_roles,
        ),
        facts=facts,
        registry=registry,
        collected_at=collected_at,
        collector="auditor winrm+probes",
        failure=failure,
    )
    return doc, info


def save_document(doc: FactDocument, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{doc.target.name}.json"
    write_document(doc, path)
    return path
