"""One host's facts document: credential-free probes, then WinRM collection when credentials exist."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditor.clock import utc_now
from auditor.collectors.probes import probe_rdp, probe_winrm
from auditor.collectors.winrm.client import (
    CollectionFailed,
    WinRMCollector,
    WinRMSettings,
    script_unavailable,
)
from auditor.collectors.winrm.wsman_config import CONFIG_FACTS
from auditor.credentials import Credentials
from auditor.facts.io import write_document
from auditor.facts.model import (
    Available,
    DocumentKind,
    Fact,
    FactDocument,
    Reason,
    Source,
    Target,
    Unavailable,
)


@dataclass(frozen=True)
class HostTarget:
    name: str  # the name certificates and Kerberos know it by (FQDN)
    address: str  # where to connect (from the name map, or the name itself)
    extra_roles: tuple[str, ...] = ()  # from the scan configuration's host groups


@dataclass(frozen=True)
class HostScanSettings:
    winrm: WinRMSettings
    # https | http | auto (HTTPS when its certificate validates, else HTTP+encryption)
    transport: str = "https"
    probes: bool = True
    probe_timeout: float = 5.0


def run_probes(target: HostTarget, settings: HostScanSettings) -> dict[str, Fact]:
    ca = settings.winrm.ca_bundle
    t = settings.probe_timeout
    return {
        "probe.winrm.http": Available(
            probe_winrm(target.name, target.address, 5985, False, t, ca).to_fact(), Source.PROBE
        ),
        "probe.winrm.https": Available(
            probe_winrm(target.name, target.address, 5986, True, t, ca).to_fact(), Source.PROBE
        ),
        "probe.rdp": Available(
            probe_rdp(target.name, target.address, 3389, t, ca).to_fact(), Source.PROBE
        ),
    }


def choose_transport(settings: HostScanSettings, probes: dict[str, Fact]) -> tuple[bool, str]:
    """(use HTTPS?, why). `auto` never sends credentials over TLS it could not validate."""
    if settings.transport != "auto":
        return settings.transport == "https", f"transport {settings.transport} (configured)"
    if settings.winrm.insecure or settings.winrm.auth in ("basic", "certificate"):
        return True, "HTTPS (the authentication method needs it)"
    https, http = probes.get("probe.winrm.https"), probes.get("probe.winrm.http")
    cert = (
        https.value.get("tls", {})
        if isinstance(https, Available) and https.value["listening"]
        else None
    )
    certificate = (cert or {}).get("certificate") or {}
    if certificate.get("chain_valid") and certificate.get("name_matches"):
        return True, "HTTPS (listener certificate validated)"
    if isinstance(http, Available) and http.value["listening"]:
        why = "no HTTPS listener" if cert is None else "HTTPS certificate did not validate"
        return False, f"HTTP with message encryption ({why})"
    return True, "HTTPS (no usable listener found by the probes)"


def _failed_facts(
    failure: CollectionFailed, request: dict[str, Any]
) -> tuple[dict[str, Fact], dict[str, Fact]]:
    missing = Unavailable(failure.reason, failure.detail)
    facts, registry = script_unavailable(failure.reason, failure.detail, request)
    facts.update(dict.fromkeys(CONFIG_FACTS, missing))
    facts["winrm.listeners"] = missing
    return facts, registry


def collect_host(
    target: HostTarget,
    settings: HostScanSettings,
    credentials: Credentials | None,
    request: dict[str, Any],
    request_json: str,
) -> tuple[FactDocument, dict[str, Any]]:
    """The host's facts document and how it was collected (transport, message count)."""
    collected_at = utc_now()
    facts: dict[str, Fact] = run_probes(target, settings) if settings.probes else {}
    registry: dict[str, Fact] = {}
    info: dict[str, Any] = {"transport": None, "messages": 0}
    failure: Unavailable | None = None
    if credentials is None:
        detail = "probe-only scan: no credentials were given"
        missing_facts, registry = _failed_facts(
            CollectionFailed(Reason.NOT_COLLECTED, detail), request
        )
        facts = {**missing_facts, **facts}
    else:
        use_https, why = choose_transport(settings, facts)
        info["transport"] = why
        collector = WinRMCollector(replace(settings.winrm, use_https=use_https), credentials)
        try:
            collection = collector.collect(target.name, request, request_json)
            facts.update(collection.facts)
            registry = collection.registry
            info["messages"] = collection.messages
        except CollectionFailed as exc:
            failed, registry = _failed_facts(exc, request)
            facts = {**failed, **facts}
            failure = Unavailable(exc.reason, exc.detail)
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
