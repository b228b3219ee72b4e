"""`auditor rules ...`: list, show, validate and test rule packs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from auditor.cli.common import RULES_OPTION
from auditor.errors import ExitCode, InputError
from auditor.resources import rules_dir
from auditor.rules.docs import render_catalogue
from auditor.rules.fixtures import run_all
from auditor.rules.mappings import by_framework, load_mappings
from auditor.rules.pack import load_pack
from auditor.terminal import DataConsole

app = typer.Typer(help="List, show, validate and test rules.", no_args_is_help=True)
console = DataConsole()


@app.command("list")
def list_rules(
    rules: list[Path] | None = RULES_OPTION,
    framework: str | None = typer.Option(
        None, "--framework", help="Show coverage of a mapped framework (cis, mitre)."
    ),
) -> None:
    """A table of rules: id, severity, scope, title (and framework items with --framework)."""
    pack = load_pack(rules or [])
    if framework:
        framework = framework.lower()
        known = sorted(by_framework(load_mappings(rules_dir() / "mappings")))
        if framework not in known:
            raise InputError(
                f"--framework: unknown framework {framework[:40]!r} (known: {', '.join(known)})"
            )
    table = Table(show_lines=False)
    for column in ("id", "severity", "scope", "title"):
        table.add_column(column, overflow="fold")
    if framework:
        table.add_column(framework, overflow="fold")
    mapped = 0
    for rule in pack:
        scope = rule.scope.target.value + (
            f" ({', '.join(rule.scope.roles)})" if rule.scope.roles else ""
        )
        row = [rule.id, rule.severity.value, scope, rule.title]
        if framework:
            items = rule.mappings.get(framework, ())
            mapped += bool(items)
            row.append(", ".join(items) or "-")
        table.add_row(*row)
    console.print(table)
    if framework:
        console.print(f"{mapped} of {len(pack)} rules map to {framework}")


@app.command("show")
def show(
    rule_id: str = typer.Argument(..., help="Rule id."), rules: list[Path] | None = RULES_OPTION
) -> None:
    """Everything about one rule, remediation included."""
    found = {r.id: r for r in load_pack(rules or [])}
    rule = found.get(rule_id)
    if rule is None:
        raise InputError(f"no rule '{rule_id}' (see `auditor rules list`)")
    meta = rule.metadata()

    def field(name: str, value: object) -> None:
        console.print(f"[bold]{name}[/]: {escape(str(value))}", highlight=False)

    console.print(f"[bold]{escape(rule.title)}[/]")
    field("id", rule.id)
    field("severity", rule.severity.value)
    field("area", rule.area)
    field("scope", meta["scope"])
    field("file", rule.path)
    for key in ("description", "rationale", "impact", "expected"):
        field(key, meta[key])
    field("facts", ", ".join(rule.facts + rule.optional_facts) or "-")
    for setting in rule.registry:
        field(
            f"registry {setting.alias}",
            f"policy={setting.policy} local={setting.local} default={setting.default}",
        )
    field("condition", rule.condition or rule.objects)
    for key, value in meta["remediation"].items():
        if value:
            field(f"remediation.{key}", value)
    for ref in rule.references:
        field("reference", ref)
    for framework, items in rule.mappings.items():
        field(framework, ", ".join(items))


@app.command("validate")
def validate(
    paths: list[Path] = typer.Argument(
        None, help="Rule files or folders (default: the built-in pack)."
    ),
) -> None:
    """Load rules strictly; print every problem as path:line: message (exit 2)."""
    pack = load_pack(paths or [])
    console.print(f"{len(pack)} rules valid")


@app.command("test")
def run_fixtures(
    paths: list[Path] = typer.Argument(
        None, help="Rule files or folders (default: the built-in pack)."
    ),
) -> None:
    """Run every rule's fixtures; exit 1 when one does not give its expected result."""
    pack = load_pack(paths or [])
    outcomes = run_all(pack)
    failures = [o for o in outcomes if not o.ok]
    for outcome in failures:
        console.print(f"[red]FAIL[/] {outcome.message}", highlight=False)
    console.print(
        f"{len(outcomes) - len(failures)} passed, {len(failures)} failed ({len(pack)} rules)"
    )
    if failures:
        raise typer.Exit(int(ExitCode.FINDINGS))


@app.command("docs")
def docs(
    output: Path = typer.Option(
        Path("docs/rules.md"), "--output", "-o", help="Where to write the catalogue."
    ),
) -> None:
    """Write the rule catalogue (docs/rules.md) generated from the built-in pack."""
    text = render_catalogue(load_pack())
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{output}: cannot write: {exc.strerror}") from None
    console.print(f"wrote {output}", highlight=False)
