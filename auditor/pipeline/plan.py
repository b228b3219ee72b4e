"""The scan plan: the configuration file and a command's flags, read once into frozen values.

Every default a scan has is here, and nothing after planning reads the configuration file:
the pipeline, the collectors and the reports see only the plan. Planning also makes every
check that needs no network (formats, folders, files, rule selection, waivers, store), so a
bad input ends the command before anyone is contacted.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from auditor.atomic import check_folder
from auditor.clock import utc_now
from auditor.collectors.host import HostScanSettings, HostTarget
from auditor.collectors.ldap import LdapSettings
from auditor.collectors.ldap.connection import BindMethod, Transport
from auditor.collectors.winrm.client import AUTH_METHODS, AuthMethod, WinRMSettings
from auditor.credentials import REFERENCE_PREFIXES, Credentials, Secret, from_reference
from auditor.errors import InputError
from auditor.facts.io import check_name_length
from auditor.facts.model import DocumentKind, FactDocument
from auditor.pipeline.after import AfterScan
from auditor.pipeline.config import (
    HostGroup,
    ScanConfig,
    check_local_files,
    check_rule_references,
    load_config,
)
from auditor.pipeline.inventory import Inventory
from auditor.reports.formats import OutputFormat
from auditor.results.vocabulary import Severity
from auditor.rules.model import Rule
from auditor.rules.pack import load_pack

DEFAULT_OUTPUT = Path("auditor-report")
DEFAULT_FORMATS = ("html", "json")
DEFAULT_FAIL_ON = Severity.HIGH
DEFAULT_CONCURRENCY = 8
JOURNAL_NAME = "journal.jsonl"
# Settings outside the configuration's digest: the credentials (not even hashed into a
# journal), and what changes neither the targets nor their facts, which a resumed scan may change.
_NOT_DIGESTED = frozenset({"credentials", "concurrency", "host_deadline", "output", "fail_on"})


class Command(StrEnum):
    """The three scans; the value is what reports and journals record."""

    FACTS = "scan facts"
    HOST = "scan host"
    DOMAIN = "scan domain"


@dataclass(frozen=True)
class Flags:
    """What a scan command's flags say; None or empty: not given (the file or the default decides)."""

    config: Path | None = None
    rules: tuple[Path, ...] = ()
    output: Path | None = None
    formats: tuple[str, ...] = ()
    fail_on: str | None = None
    quiet: bool = False
    store: Path | None = None
    waivers: Path | None = None
    summary_json: Path | None = None
    journal: Path | None = None
    resume: Path | None = None
    facts: tuple[Path, ...] = ()  # scan facts: the saved documents
    hosts: tuple[str, ...] = ()  # scan host: the hosts named on the command line
    probe_only: bool = False
    no_hosts: bool = False  # scan domain: the directory only
    insecure: bool = False
    transport: str | None = None
    auth: str | None = None
    ca_bundle: Path | None = None
    username: str | None = None
    password_env: str | None = None
    concurrency: int | None = None
    save_facts: Path | None = None
    dc: str | None = None
    ldap_mode: str | None = None
    bind: str | None = None


@dataclass(frozen=True)
class Reports:
    """Where the reports go, in which formats, and the exit threshold."""

    directory: Path
    formats: tuple[OutputFormat, ...]
    threshold: Severity
    quiet: bool = False


@dataclass(frozen=True)
class CredentialRef:
    """Who to log on as and where the password is; read only when a scan needs it."""

    username: str | None
    reference: str | None

    def resolve(self) -> Credentials:
        reference = self.reference
        if reference and not reference.startswith(REFERENCE_PREFIXES):
            # The configuration loader only lets a literal through with allow_literal_password.
            return Credentials(self.username, Secret(reference), "literal (allow_literal_password)")
        if reference == "ticket-cache":
            return Credentials(self.username, None, "ticket-cache")  # the cache names the principal
        if self.username is None:
            raise InputError(
                "no credentials: set credentials.username and credentials.password in the "
                "configuration (or --username/--password-env), or use --probe-only"
            )
        return from_reference(self.username, reference, interactive=sys.stdin.isatty())


