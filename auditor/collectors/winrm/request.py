"""The collector request, built from what a scan wants: a new registry rule needs no PowerShell."""

from __future__ import annotations

import json

from auditor.collectors.protocol import Wanted
from auditor.facts.schema import script_sections
from auditor.resources import package_path

CONTRACT_VERSION = 1
# Which script section gathers which facts: the `script:SECTION` entries of host-facts-1.json.
SECTION_FACTS = script_sections()
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


def build_request(wanted: Wanted) -> dict[str, object]:
    """Only the sections whose facts are wanted: fewer means a faster, quieter collection."""
    sections = [
        name
        for name, facts in SECTION_FACTS.items()
        if name in ALWAYS_RUN or wanted.facts & set(facts)
    ]
    return {
        "version": CONTRACT_VERSION,
        "sections": sections,
        "registry": list(wanted.registry),
        "local_groups": list(LOCAL_GROUP_SIDS),
        "services": list(SERVICES),
        "firewall_rules": list(FIREWALL_RULES),
    }


def request_json(wanted: Wanted) -> str:
    return json.dumps(build_request(wanted), separators=(",", ":"))
