"""The credential-free probes as a host collector: one probe per fact, listed as data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.collectors.probes.rdp import probe_rdp
from auditor.collectors.probes.winrm import probe_winrm
from auditor.collectors.protocol import Collected, HostTarget, Wanted
from auditor.facts.model import Available, Fact, Source

# fact -> probe(target, timeout, ca_bundle); host-facts-1.json marks these `probe`.
PROBES: dict[str, Callable[[HostTarget, float, Path | None], Mapping[str, Any]]] = {
    "probe.winrm.http": lambda t, timeout, ca: probe_winrm(
        t.name, t.address, 5985, False, timeout, ca
    ).to_fact(),
    "probe.winrm.https": lambda t, timeout, ca: probe_winrm(
        t.name, t.address, 5986, True, timeout, ca
    ).to_fact(),
    "probe.rdp": lambda t, timeout, ca: probe_rdp(t.name, t.address, 3389, timeout, ca).to_fact(),
}


@dataclass(frozen=True)
class Probes:
    """Every probe, whatever the rules read: each is one short connection, and WinRM chooses
    its transport from two of them."""

    timeout: float
    ca_bundle: Path | None

    def collect(
        self, target: HostTarget, wanted: Wanted, gathered: Mapping[str, Fact]
    ) -> Collected:
        return Collected(
            {
                name: Available(probe(target, self.timeout, self.ca_bundle), Source.PROBE)
                for name, probe in PROBES.items()
            }
        )
