"""`auditor scan domain`: the directory over LDAP, then every selected host over WinRM, one report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal, cast

import typer

from auditor import scanning
from auditor.cli.common import (
    CONFIG_OPTION,
    FAIL_ON_OPTION,
    FORMAT_OPTION,
    INSECURE_OPTION,
    JOURNAL_OPTION,
    OUTPUT_OPTION,
    PASSWORD_ENV_OPTION,
    QUIET_OPTION,
    RESUME_OPTION,
    RULES_OPTION,
    STORE_OPTION,
    SUMMARY_OPTION,
    USERNAME_OPTION,
    WAIVERS_OPTION,
    ComplianceOptions,
)
from auditor.cli.scan_cmd import (
    app,
    finish_scan,
    open_journal,
    plan_reports,
    run_host_collection,
)
from auditor.clock import utc_now
from auditor.collectors.host import targets_from
from auditor.collectors.ldap import LdapSettings, collect_domain
from auditor.config import ScanConfig, check_local_files, load_config
from auditor.errors import InputError
from auditor.facts.io import check_name_length
from auditor.facts.model import Available, DocumentKind, FactDocument
from auditor.inventory import select_computers
from auditor.journal import Journal, scan_header


def ldap_settings(
    config: ScanConfig, dc: str | None, mode: str | None, bind: str | None
) -> LdapSettings:
    section = config.section("ldap")
    name = dc or config.section("domain").get("dc")
    if not name:
        raise InputError("no domain controller: give --dc NAME or domain.dc in the configuration")
    check_name_length("--dc:", name)
    return LdapSettings(
        dc=str(name).lower(),
        mode=cast(Literal["ldaps", "starttls", "plain"], mode or section.get("mode", "ldaps")),
        ca_bundle=config.path_value("ldap", "ca_bundle"),
        bind=cast(Literal["simple", "kerberos", "ntlm"], bind or section.get("bind", "simple")),
        page_size=int(section.get("page_size", 1000)),
        receive_timeout=int(section.get("timeout", 120)),
    )


def _domain_document(
    settings: LdapSettings,
    config: ScanConfig,
    overrides: scanning.Overrides,
    journal: Journal,
    already: dict[str, FactDocument],
) -> FactDocument:
    """From the journal when resuming, else collected now (an LDAP refusal ends the scan, exit 2)."""
    for doc in already.values():
        if doc.target.kind is DocumentKind.DOMAIN:
            return doc
    doc = collect_domain(settings, scanning.credentials(config, overrides))
    journal.add(doc, {"dc": settings.dc, "mode": settings.mode, "bind": settings.bind})
    return doc


def _host_names(config: ScanConfig, domain: FactDocument) -> tuple[list[str], list[str]]:
    """(hosts to scan, notes): the domain's selected computers plus the configuration's hosts."""
    inventory = config.section("inventory")
    names = [str(h).lower() for h in config.raw.get("hosts") or []]
    notes: list[str] = []
    if inventory.get("from_domain", True):
        computers = domain.get("computers")
        if isinstance(computers, Available):
            selection = select_computers(computers.value, inventory, dt.datetime.now(dt.UTC))
            names = selection.hosts + [n for n in names if n not in selection.hosts]
            if selection.skipped:
                reasons = sorted({why for why in selection.skipped.values()})
                notes.append(
                    f"{len(selection.skipped)} computers left out by the inventory filters "
                    f"({'; '.join(reasons)[:300]})"
                )
        else:
            notes.append(
                "the domain's computers could not be read: only the configured hosts were scanned"
            )
    return sorted(dict.fromkeys(names)), notes


@app.command("domain")
def scan_domain(
    config_file: Path | None = CONFIG_OPTION,
    dc: str | None = typer.Option(
        None, "--dc", help="Domain controller name (its certificate's name)."
    ),
    no_hosts: bool = typer.Option(False, "--no-hosts", help="Only the directory: no host fan-out."),
    ldap_mode: str | None = typer.Option(
        None, "--ldap-mode", help="ldaps, starttls or plain (explicit)."
    ),
    bind: str | None = typer.Option(None, "--bind", help="simple, kerberos or ntlm."),
    insecure: bool = INSECURE_OPTION,
    username: str | None = USERNAME_OPTION,
    password_env: str | None = PASSWORD_ENV_OPTION,
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, help="Hosts collected at once."
    ),
    journal_path: Path | None = JOURNAL_OPTION,
    resume: Path | None = RESUME_OPTION,
    rules: list[Path] | None = RULES_OPTION,
    output: Path | None = OUTPUT_OPTION,
    formats: list[str] | None = FORMAT_OPTION,
    fail_on: str | None = FAIL_ON_OPTION,
    quiet: bool = QUIET_OPTION,
    store: Path | None = STORE_OPTION,
    waivers: Path | None = WAIVERS_OPTION,
    summary_json: Path | None = SUMMARY_OPTION,
) -> None:
    """Read the domain over LDAP, scan its Windows hosts over WinRM, write one combined report."""
    started = utc_now()
    config = load_config(config_file)
    reports = plan_reports(config, output, formats, fail_on)
    check_local_files(config, ["ldap"] if no_hosts else ["ldap", "winrm"])
    if concurrency is not None:
        config = ScanConfig(
            {**config.raw, "concurrency": concurrency}, config.path, config.host_groups
        )
    scanning.install_names(config)
    overrides = scanning.Overrides(
        insecure=insecure,
        username=username,
        password_ref=f"env:{password_env}" if password_env else None,
    )
    settings = ldap_settings(config, dc, ldap_mode, bind)
    pack = scanning.select_rules(config, rules or [])
    if no_hosts:
        pack = [r for r in pack if r.scope.target is DocumentKind.DOMAIN]
    compliance = ComplianceOptions(store, waivers, summary_json)
    compliance.check({r.id for r in pack})
    host_settings = None if no_hosts else scanning.host_settings(config, overrides)
    options: dict[str, Any] = {
        "dc": settings.dc,
        "ldap_mode": settings.mode,
        "bind": settings.bind,
        "hosts": not no_hosts,
    }
    if host_settings is not None:
        options |= {
            "insecure": host_settings.winrm.insecure,
            "auth": host_settings.winrm.auth,
            "transport": host_settings.transport,
        }
    journal, already = open_journal(
        resume or journal_path or reports.directory / "journal.jsonl",
        resume is not None,
        scan_header("scan domain", started, options, config, None),
    )
    warnings = list(settings.warnings)
    try:
        domain = _domain_document(settings, config, overrides, journal, already)
        docs = [domain]
        if host_settings is not None:
            names, notes = _host_names(config, domain)
            warnings.extend(notes)
            host_rules = [r for r in pack if r.scope.target is DocumentKind.HOST]
            targets = targets_from(names, config.names, config.host_groups)
            hosts, interrupted = run_host_collection(
                targets,
                config,
                host_settings,
                scanning.credentials(config, overrides),
                host_rules,
                journal,
                already,
                quiet,
                None,
            )
            docs.extend(hosts)
            if interrupted:
                warnings.append(f"scan interrupted: resume with --resume {journal.path}")
            if host_settings.winrm.insecure:
                warnings.append("TLS certificate validation was turned off (--insecure)")
    finally:
        journal.close()
    finish_scan(
        pack, docs, "scan domain", config, options, started, warnings, reports, quiet, compliance
    )
