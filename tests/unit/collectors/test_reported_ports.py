"""Which port each probe follows once WinRM has read the host (the lab test,
tests/integration/lab/test_reported_ports.py, shows the rules deciding there)."""

from __future__ import annotations

import socket
from typing import Any

from auditor.collectors.host import HostScanSettings, collect_host, host_collectors
from auditor.collectors.probes.collector import (
    RDP_PORT,
    Probes,
    ReportedPortProbes,
    reported_ports,
)
from auditor.collectors.protocol import Collected, HostTarget, Wanted
from auditor.collectors.winrm.client import WinRMSettings
from auditor.collectors.winrm.collector import WinRMHostCollector
from auditor.facts.model import Available, Fact, Reason, Source, Unavailable


def listener(transport: str, port: int, enabled: bool = True) -> dict[str, Any]:
    return {"transport": transport, "port": port, "enabled": enabled, "address": "*"}


def gathered(listeners: Fact | None = None, rdp: Fact | None = None) -> Collected:
    facts: dict[str, Fact] = {
        "probe.winrm.http": Available({"port": 5985, "listening": True}, Source.PROBE),
        "probe.winrm.https": Available({"port": 5986, "listening": False}, Source.PROBE),
        "probe.rdp": Available({"port": 3389, "listening": False}, Source.PROBE),
    }
    if listeners is not None:
        facts["winrm.listeners"] = listeners
    # the registry path as the host's answer spells it: looked up case-blind
    return Collected(facts, {RDP_PORT.upper(): rdp} if rdp is not None else {})


def reg(present: bool, kind: str | None = None, data: object = None) -> Fact:
    return Available({"present": present, "type": kind, "data": data})


def test_the_host_reports_its_listeners_and_rdp_port() -> None:
    found = reported_ports(
        gathered(
            Available(
                [
                    listener("HTTP", 5985),
                    listener("HTTPS", 8443),
                    listener("HTTPS", 443),
                    listener("HTTP", 80, enabled=False),
                ]
            ),
            reg(True, "REG_DWORD", 3390),
        )
    )
    # HTTP stays on the port probed, which is among the host's; HTTPS moves to its lowest
    assert found == {"probe.winrm.http": 5985, "probe.winrm.https": 443, "probe.rdp": 3390}


def test_windows_defaults_and_what_the_host_did_not_say() -> None:
    assert reported_ports(gathered(Available([]), reg(False))) == {"probe.rdp": 3389}
    assert reported_ports(gathered()) == {}  # not collected: the first probes stand
    unreadable = Unavailable(Reason.ACCESS_DENIED, "no")
    assert reported_ports(gathered(unreadable, unreadable)) == {}
    for odd in (
        reg(True, "REG_SZ", "3390"),
        reg(True, "REG_DWORD", 0),
        reg(True, "REG_DWORD", 70000),
    ):
        assert reported_ports(gathered(rdp=odd)) == {}, odd


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_only_the_ports_that_differ_are_probed_again() -> None:
    """Real probes of loopback: the moved RDP port is probed (nothing answers there), the
    HTTP listener the first probe already saw is not."""
    target = HostTarget("h.corp.test", "127.0.0.1")
    port = closed_port()
    state = gathered(Available([listener("HTTP", 5985)]), reg(True, "REG_DWORD", port))
    got = ReportedPortProbes(1.0, None).collect(target, Wanted.of((), ()), state)
    assert set(got.facts) == {"probe.rdp"}
    rdp = got.facts["probe.rdp"]
    assert isinstance(rdp, Available) and rdp.source is Source.PROBE
    assert (rdp.value["port"], rdp.value["listening"]) == (port, False)
    failed = Collected(state.facts, state.registry, failure=Unavailable(Reason.TIMEOUT, "x"))
    assert ReportedPortProbes(1.0, None).collect(target, Wanted.of((), ()), failed).facts == {}


def test_the_probes_run_before_winrm_and_again_after_it() -> None:
    kinds = [type(c) for c in host_collectors(HostScanSettings(WinRMSettings()), None)]
    assert kinds == [Probes, WinRMHostCollector, ReportedPortProbes]
    assert ReportedPortProbes.READS == (RDP_PORT,)
    off = HostScanSettings(WinRMSettings(), probes=False)
    assert [type(c) for c in host_collectors(off, None)] == [WinRMHostCollector]


def test_the_rdp_port_is_asked_for_whenever_the_probes_run() -> None:
    """Probe-only here (no credentials): the value is asked for, not collected, and the probes
    stay on the defaults, where nothing on this loopback address answers."""
    settings = HostScanSettings(WinRMSettings(), probe_timeout=1.0)
    doc, _ = collect_host(
        HostTarget("h.corp.test", "127.250.0.1"), settings, None, Wanted.of((), ())
    )
    value = doc.get_registry(RDP_PORT)
    assert isinstance(value, Unavailable) and value.reason is Reason.NOT_COLLECTED
    rdp = doc.facts["probe.rdp"]
    assert isinstance(rdp, Available) and rdp.value["port"] == 3389
