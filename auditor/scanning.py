"""Scan orchestration shared by the scan commands: settings from the config, rules, concurrency."""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor import netmap
from auditor.collectors.host import HostScanSettings, HostTarget, collect_host
from auditor.collectors.protocol import Wanted
from auditor.collectors.winrm.client import AuthMethod, WinRMSettings
from auditor.config import ScanConfig, check_rule_references
from auditor.credentials import REFERENCE_PREFIXES, Credentials, Secret, from_reference
from auditor.errors import InputError
from auditor.facts.model import DocumentKind, FactDocument
from auditor.fleet import FleetOutcome, collect_all
from auditor.results.vocabulary import Severity
from auditor.rules.model import Rule
from auditor.rules.pack import load_pack


@dataclass(frozen=True)
class Overrides:
    """Command-line values that win over the configuration file."""

    insecure: bool = False
    transport: str | None = None
    auth: str | None = None
    ca_bundle: Path | None = None
    username: str | None = None
    password_ref: str | None = None
    concurrency: int | None = None


def select_rules(config: ScanConfig, extra_paths: Sequence[Path] = ()) -> list[Rule]:
    """The pack (or the configured paths), narrowed by areas, tags, severities and ids."""
    section = config.section("rules")
    paths = [*extra_paths, *(Path(p) for p in section.get("paths", []))]
    rules = load_pack(paths)
    # Own rules replace the pack, but a configuration may still tune built-in ones: not a typo.
    check_rule_references(config, [*load_pack(), *rules] if paths else rules)
    areas, tags = set(section.get("areas", [])), set(section.get("tags", []))
    severities = {Severity(s) for s in section.get("severities", [])}
    ids, excluded = list(section.get("ids", [])), list(section.get("exclude_ids", []))

    def wanted(rule: Rule) -> bool:
        return (
            (not areas or rule.area in areas)
            and (not tags or bool(tags & set(rule.tags)))
            and (not severities or rule.severity in severities)
            and (not ids or any(fnmatch.fnmatch(rule.id, p) for p in ids))
            and not any(fnmatch.fnmatch(rule.id, p) for p in excluded)
        )

    chosen = [r for r in rules if wanted(r)]
    if not chosen:
        raise InputError(f"{config.path or 'configuration'}: the rule selection matches no rule")
    return chosen


def credentials(config: ScanConfig, overrides: Overrides) -> Credentials:
    section = config.section("credentials")
    username = overrides.username or section.get("username")
    reference = overrides.password_ref or section.get("password")
    if reference and not str(reference).startswith(REFERENCE_PREFIXES):
        # The configuration loader only lets a literal through with allow_literal_password.
        return Credentials(username, Secret(str(reference)), "literal (allow_literal_password)")
    if reference == "ticket-cache":
        return Credentials(username, None, "ticket-cache")  # the cache names the principal
    if username is None:
        raise InputError(
            "no credentials: set credentials.username and credentials.password in the "
            "configuration (or --username/--password-env), or use --probe-only"
        )
    return from_reference(username, reference, interactive=sys.stdin.isatty())


def host_settings(config: ScanConfig, overrides: Overrides) -> HostScanSettings:
    w = config.section("winrm")
    transport = overrides.transport or w.get("transport", "https")
    winrm = WinRMSettings(
        use_https=transport != "http",
        auth=_auth_method(overrides.auth or str(w.get("auth", "negotiate"))),
        ca_bundle=overrides.ca_bundle or config.path_value("winrm", "ca_bundle"),
        insecure=overrides.insecure or bool(w.get("insecure", False)),
        connect_timeout=float(w.get("connect_timeout", 10)),
        operation_timeout=int(w.get("operation_timeout", 30)),
        read_timeout=float(w.get("read_timeout", 45)),
        retries=int(w.get("retries", 2)),
        proxy=w.get("proxy"),
        certificate_pem=config.path_value("winrm", "certificate_pem"),
        certificate_key_pem=config.path_value("winrm", "certificate_key_pem"),
        max_answer_bytes=int(w.get("max_answer_mb", 8)) * 1024 * 1024,
    )
    winrm.check()
    probes = config.section("probes")
    return HostScanSettings(
        winrm, transport, bool(probes.get("enabled", True)), float(probes.get("timeout", 5))
    )


def _auth_method(value: str) -> AuthMethod:
    methods: tuple[AuthMethod, ...] = (
        "negotiate",
        "ntlm",
        "kerberos",
        "certificate",
        "credssp",
        "basic",
    )
    for method in methods:
        if value == method:
            return method
    raise InputError(f"--auth: unknown method {value!r} (use {', '.join(methods)})")


def host_parameters(
    config: ScanConfig,
) -> Callable[[FactDocument], Mapping[str, Mapping[str, Any]]]:
    """Rule parameters for one document: the config's, then its host groups' on top."""
    base = config.section("rules").get("parameters", {})

    def for_document(doc: FactDocument) -> Mapping[str, Mapping[str, Any]]:
        merged = {rule: dict(values) for rule, values in base.items()}
        for group in config.host_groups:
            if doc.target.kind is DocumentKind.HOST and group.matches(doc.target.name):
                for rule, values in group.parameters.items():
                    merged.setdefault(rule, {}).update(values)
        return merged

    return for_document


def probe_rules(rules: Iterable[Rule]) -> list[Rule]:
    """Rules a credential-free scan can decide: those that read at least one probe fact."""
    return [r for r in rules if any(f.startswith("probe.") for f in (*r.facts, *r.optional_facts))]


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
    on_done: Callable[[FactDocument, dict[str, Any]], None] | None = None,
    deadline: float | None = None,
) -> FleetOutcome:
    """Collect every host concurrently; one host failing never stops the others, and none
    outlives `deadline` seconds (see fleet.collect_all)."""
    wanted = wanted_by(rules)

    def collect(target: HostTarget) -> tuple[FactDocument, dict[str, Any]]:
        return collect_host(target, settings, creds, wanted)

    return collect_all(targets, collect, concurrency, deadline, on_done or (lambda d, i: None))


def install_names(config: ScanConfig) -> None:
    if config.names:
        netmap.install(config.names)
