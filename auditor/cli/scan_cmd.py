"""`auditor scan ...`: evaluate rules over facts and write reports."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from auditor import scanning
from auditor.cli.common import (
    FAIL_ON_OPTION,
    FORMAT_OPTION,
    OUTPUT_OPTION,
    RULES_OPTION,
    parse_formats,
    parse_severity,
)
from auditor.collectors.host import save_document, targets_from
from auditor.config import load_config
from auditor.engine.scan import build_result, exit_code, utc_now
from auditor.errors import InputError
from auditor.facts.io import load_documents
from auditor.facts.model import DocumentKind, FactDocument
from auditor.reports.console import print_summary
from auditor.reports.write import write_reports
from auditor.rules.pack import load_pack

app = typer.Typer(help="Scan targets (or saved facts) and write reports.", no_args_is_help=True)


@app.command("facts")
def scan_facts(
    files: list[Path] = typer.Argument(
        ..., help="Fact documents (JSON): host or domain facts, or lists of them."
    ),
    rules: list[Path] | None = RULES_OPTION,
    output: Path = OUTPUT_OPTION,
    formats: list[str] = FORMAT_OPTION,
    fail_on: str = FAIL_ON_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
) -> None:
    """Evaluate saved fact documents offline (the air-gapped path) and write reports."""
    started = utc_now()
    chosen = parse_formats(formats)
    threshold = parse_severity(fail_on)
    pack = load_pack(rules or [])
    documents = [doc for path in files for doc in load_documents(path)]
    result = build_result(
        pack,
        documents,
        command="scan facts",
        started_at=started,
        options={"fail_on": threshold.value, "inputs": [str(p) for p in files]},
    )
    written = write_reports(result, output, chosen)
    if not quiet:
        print_summary(result, written, Console())
    raise typer.Exit(int(exit_code(result, threshold)))


@app.command("host")
def scan_host(
    hosts: list[str] = typer.Argument(
        None, help="Host names (default: the configuration's hosts)."
    ),
    config_file: Path | None = typer.Option(
        None, "--config", "-c", help="Scan configuration (YAML)."
    ),
    probe_only: bool = typer.Option(
        False, "--probe-only", help="Only credential-free probes; no login."
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Do not validate TLS certificates (recorded in the report)."
    ),
    transport: str | None = typer.Option(
        None, "--transport", help="https, http (with message encryption) or auto."
    ),
    auth: str | None = typer.Option(
        None, "--auth", help="negotiate, ntlm, kerberos, certificate, credssp, basic."
    ),
    username: str | None = typer.Option(
        None, "--username", "-u", help="User name (DOMAIN\\user or UPN)."
    ),
    password_env: str | None = typer.Option(
        None, "--password-env", help="Environment variable holding the password."
    ),
    save_facts: Path | None = typer.Option(
        None, "--save-facts", help="Also write each host's facts document here."
    ),
    rules: list[Path] | None = RULES_OPTION,
    output: Path | None = typer.Option(None, "--output", "-o", help="Folder for the reports."),
    formats: list[str] | None = typer.Option(
        None, "--format", "-f", help="Report formats (repeatable)."
    ),
    fail_on: str | None = typer.Option(
        None, "--fail-on", help="Severity that makes the exit code 1."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
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
    settings = scanning.host_settings(config, overrides)
    creds = None if probe_only else scanning.credentials(config, overrides)
    names = hosts or list(config.raw.get("hosts") or [])
    if not names:
        raise InputError(
            "no hosts: name them on the command line or in the configuration's 'hosts'"
        )
    targets = targets_from(names, config.names, config.host_groups)
    console = Console(stderr=True, quiet=quiet)

    def done(doc: FactDocument, info: dict[str, object]) -> None:
        state = (
            f"[red]{doc.failure.detail}[/]"
            if doc.failure
            else f"ok via {info['transport'] or 'probes'}"
        )
        console.print(f"{doc.target.name}: {state}", highlight=False)
        if save_facts is not None:
            save_document(doc, save_facts)

    concurrency = int(config.raw.get("concurrency", 8))
    docs = scanning.collect_hosts(targets, settings, creds, pack, concurrency, done)
    threshold = parse_severity(fail_on or str(config.raw.get("fail_on", "high")))
    options = {
        "fail_on": threshold.value,
        "insecure": settings.winrm.insecure,
        "probe_only": probe_only,
        "auth": settings.winrm.auth,
        "transport": settings.transport,
    }
    warnings = (
        ["TLS certificate validation was turned off (--insecure)"]
        if settings.winrm.insecure
        else []
    )
    result = build_result(
        pack,
        docs,
        command="scan host",
        options=options,
        started_at=started,
        params_for=scanning.host_parameters(config),
        warnings=warnings,
    )
    out = output or config.path_value("output", "directory") or Path("auditor-report")
    chosen = parse_formats(
        formats or list(config.section("output").get("formats", ["html", "json"]))
    )
    written = write_reports(result, out, chosen)
    if not quiet:
        print_summary(result, written, Console())
    raise typer.Exit(int(exit_code(result, threshold)))
