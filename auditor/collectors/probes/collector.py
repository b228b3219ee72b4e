"""The credential-free probes as host collectors, one probe per fact, listed as data: first on
Windows' default ports, then again on the ports the host itself reports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.collectors.probes.rdp import probe_rdp
from auditor.collectors.probes.winrm import probe_winrm
from auditor.collectors.protocol import Collected, HostTarget, Wanted
from auditor.facts.model import Available, Fact, Source, registry_key

Probe = Callable[[HostTarget, int, float, Path | None], Mapping[str, Any]]
# fact -> probe(target, port, timeout, ca_bundle); host-facts-1.json marks these `probe`.
PROBES: dict[str, Probe] = {
    "probe.winrm.http": lambda t, port, timeout, ca: probe_winrm(
        t.name, t.address, port, False, timeout, ca
    ).to_fact(),
    "probe.winrm.https": lambda t, port, timeout, ca: probe_winrm(
        t.name, t.address, port, True, timeout, ca
    ).to_fact(),
    "probe.rdp": lambda t, port, timeout, ca: probe_rdp(
        t.name, t.address, port, timeout, ca
    ).to_fact(),
}
# Where Windows listens unless told otherwise: what is probed before the host says.
DEFAULT_PORTS = {"probe.winrm.http": 5985, "probe.winrm.https": 5986, "probe.rdp": 3389}
# Where the host says it listens: its WinRM listeners (one per transport), and RDP-Tcp's port.
_LISTENER_TRANSPORT = {"probe.winrm.http": "HTTP", "probe.winrm.https": "HTTPS"}
RDP_PORT = (
    "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp\\PortNumber"
)


@dataclass(frozen=True)
class Probes:
    """Every probe on its default port, whatever the rules read: each is one short connection,
    and WinRM chooses its transport from two of them."""

    timeout: float
    ca_bundle: Path | None

    def collect(self, target: HostTarget, wanted: Wanted, gathered: Collected) -> Collected:
        return Collected(
            {
                name: Available(
                    probe(target, DEFAULT_PORTS[name], self.timeout, self.ca_bundle), Source.PROBE
                )
                for name, probe in PROBES.items()
            }
        )


def _probed_port(fact: Fact | None) -> int | None:
    return fact.value.get("port") if isinstance(fact, Available) else None


def reported_ports(gathered: Collected) -> dict[str, int]:
    """Probe fact -> the port the host reports for it: an enabled listener of the transport
    (the one probed when it is among them, else the lowest), RDP-Tcp's PortNumber (3389 when
    absent, as on Windows). A host that did not say leaves the fact out."""
    ports: dict[str, int] = {}
    listeners = gathered.facts.get("winrm.listeners")
    for name, transport in _LISTENER_TRANSPORT.items():
        if not isinstance(listeners, Available):
            break
        found = sorted(
            int(listener["port"])
            for listener in listeners.value
            if listener["enabled"] and listener["transport"] == transport
        )
        probed = _probed_port(gathered.facts.get(name))
        if found:
            ports[name] = probed if probed in found else found[0]
    registry = {registry_key(path): fact for path, fact in gathered.registry.items()}
    rdp = registry.get(registry_key(RDP_PORT))
    if isinstance(rdp, Available):
        present, kind, data = rdp.value.get("present"), rdp.value.get("type"), rdp.value.get("data")
        if not present:
            ports["probe.rdp"] = DEFAULT_PORTS["probe.rdp"]
        elif kind == "REG_DWORD" and isinstance(data, int) and 0 < data < 65536:
            ports["probe.rdp"] = data
    return ports


@dataclass(frozen=True)
class ReportedPortProbes:
    """After WinRM: each probe again on the port the host reports, where it differs from the
    one probed, so the probe facts describe the host's own listeners. The first probes stay
    what chose WinRM's transport; a host that reported nothing keeps them."""

    timeout: float
    ca_bundle: Path | None
    READS = (RDP_PORT,)  # registry values it reads from the host's answer

    def collect(self, target: HostTarget, wanted: Wanted, gathered: Collected) -> Collected:
        if gathered.failure is not None:
            return Collected({})
        return Collected(
            {
                name: Available(
                    PROBES[name](target, port, self.timeout, self.ca_bundle), Source.PROBE
                )
                for name, port in reported_ports(gathered).items()
                if port != _probed_port(gathered.facts.get(name))
            }
        )