@dataclass(frozen=True)
class RuleParameters:
    """Rule parameters: the configuration's, then each matching host group's on top."""

    base: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    groups: tuple[HostGroup, ...] = ()

    def for_document(self, doc: FactDocument) -> Mapping[str, Mapping[str, Any]]:
        merged = {rule: dict(values) for rule, values in self.base.items()}
        for group in self.groups:
            if doc.target.kind is DocumentKind.HOST and group.matches(doc.target.name):
                for rule, values in group.parameters.items():
                    merged.setdefault(rule, {}).update(values)
        return merged


@dataclass(frozen=True)
class HostCollection:
    """How hosts are collected. `targets` is empty for a domain scan: the directory names them."""

    settings: HostScanSettings
    credentials: CredentialRef | None  # None: a probe-only scan, no logon
    concurrency: int
    deadline: float | None
    targets: tuple[HostTarget, ...] = ()
    also: tuple[str, ...] = ()  # domain scan: the configuration's hosts, added to the directory's
    groups: tuple[HostGroup, ...] = ()  # extra roles by host name pattern
    names: Mapping[str, str] = field(default_factory=dict)  # host name -> address
    save_facts: Path | None = None

    def target(self, name: str) -> HostTarget:
        """A host by name: its address from the name map, extra roles from its host groups."""
        name = name.lower()
        roles = {r for g in self.groups if g.matches(name) for r in g.roles}
        return HostTarget(name, self.names.get(name, name), tuple(sorted(roles)))


@dataclass(frozen=True)
class DomainCollection:
    ldap: LdapSettings
    credentials: CredentialRef
    inventory: Inventory


@dataclass(frozen=True)
class ScanPlan:
    """Everything one scan does, decided before it contacts anyone."""

    command: Command
    started_at: str
    rules: tuple[Rule, ...]
    parameters: RuleParameters
    reports: Reports
    after: AfterScan
    options: Mapping[str, Any]  # how the scan was run, as the report and the journal record it
    config_digest: str
    journal: Path | None = None  # None: nothing is collected (scan facts)
    resume: bool = False
    facts: tuple[Path, ...] = ()
    domain: DomainCollection | None = None
    hosts: HostCollection | None = None
    names: Mapping[str, str] = field(default_factory=dict)  # the name map: host name -> address
    warnings: tuple[str, ...] = ()

    @property
    def credentials(self) -> CredentialRef | None:
        if self.domain is not None:
            return self.domain.credentials
        return self.hosts.credentials if self.hosts is not None else None


def build(command: Command, flags: Flags, config: ScanConfig | None = None) -> ScanPlan:
    """The plan for `command`. Every input problem is raised here, in the order a user fixes
    them: the file, the reports, local files, names, rules, waivers and store, settings."""
    config = config if config is not None else load_config(flags.config)
    reports = reports_plan(config, flags)
    if command is Command.FACTS:
        return _facts_plan(config, flags, reports)
    with_hosts = command is Command.HOST or not flags.no_hosts
    check_local_files(config, [s for s in _LOCAL_FILES[command] if with_hosts or s != "winrm"])
    named = (
        host_names(list(flags.hosts) or _configured_hosts(config))
        if command is Command.HOST
        else []
    )
    ldap = ldap_settings(config, flags) if command is Command.DOMAIN else None
    rules = select_rules(config, flags.rules)
    if command is Command.HOST:
        rules = [r for r in rules if r.scope.target is DocumentKind.HOST]
        rules = probe_rules(rules) if flags.probe_only else rules
    elif not with_hosts:
        rules = [r for r in rules if r.scope.target is DocumentKind.DOMAIN]
    after = AfterScan(flags.store, flags.waivers, flags.summary_json)
    after.check({r.id for r in rules})
    options: dict[str, Any] = {}
    warnings: list[str] = []
    domain = None
    if ldap is not None:
        options |= {"dc": ldap.dc, "ldap_mode": ldap.mode, "bind": ldap.bind, "hosts": with_hosts}
        warnings.extend(ldap.warnings)
        domain = DomainCollection(ldap, credential_ref(config, flags), inventory(config))
    hosts = None
    if with_hosts:
        hosts = host_collection(config, flags)
        if command is Command.HOST:
            hosts = replace(hosts, targets=tuple(hosts.target(n) for n in named))
            options |= {"insecure": hosts.settings.winrm.insecure, "probe_only": flags.probe_only}
        else:
            hosts = replace(hosts, also=tuple(h.lower() for h in _configured_hosts(config)))
            options["insecure"] = hosts.settings.winrm.insecure
        options |= {"auth": hosts.settings.winrm.auth, "transport": hosts.settings.transport}
        if hosts.settings.winrm.insecure:
            warnings.append("TLS certificate validation was turned off (--insecure)")
    return ScanPlan(
        command,
        utc_now(),
        tuple(rules),
        rule_parameters(config),
        reports,
        after,
        options,
        config_digest(config),
        journal=flags.resume or flags.journal or reports.directory / JOURNAL_NAME,
        resume=flags.resume is not None,
        domain=domain,
        hosts=hosts,
        names=config.names,
        warnings=tuple(warnings),
    )


