"""`auditor scan ...`: evaluate rules over facts and write reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    check_folder,
    parse_formats,
    parse_severity,
)
from auditor.cli.progress import host_progress
from auditor.clock import utc_now
from auditor.collectors.host import HostScanSettings, HostTarget, save_document, targets_from
from auditor.collectors.winrm.offline import load_any
from auditor.compliance import after_scan
from auditor.config import ScanConfig, check_local_files, load_config
from auditor.credentials import Credentials
from auditor.engine.scan import build_result, exit_code
from auditor.errors import InputError
from auditor.facts.io import check_name_length
from auditor.facts.model import DocumentKind, FactDocument
from auditor.journal import Journal, check_same_scan, read_journal, scan_header
from auditor.reports.console import print_summary
from auditor.reports.formats import OutputFormat
from auditor.reports.write import write_reports
from auditor.results.vocabulary import Severity
from auditor.rules.model import Rule
from auditor.rules.pack import load_pack
from auditor.terminal import DataConsole

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
    config = load_config(None)
    reports = plan_reports(config, output, formats, fail_on)
    pack = load_pack(rules or [])
    compliance = ComplianceOptions(store, waivers, summary_json)
    compliance.check({r.id for r in pack})
    documents = load_fact_files(files)
    options: dict[str, Any] = {"inputs": [str(p) for p in files]}
    finish_scan(
        pack, documents, "scan facts", config, options, started, [], reports, quiet, compliance
    )


def load_fact_files(files: list[Path]) -> list[FactDocument]:
    """Every input's targets, each once: an empty file or a target given twice is an input
    error, not a clean scan of nothing or a target counted twice."""
    documents: list[FactDocument] = []
    seen: dict[str, str] = {}
    for path in files:
        loaded = load_any(path)
        if not loaded:
            raise InputError(f"{path}: no targets: the file holds an empty list of facts documents")
        for i, doc in enumerate(loaded):  # names were bounded as each document was read
            where = f"{path}[{i}]" if len(loaded) > 1 else str(path)
            if doc.target.id in seen:
                raise InputError(
                    f"{where}: target {doc.target.id} is also in {seen[doc.target.id]}: "
                    "give each target once"
                )
            seen[doc.target.id] = where
            documents.append(doc)
    return documents


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
        check_same_scan(path, contents.header, header)
        return Journal(path, None), contents.documents
    if path.exists() and path.stat().st_size:
        path.rename(path.with_suffix(f".{int(path.stat().st_mtime)}.jsonl"))
    return Journal(path, header), {}


@dataclass(frozen=True)
class ReportPlan:
    """Where the reports go, in which formats, and the exit threshold: settled before collecting."""

    directory: Path
    formats: tuple[OutputFormat, ...]
    threshold: Severity


def plan_reports(
    config: ScanConfig, output: Path | None, formats: list[str] | None, fail_on: str | None
) -> ReportPlan:
    """A bad format, threshold or output folder ends the command now, not after the collection."""
    directory = output or config.path_value("output", "directory") or Path("auditor-report")
    chosen = parse_formats(
        formats or list(config.section("output").get("formats", ["html", "json"]))
    )
    threshold = parse_severity(fail_on or str(config.raw.get("fail_on", "high")))
    check_folder(directory, "the output folder")
    return ReportPlan(directory, tuple(chosen), threshold)


def finish_scan(
    pack: list[Rule],
    docs: list[FactDocument],
    command: str,
    config: ScanConfig,
    options: dict[str, Any],
    started: str,
    warnings: list[str],
    reports: ReportPlan,
    quiet: bool,
    compliance: ComplianceOptions,
) -> None:
    """Evaluate, apply waivers and history, write the reports, print the summary, exit."""
    result = build_result(
        pack,
        docs,
        command=command,
        options={**options, "fail_on": reports.threshold.value},
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
    written = write_reports(result, reports.directory, reports.formats)
    if not quiet:
        print_summary(result, written, DataConsole())
    raise typer.Exit(int(exit_code(result, reports.threshold)))


def host_names(names: list[str]) -> list[str]:
    """The hosts to scan, each once; a name no DNS could hold is refused before any is contacted."""
    if not names:
        raise InputError(
            "no hosts: name them on the command line or in the configuration's 'hosts'"
        )
    for name in names:
        check_name_length(f"host name {name[:40]}...:", name)
    return list(dict.fromkeys(name.lower() for name in names))


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
    reports = plan_reports(config, output, formats, fail_on)
    check_local_files(config, ["winrm"])
    names = host_names(hosts or list(config.raw.get("hosts") or []))
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
    targets = targets_from(names, config.names, config.host_groups)
    options: dict[str, Any] = {
        "insecure": settings.winrm.insecure,
        "probe_only": probe_only,
        "auth": settings.winrm.auth,
        "transport": settings.transport,
    }
    journal, already = open_journal(
        resume or journal_path or reports.directory / "journal.jsonl",
        resume is not None,
        scan_header("scan host", started, options, config, [t.name for t in targets]),
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
        pack, docs, "scan host", config, options, started, warnings, reports, quiet, compliance
    )
