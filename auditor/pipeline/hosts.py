"""Collecting hosts: the rules' questions turned into one request, asked of every host at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from auditor.collectors.host import HostScanSettings, HostTarget, collect_host
from auditor.collectors.winrm.request import build_request, request_json
from auditor.credentials import Credentials
from auditor.facts.model import FactDocument
from auditor.pipeline.fleet import FleetOutcome, collect_all
from auditor.rules.model import Rule

OnDone = Callable[[FactDocument, dict[str, Any]], None]


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
    request = build_request(rules)
    text = request_json(rules)

    def collect(target: HostTarget) -> tuple[FactDocument, dict[str, Any]]:
        return collect_host(target, settings, creds, request, text)

    return collect_all(targets, collect, concurrency, deadline, on_done or (lambda d, i: None))
