"""WinRM as a host collector: the transport from the probes' answers, the request from what is
wanted, and every fact it was to gather unavailable, with the reason, when it cannot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from auditor.collectors.protocol import Collected, HostTarget, Wanted
from auditor.collectors.winrm.client import (
    CollectionFailed,
    WinRMCollector,
    WinRMSettings,
    script_unavailable,
)
from auditor.collectors.winrm.request import build_request, request_json
from auditor.credentials import Credentials
from auditor.facts.model import Available, Fact, Reason, Unavailable
from auditor.facts.schema import Gatherer, gathered_by

# Read over WS-Man whatever the request says: the Get and the Enumerate always run.
WSMAN_FACTS = gathered_by(Gatherer.WSMAN_CONFIG) | gathered_by(Gatherer.WSMAN_LISTENERS)


def choose_transport(
    transport: str, settings: WinRMSettings, probes: Mapping[str, Fact]
) -> tuple[bool, str]:
    """(use HTTPS?, why). `auto` never sends credentials over TLS it could not validate."""
    if transport != "auto":
        return transport == "https", f"transport {transport} (configured)"
    if settings.insecure or settings.auth in ("basic", "certificate"):
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


def _unavailable(
    reason: Reason, detail: str, request: dict[str, Any]
) -> tuple[dict[str, Fact], dict[str, Fact]]:
    """Every fact and registry value this collection was to gather, unavailable for one reason."""
    facts, registry = script_unavailable(reason, detail, request)
    facts.update(dict.fromkeys(sorted(WSMAN_FACTS), Unavailable(reason, detail)))
    return facts, registry


class WinRMHostCollector:
    """A HostCollector: config Get, listener Enumerate and collect.ps1, with credentials. Without
    them (a probe-only scan) its facts are not_collected, and that is not a failure."""

    def __init__(
        self, settings: WinRMSettings, transport: str, credentials: Credentials | None
    ) -> None:
        self.settings = settings
        self.transport = transport  # https | http | auto
        self.credentials = credentials

    def collect(self, target: HostTarget, wanted: Wanted, gathered: Collected) -> Collected:
        request = build_request(wanted)
        if self.credentials is None:
            detail = "probe-only scan: no credentials were given"
            facts, registry = _unavailable(Reason.NOT_COLLECTED, detail, request)
            return Collected(facts, registry, {"transport": None, "messages": 0})
        use_https, why = choose_transport(self.transport, self.settings, gathered.facts)
        collector = WinRMCollector(replace(self.settings, use_https=use_https), self.credentials)
        try:
            collection = collector.collect(target.name, request, request_json(wanted))
        except CollectionFailed as exc:
            facts, registry = _unavailable(exc.reason, exc.detail, request)
            failure = Unavailable(exc.reason, exc.detail)
            return Collected(facts, registry, {"transport": why, "messages": 0}, failure)
        info = {"transport": why, "messages": collection.messages}
        return Collected(collection.facts, collection.registry, info)
