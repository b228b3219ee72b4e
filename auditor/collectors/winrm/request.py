"""The collector request, built from what a scan wants: a new registry rule needs no PowerShell."""

from __future__ import annotations

import json

from auditor.collectors.protocol import Wanted
from auditor.facts.schema import offline_sections, script_sections
from auditor.resources import package_path

CONTRACT_VERSION = 1
# Which script section gathers which facts: the `script:SECTION` entries of host-facts-1.json.
SECTION_FACTS = script_sections()
# Sections only an offline request asks for: what WS-Man reads online (winrm/config, listeners).
OFFLINE_SECTION_FACTS = offline_sections()
# Every section collect.ps1 answers, and the facts each gathers.
ANSWERED_FACTS = {**SECTION_FACTS, **OFFLINE_SECTION_FACTS}
ALWAYS_RUN = ("os", "services")  # the document's roles come from them
LOCAL_GROUP_SIDS = ("S-1-5-32-544", "S-1-5-32-580", "S-1-5-32-555")
SERVICES = ("WinRM", "TermService", "W3SVC", "sshd")
# Firewall rules by their stable Name (ID), never by the localized DisplayName.
FIREWALL_RULES = (
    "WINRM-HTTP-In-TCP",
    "WINRM-HTTP-In-TCP-PUBLIC",
    "WINRM-HTTP-Compat-In-TCP",
    "RemoteDesktop-UserMode-In-TCP",
    "RemoteDesktop-UserMode-In-UDP",
)


def collector_script() -> str:
    """The exact PowerShell the scanner runs (also written out by `auditor collector-script`)."""
    return package_path("collectors", "winrm", "collect.ps1").read_text("utf-8")


def build_request(wanted: Wanted, offline: bool = False) -> dict[str, object]:
    """Only the sections whose facts are wanted: fewer means a faster, quieter collection. An
    offline request (run by hand on the host) also asks for what WS-Man would have read."""
    asked = ANSWERED_FACTS if offline else SECTION_FACTS
    sections = [
        name for name, facts in asked.items() if name in ALWAYS_RUN or wanted.facts & set(facts)
    ]
    return {
        "version": CONTRACT_VERSION,
        "sections": sections,
        "registry": list(wanted.registry),
        "local_groups": list(LOCAL_GROUP_SIDS),
        "services": list(SERVICES),
        "firewall_rules": list(FIREWALL_RULES),
    }


def request_json(wanted: Wanted, offline: bool = False) -> str:
    return json.dumps(build_request(wanted, offline), separators=(",", ":"))
