"""`auditor scan facts|host|domain`: flags into a plan, the plan through the pipeline, its exit code."""

from __future__ import annotations

from pathlib import Path

import typer

from auditor.cli.common import (
    CONCURRENCY_OPTION,
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
)
from auditor.collectors.winrm.client import AUTH_METHODS
from auditor.pipeline import plan, run

app = typer.Typer(help="Scan targets (or saved facts) and write reports.", no_args_is_help=True)


def _scan(command: plan.Command, flags: plan.Flags) -> None:
    raise typer.Exit(int(run.run(plan.build(command, flags))))


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
    _scan(
        plan.Command.FACTS,
        plan.Flags(
            facts=tuple(files),
            rules=tuple(rules or ()),
            output=output,
            formats=tuple(formats or ()),
            fail_on=fail_on,
            quiet=quiet,
            store=store,
            waivers=waivers,
            summary_json=summary_json,
        ),
    )


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
    auth: str | None = typer.Option(None, "--auth", help=f"{', '.join(AUTH_METHODS)}."),
    username: str | None = USERNAME_OPTION,
    password_env: str | None = PASSWORD_ENV_OPTION,
    concurrency: int | None = CONCURRENCY_OPTION,
    save_facts: Path | None = typer.Option(
        None, "--save-facts", help="Also write each host's facts document here."
    ),
    journal: Path | None = JOURNAL_OPTION,
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
    _scan(
        plan.Command.HOST,
        plan.Flags(
            hosts=tuple(hosts or ()),
            config=config_file,
            probe_only=probe_only,
            insecure=insecure,
            transport=transport,
            auth=auth,
            username=username,
            password_env=password_env,
            concurrency=concurrency,
            save_facts=save_facts,
            journal=journal,
            resume=resume,
            rules=tuple(rules or ()),
            output=output,
            formats=tuple(formats or ()),
            fail_on=fail_on,
            quiet=quiet,
            store=store,
            waivers=waivers,
            summary_json=summary_json,
        ),
    )


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
    concurrency: int | None = CONCURRENCY_OPTION,
    journal: Path | None = JOURNAL_OPTION,
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
    _scan(
        plan.Command.DOMAIN,
        plan.Flags(
            config=config_file,
            dc=dc,
            no_hosts=no_hosts,
            ldap_mode=ldap_mode,
            bind=bind,
            insecure=insecure,
            username=username,
            password_env=password_env,
            concurrency=concurrency,
            journal=journal,
            resume=resume,
            rules=tuple(rules or ()),
            output=output,
            formats=tuple(formats or ()),
            fail_on=fail_on,
            quiet=quiet,
            store=store,
            waivers=waivers,
            summary_json=summary_json,
        ),
    )
