"""`auditor scan ...`: evaluate rules over facts and write reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

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
    parse_formats,
    parse_severity,
)
from auditor.cli.progress import host_progress
from auditor.clock import utc_now
from auditor.collectors.host import HostScanSettings, HostTarget, save_document, targets_from
from auditor.collectors.winrm.offline import load_any
from auditor.compliance import after_scan
from auditor.config import ScanConfig, load_config
from auditor.credentials import Credentials
from auditor.engine.scan import build_result, exit_code
from auditor.errors import InputError
from auditor.facts.model import DocumentKind, FactDocument
from auditor.journal import Journal, read_journal
from auditor.reports.console import print_summary
from auditor.reports.write import write_reports
from auditor.rules.model import Rule
from auditor.rules.pack import load_pack

app = typer.Typer(help="Scan targets (or saved facts) and write reports.", no_args_is_help=True)


@app.command("facts")
def scan_facts(
    files: list[Path] = typer.Argument(..., help="Fact documents (JSON), or collect.ps1 outputs."),
    rules: list[Path] | None = RULES_OPTION,
    output: Path | None = OUTPUT_OPTION,
    formats: list[str] | None = FORMAT_OPTION,
    fail_on: str | None = FAIL_ON_OPTION,
    quiet: bool = QUIET_OPTION,
    store: Path | None = STORE_OPTION,
    waivers: Path | None = WAIVERS_OPTION,
    summary_json: Path | None = SUMMARY_OPTION,
) -> None:
    """Evaluate saved fact documents offline (the air-gapped path) and write reports."""
    started = utc_now()
    pack = load_pack(rules or [])
    compliance = ComplianceOptions(store, waivers, summary_json)
    compliance.check({r.id for r in pack})
    documents = [doc for path in files for doc in load_any(path)]
    options: dict[str, Any] = {"inputs": [str(p) for p in files]}
    finish_scan(
        pack,
        documents,
        "scan facts",
        load_config(None),
        options,
        started,
        [],
        output,
        formats,
        fail_on,
        quiet,
        compliance,
    )


def run_host_collection(
    targets: list[HostTarget],
    config: ScanConfig,
    settings: HostScanSettings,
    creds: Credentials | None,
    pack: list[Rule],
    journal: Journal,
    already: dict[str, FactDocument],
    quiet: bool,
    save_facts: Path | None,
) -> tuple[list[FactDocument], bool]:
    """Collect the targets the journal does not hold yet; every result is journaled as it lands."""
    missing = [t for t in targets if f"host:{t.name}" not in already]

    with host_progress(len(missing), quiet) as progress:

        def done(doc: FactDocument, info: dict[str, Any]) -> None:
            journal.add(doc, info)
            progress.done(doc, info)
            if save_facts is not None:
                save_document(doc, save_facts)

        outcome = scanning.collect_hosts(
            missing,
            settings,
            creds,
            pack,
            int(config.raw.get("concurrency", 8)),
            done,
            deadline=float(config.raw["host_deadline"]) if "host_deadline" in config.raw else None,
        )
    collected = {d.target.id: d for d in outcome.documents}
    return [
        already.get(f"host:{t.name}") or collected[f"host:{t.name}"] for t in targets
    ], outcome.interrupted


def open_journal(
    path: Path, resume: bool, header: dict[str, Any]
) -> tuple[Journal, dict[str, FactDocument]]:
    """A fresh journal, or the one being resumed with what it already holds."""
    if resume:
        contents = read_journal(path)
        return Journal(path, None), contents.documents
    if path.exists() and path.stat().st_size:
        path.rename(path.with_suffix(f".{int(path.stat().st_mtime)}.jsonl"))
    return Journal(path, header), {}


def finish_scan(
    pack: list[Rule],
    docs: list[FactDocument],
    command: str,
    config: ScanConfig,
    options: dict[str, Any],
    started: str,
    warnings: list[str],
    output: Path | None,
    formats: list[str] | None,
    fail_on: str | None,
    quiet: bool,
    compliance: ComplianceOptions,
) -> None:
    """Evaluate, apply waivers and history, write the reports, print the summary, exit."""
    threshold = parse_severity(fail_on or str(config.raw.get("fail_on", "high")))
    result = build_result(
        pack,
        docs,
        command=command,
        options={**options, "fail_on": threshold.value},
        started_at=started,
        params_for=scanning.host_parameters(config),
        warnings=warnings,
    )
    result = after_scan(
        result,
        compliance.store,
        compliance.waivers,
        compliance.summary_json,
        dt.date.today(),
        rule_ids={r.id for r in pack},
    )
    out = output or config.path_value("output", "directory") or Path("auditor-report")
    chosen = parse_formats(
        formats or list(config.section("output").get("formats", ["html", "json"]))
    )
    written = write_reports(result, out, chosen)
    if not quiet:
        print_summary(result, written, Console())
    raise typer.Exit(int(exit_code(result, threshold)))


@app.command("host")
def scan_host(
    hosts: list[str] = typer.Argument(
        None, help="Host names (default: the configuration's hosts)."
    ),
    config_file: Path | None = CONFIG_OPTION,
    probe_only: bool = typer.Option(
        False, "--probe-only", help="Only credential-free probes; no login."
    ),
    insecure: bool = INSECURE_OPTION,
    transport: str | None = typer.Option(
        None, "--transport", help="https, http (with message encryption) or auto."
    ),
    auth: str | None = typer.Option(
        None, "--auth", help="negotiate, ntlm, kerberos, certificate, credssp, basic."
    ),
    username: str | None = USERNAME_OPTION,
    password_env: str | None = PASSWORD_ENV_OPTION,
    save_facts: Path | None = typer.Option(
        None, "--save-facts", help="Also write each host's facts document here."
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
    """Gather each host's facts over WinRM (plus credential-free probes) and evaluate the host rules."""
    started = utc_now()
    config = load_config(config_file)
    scanning.install_names(config)
    overrides = scanning.Overrides(
        insecure=insecure,
        transport=transport,
        auth=auth,
        username=username,
        password_ref=f"env:{password_env}" if password_env else None,
    )
    pack = [
        r for r in scanning.select_rules(config, rules or []) if r.scope.target is DocumentKind.HOST
    ]
    if probe_only:
        pack = scanning.probe_rules(pack)
    compliance = ComplianceOptions(store, waivers, summary_json)
    compliance.check({r.id for r in pack})
    settings = scanning.host_settings(config, overrides)
    creds = None if probe_only else scanning.credentials(config, overrides)
    names = hosts or list(config.raw.get("hosts") or [])
    if not names:
        raise InputError(
            "no hosts: name them on the command line or in the configuration's 'hosts'"
        )
    targets = targets_from(names, config.names, config.host_groups)
    out = output or config.path_value("output", "directory") or Path("auditor-report")
    options: dict[str, Any] = {
        "insecure": settings.winrm.insecure,
        "probe_only": probe_only,
        "auth": settings.winrm.auth,
        "transport": settings.transport,
    }
    journal, already = open_journal(
        resume or journal_path or out / "journal.jsonl",
        resume is not None,
        {"command": "scan host", "started_at": started, "options": options},
    )
    try:
        docs, interrupted = run_host_collection(
            targets, config, settings, creds, pack, journal, already, quiet, save_facts
        )
    finally:
        journal.close()
    warnings = (
        ["TLS certificate validation was turned off (--insecure)"]
        if settings.winrm.insecure
        else []
    )
    if interrupted:
        warnings.append(f"scan interrupted: resume with --resume {journal.path}")
    finish_scan(
        pack,
        docs,
        "scan host",
        config,
        options,
        started,
        warnings,
        out,
        formats,
        fail_on,
        quiet,
        compliance,
    )
