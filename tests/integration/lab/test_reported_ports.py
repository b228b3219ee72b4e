"""The probes follow the ports the host reports: WKS01's RDP listener is on 3390 (RDP-Tcp's
PortNumber) and APP01's WinRM HTTPS listener on 8443 (its listener), in the default lab."""

from __future__ import annotations

from auditor.collectors.host import HostTarget
from auditor.engine.evaluate import evaluate
from auditor.facts.model import Available, FactDocument
from auditor.pipeline import plan
from auditor.pipeline.hosts import collect_hosts
from auditor.pipeline.plan import Flags
from auditor.results.vocabulary import Status
from auditor.rules.model import Rule
from tests.integration.lab.conftest import Lab
from tests.integration.lab.test_host_scan import host_rules

PORT_RULES = ("rdp-nla-probe", "winrm-https-legacy-tls")


def rules() -> dict[str, Rule]:
    return {r.id: r for r in host_rules() if r.id in PORT_RULES}


def collect(lab: Lab, names: list[str], probe_only: bool = False) -> dict[str, FactDocument]:
    hosts = plan.host_collection(lab.config, Flags())
    targets: list[HostTarget] = [hosts.target(f"{n}.corp.auditor.test") for n in names]
    creds = None if probe_only else plan.credential_ref(lab.config, Flags()).resolve()
    settings = plan.host_settings(lab.config, Flags())
    docs = collect_hosts(targets, settings, creds, list(rules().values()), 2).documents
    return {d.target.name.split(".")[0]: d for d in docs}


def probed(doc: FactDocument, fact: str) -> tuple[int, bool]:
    value = doc.facts[fact]
    assert isinstance(value, Available), value
    return value.value["port"], value.value["listening"]


def test_the_rules_decide_on_the_ports_the_host_reports(lab: Lab) -> None:
    docs = collect(lab, ["wks01", "app01"])
    assert probed(docs["wks01"], "probe.rdp") == (3390, True)
    assert probed(docs["app01"], "probe.winrm.https") == (8443, True)
    nla = evaluate(rules()["rdp-nla-probe"], docs["wks01"])
    assert nla.status is Status.FAIL, nla.reason  # standard RDP security accepted on 3390
    assert nla.evidence["port"] == 3390
    tls = evaluate(rules()["winrm-https-legacy-tls"], docs["app01"])
    assert tls.status is Status.PASS, tls.reason  # TLS 1.2 and later only, on 8443
    assert tls.evidence["port"] == 8443


def test_a_host_not_collected_is_probed_on_the_default_ports(lab: Lab) -> None:
    docs = collect(lab, ["wks01", "app01"], probe_only=True)
    assert probed(docs["wks01"], "probe.rdp") == (3389, False)
    assert probed(docs["app01"], "probe.winrm.https") == (5986, False)
    for name, rule in (("wks01", "rdp-nla-probe"), ("app01", "winrm-https-legacy-tls")):
        assert evaluate(rules()[rule], docs[name]).status is Status.NOT_APPLICABLE
