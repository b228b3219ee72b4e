"""Collecting hosts: the rules' questions turned into one request, asked of every host at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from auditor.collectors.host import HostScanSettings, HostTarget, collect_host
from auditor.collectors.protocol import Wanted
from auditor.credentials import Credentials
from auditor.facts.model import DocumentKind, FactDocument
from auditor.pipeline.fleet import FleetOutcome, collect_all
from auditor.rules.model import Rule

OnDone = Callable[[FactDocument, dict[str, Any]], None]


def wanted_by(rules: Iterable[Rule]) -> Wanted:
    """What every host must gather for these rules: the facts the host rules read and the
    registry values they name. Collectors get this, never the rules."""
    host_rules = [r for r in rules if r.scope.target is DocumentKind.HOST]
    return Wanted.of(
        (f for r in host_rules for f in (*r.facts, *r.optional_facts)),
        (p for r in host_rules for s in r.registry for p in (s.policy, s.local) if p is not None),
    )


def collect_hosts(
    targets: Sequence[HostTarget],
    settings: HostScanSettings,
    creds: Credentials | None,
    rules: Sequence[Rule],
    concurrency: int,
    on_done: OnDone | None = None,
    deadline: float | None = None,
) -> FleetOutcome:
    """Collect every host concurrently; one host failing never stops the others, and none
    outlives `deadline` seconds (see fleet.collect_all)."""
    wanted = wanted_by(rules)

    def collect(target: HostTarget) -> tuple[FactDocument, dict[str, Any]]:
        return collect_host(target, settings, creds, wanted)

    return collect_all(targets, collect, concurrency, deadline, on_done or (lambda d, i: None))
