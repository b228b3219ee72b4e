"""The collector request, built from the loaded rules: a new registry rule needs no PowerShell."""

from __future__ import annotations

import json
from collections.abc import Iterable

from auditor.facts.model import DocumentKind, normalise_registry_path
from auditor.resources import package_path
from auditor.rules.model import Rule

CONTRACT_VERSION = 1
# Which script section gathers which facts. `os` and `services` always run: roles come from them.
SECTION_FACTS = {
    "os": ("host.os", "host.roles", "host.domain"),
    "local_groups": ("local_groups",),
    "certificates": ("certificates",),
    "rdp": ("rdp.certificate_thumbprint",),
    "iis": ("iis.sites",),
    "ssh": ("ssh.sshd_config",),
    "session_configurations": ("powershell.session_configurations",),
    "winhttp_proxy": ("winhttp.proxy",),
    "services": ("services",),
    "firewall_rules": ("firewall.rules",),
}
SCRIPT_FACTS = frozenset(f for facts in SECTION_FACTS.values() for f in facts)
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


def registry_paths(rules: Iterable[Rule]) -> list[str]:
    paths = {
        normalise_registry_path(path)
        for rule in rules
        for setting in rule.registry
        for path in (setting.policy, setting.local)
        if path is not None
    }
    return sorted(paths, key=str.lower)


def build_request(rules: Iterable[Rule]) -> dict[str, object]:
    """Only what the loaded host rules read: fewer sections means a faster, quieter collection."""
    host_rules = [r for r in rules if r.scope.target is DocumentKind.HOST]
    wanted = {f for r in host_rules for f in (*r.facts, *r.optional_facts)}
    sections = [
        name
        for name, facts in SECTION_FACTS.items()
        if name in ("os", "services") or wanted & set(facts)
    ]
    return {
        "version": CONTRACT_VERSION,
        "sections": sections,
        "registry": registry_paths(host_rules),
        "local_groups": list(LOCAL_GROUP_SIDS),
        "services": list(SERVICES),
        "firewall_rules": list(FIREWALL_RULES),
    }


def request_json(rules: Iterable[Rule]) -> str:
    return json.dumps(build_request(rules), separators=(",", ":"))