# The local files (CA bundles, certificates) each scan reads, by configuration section.
_LOCAL_FILES = {Command.HOST: ("winrm",), Command.DOMAIN: ("ldap", "winrm")}


def _facts_plan(config: ScanConfig, flags: Flags, reports: Reports) -> ScanPlan:
    """Saved documents evaluated offline: the rules given (or the pack), no collection."""
    rules = tuple(load_pack(list(flags.rules)))
    after = AfterScan(flags.store, flags.waivers, flags.summary_json)
    after.check({r.id for r in rules})
    options = {"inputs": [str(p) for p in flags.facts]}
    return ScanPlan(
        Command.FACTS,
        utc_now(),
        rules,
        RuleParameters(),
        reports,
        after,
        options,
        config_digest(config),
        facts=flags.facts,
    )


def reports_plan(config: ScanConfig, flags: Flags) -> Reports:
    """A bad format, threshold or output folder ends the command now, not after the collection."""
    output = config.section("output")
    directory = flags.output or config.path_value("output", "directory") or DEFAULT_OUTPUT
    formats = parse_formats(list(flags.formats or output.get("formats") or DEFAULT_FORMATS))
    threshold = parse_severity(flags.fail_on or str(config.raw.get("fail_on", DEFAULT_FAIL_ON)))
    check_folder(directory, "the output folder")
    return Reports(directory, tuple(formats), threshold, flags.quiet)


def parse_formats(values: Sequence[str]) -> list[OutputFormat]:
    try:
        return [OutputFormat(v.lower()) for v in values]
    except ValueError:
        known = ", ".join(f.value for f in OutputFormat)
        raise InputError(f"--format: unknown format in {list(values)} (known: {known})") from None


def parse_severity(value: str) -> Severity:
    try:
        return Severity(value.lower())
    except ValueError:
        known = ", ".join(s.value for s in Severity)
        raise InputError(f"--fail-on: unknown severity {value!r} (known: {known})") from None


def _configured_hosts(config: ScanConfig) -> list[str]:
    return [str(h) for h in config.raw.get("hosts") or []]


def host_names(names: Sequence[str]) -> list[str]:
    """The hosts to scan, each once; a name no DNS could hold is refused before any is contacted."""
    if not names:
        raise InputError(
            "no hosts: name them on the command line or in the configuration's 'hosts'"
        )
    for name in names:
        check_name_length(f"host name {name[:40]}...:", name)
    return list(dict.fromkeys(name.lower() for name in names))


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


def probe_rules(rules: Sequence[Rule]) -> list[Rule]:
    """Rules a credential-free scan can decide: those that read at least one probe fact."""
    return [r for r in rules if any(f.startswith("probe.") for f in (*r.facts, *r.optional_facts))]


def rule_parameters(config: ScanConfig) -> RuleParameters:
    return RuleParameters(config.section("rules").get("parameters", {}), config.host_groups)


def credential_ref(config: ScanConfig, flags: Flags) -> CredentialRef:
    section = config.section("credentials")
    reference = f"env:{flags.password_env}" if flags.password_env else section.get("password")
    return CredentialRef(flags.username or section.get("username"), reference)


def host_settings(config: ScanConfig, flags: Flags) -> HostScanSettings:
    """The file's `winrm` and `probes` sections; what they leave out keeps the settings' default."""
    w, probes = config.section("winrm"), config.section("probes")
    default, scan = WinRMSettings(), HostScanSettings(WinRMSettings())
    transport = flags.transport or w.get("transport", scan.transport)
    answer_mb = w.get("max_answer_mb")
    winrm = WinRMSettings(
        use_https=transport != "http",
        auth=_auth_method(flags.auth or str(w.get("auth", default.auth))),
        ca_bundle=flags.ca_bundle or config.path_value("winrm", "ca_bundle"),
        insecure=flags.insecure or bool(w.get("insecure", default.insecure)),
        connect_timeout=float(w.get("connect_timeout", default.connect_timeout)),
        operation_timeout=int(w.get("operation_timeout", default.operation_timeout)),
        read_timeout=float(w.get("read_timeout", default.read_timeout)),
        retries=int(w.get("retries", default.retries)),
        proxy=w.get("proxy"),
        certificate_pem=config.path_value("winrm", "certificate_pem"),
        certificate_key_pem=config.path_value("winrm", "certificate_key_pem"),
        max_answer_bytes=int(answer_mb) * 2**20 if answer_mb else default.max_answer_bytes,
    )
    winrm.check()
    return HostScanSettings(
        winrm,
        transport,
        bool(probes.get("enabled", scan.probes)),
        float(probes.get("timeout", scan.probe_timeout)),
    )


def _auth_method(value: str) -> AuthMethod:
    if value not in AUTH_METHODS:
        raise InputError(f"--auth: unknown method {value!r} (use {', '.join(AUTH_METHODS)})")
    return cast(AuthMethod, value)


def host_collection(config: ScanConfig, flags: Flags) -> HostCollection:
    deadline = config.raw.get("host_deadline")
    return HostCollection(
        settings=host_settings(config, flags),
        credentials=None if flags.probe_only else credential_ref(config, flags),
        concurrency=flags.concurrency or int(config.raw.get("concurrency", DEFAULT_CONCURRENCY)),
        deadline=float(deadline) if deadline is not None else None,
        groups=config.host_groups,
        names=config.names,
        save_facts=flags.save_facts,
    )


def ldap_settings(config: ScanConfig, flags: Flags) -> LdapSettings:
    """The file's `ldap` section and --dc; what they leave out keeps the settings' default."""
    section = config.section("ldap")
    name = flags.dc or config.section("domain").get("dc")
    if not name:
        raise InputError("no domain controller: give --dc NAME or domain.dc in the configuration")
    check_name_length("--dc:", name)
    realm = config.section("domain").get("name")
    default = LdapSettings(dc=str(name).lower(), realm=str(realm) if realm else None)
    return replace(
        default,
        mode=cast(Transport, flags.ldap_mode or section.get("mode", default.mode)),
        ca_bundle=config.path_value("ldap", "ca_bundle"),
        bind=cast(BindMethod, flags.bind or section.get("bind", default.bind)),
        page_size=int(section.get("page_size", default.page_size)),
        receive_timeout=int(section.get("timeout", default.receive_timeout)),
    )


def config_digest(config: ScanConfig) -> str:
    """The configuration, as much of it as decides what a scan collects, as a digest: enough to
    tell an edited one, and no credential reference is kept."""
    settings = {k: v for k, v in config.raw.items() if k not in _NOT_DIGESTED}
    canonical = json.dumps(settings, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def inventory(config: ScanConfig) -> Inventory:
    """Which of the domain's computers to visit; what the file leaves out keeps Inventory's default."""
    section = config.section("inventory")
    default = Inventory()
    days = section.get("last_logon_days")
    return Inventory(
        from_domain=bool(section.get("from_domain", default.from_domain)),
        enabled_only=bool(section.get("enabled_only", default.enabled_only)),
        os=tuple(section.get("os", default.os)),
        ou=tuple(section.get("ou", default.ou)),
        include=tuple(section.get("include", default.include)),
        exclude=tuple(section.get("exclude", default.exclude)),
        last_logon_days=int(days) if days is not None else None,
    )
