"""Strict loading of rule files: every problem in every file reported at once as path:line."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditor.engine.cel import CelCompileError, compile_expression
from auditor.errors import RuleLoadError
from auditor.facts.model import DocumentKind
from auditor.facts.schema import fact_names
from auditor.results.vocabulary import Severity, Status
from auditor.rules.model import (
    Escalation,
    Fixture,
    ObjectSelector,
    RegistrySetting,
    Remediation,
    Rule,
    Scope,
)
from auditor.yamlio import LineDict, YamlProblem, line_of, load_file

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ALIAS_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*$")
KNOWN_ROLES = frozenset(
    {"domain_controller", "member_server", "workstation", "iis", "jump_host", "server"}
)
_RULE_KEYS = {
    "id": True,
    "title": True,
    "severity": True,
    "area": True,
    "scope": True,
    "description": True,
    "rationale": True,
    "impact": True,
    "remediation": True,
    "references": True,
    "facts": False,
    "optional_facts": False,
    "registry": False,
    "parameters": False,
    "condition": False,
    "expected": True,
    "evidence": False,
    "objects": False,
    "fixtures": True,
    "tags": False,
}  # key -> required
_FIXTURE_KEYS = {"name", "expect", "facts", "registry", "roles", "params", "objects"}
_OBJECT_KEYS = {"from", "where", "key", "label", "evidence", "escalate"}


class _Problems:
    """Collects `path:line: message` lines for one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, line: int, message: str) -> None:
        self.items.append(f"{self.path}:{line}: {message}")


def _text(raw: LineDict, key: str, problems: _Problems) -> str:
    """A non-empty string value; a missing key is reported once, by parse_rule."""
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or not value.strip():
        problems.add(line_of(raw, key), f"'{key}' must be a non-empty string")
        return ""
    return value.strip()


def _strings(raw: LineDict, key: str, problems: _Problems) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.add(line_of(raw, key), f"'{key}' must be a list of strings")
        return ()
    return tuple(value)


def _unknown_keys(raw: LineDict, allowed: Iterable[str], where: str, problems: _Problems) -> None:
    allowed_set = set(allowed)
    for key in raw:
        if key not in allowed_set:
            problems.add(
                line_of(raw, key),
                f"unknown key '{key}' in {where} (allowed: {', '.join(sorted(allowed_set))})",
            )


def _compile(expr: Any, line: int, what: str, problems: _Problems) -> str | None:
    if not isinstance(expr, str) or not expr.strip():
        problems.add(line, f"{what} must be a CEL expression (a non-empty string)")
        return None
    try:
        compile_expression(expr)
    except CelCompileError as exc:
        problems.add(line, f"{what} does not compile: {exc.short}")
        return None
    return expr.strip()


def _scope(raw: Any, line: int, problems: _Problems) -> Scope:
    if not isinstance(raw, LineDict):
        if raw is not None:
            problems.add(line, "'scope' must be a mapping with 'target' (host or domain)")
        return Scope(DocumentKind.HOST)
    _unknown_keys(raw, ("target", "roles", "when"), "scope", problems)
    try:
        target = DocumentKind(str(raw.get("target")))
    except ValueError:
        problems.add(line_of(raw, "target"), "scope.target must be 'host' or 'domain'")
        target = DocumentKind.HOST
    roles = _strings(raw, "roles", problems)
    for role in roles:
        if role not in KNOWN_ROLES:
            problems.add(
                line_of(raw, "roles"),
                f"unknown role '{role}' (known: {', '.join(sorted(KNOWN_ROLES))})",
            )
    if roles and target is DocumentKind.DOMAIN:
        problems.add(line_of(raw, "roles"), "scope.roles applies to host rules only")
    when = None
    if "when" in raw:
        when = _compile(raw["when"], line_of(raw, "when"), "scope.when", problems)
    return Scope(target, roles, when)


def _remediation(raw: Any, line: int, problems: _Problems) -> Remediation:
    if not isinstance(raw, LineDict):
        if raw is not None:
            problems.add(line, "'remediation' must be a mapping with at least 'text'")
        return Remediation("")
    _unknown_keys(raw, ("text", "powershell", "gpo", "registry"), "remediation", problems)
    if "text" not in raw:
        problems.add(raw.line, "missing required key 'remediation.text'")
    return Remediation(
        text=_text(raw, "text", problems),
        powershell=_text(raw, "powershell", problems) or None,
        gpo=_text(raw, "gpo", problems) or None,
        registry=_text(raw, "registry", problems) or None,
    )


def _registry(raw: Any, line: int, problems: _Problems) -> tuple[RegistrySetting, ...]:
    if not isinstance(raw, LineDict):
        problems.add(line, "'registry' must map an alias to {policy, local, default}")
        return ()
    settings = []
    for alias, spec in raw.items():
        where = line_of(raw, alias)
        if not ALIAS_PATTERN.match(alias):
            problems.add(where, f"registry alias '{alias}' must be lower_snake_case")
        if not isinstance(spec, LineDict):
            problems.add(where, f"registry.{alias} must be a mapping with 'policy' and/or 'local'")
            continue
        _unknown_keys(spec, ("policy", "local", "default"), f"registry.{alias}", problems)
        policy, local = spec.get("policy"), spec.get("local")
        if policy is None and local is None:
            problems.add(where, f"registry.{alias} needs 'policy' or 'local' (a value path)")
        for key, path in (("policy", policy), ("local", local)):
            if path is not None and (
                not isinstance(path, str) or not path.upper().startswith("HKLM\\")
            ):
                problems.add(
                    line_of(spec, key), f"registry.{alias}.{key} must be an HKLM\\... path"
                )
        settings.append(RegistrySetting(alias, policy, local, spec.get("default")))
    return tuple(settings)


def _objects(raw: Any, line: int, problems: _Problems) -> ObjectSelector | None:
    if not isinstance(raw, LineDict):
        problems.add(line, "'objects' must be a mapping with 'from', 'where' and 'key'")
        return None
    _unknown_keys(raw, _OBJECT_KEYS, "objects", problems)
    parts = {}
    for key in ("from", "where", "key"):
        if key not in raw:
            problems.add(raw.line, f"objects needs '{key}'")
        else:
            parts[key] = _compile(raw[key], line_of(raw, key), f"objects.{key}", problems)
    label = None
    if "label" in raw:
        label = _compile(raw["label"], line_of(raw, "label"), "objects.label", problems)
    evidence = _evidence(raw.get("evidence", LineDict()), line_of(raw, "evidence"), problems)
    escalate = []
    for item in raw.get("escalate", []) or []:
        if not isinstance(item, LineDict) or set(item) != {"when", "severity"}:
            problems.add(
                line_of(raw, "escalate"), "each escalate entry needs 'when' and 'severity'"
            )
            continue
        when = _compile(item["when"], line_of(item, "when"), "escalate.when", problems)
        try:
            severity = Severity(str(item["severity"]))
        except ValueError:
            problems.add(line_of(item, "severity"), f"bad severity {item['severity']!r}")
            continue
        if when:
            escalate.append(Escalation(when, severity))
    if None in parts.values() or len(parts) < 3:
        return None
    return ObjectSelector(
        source=str(parts["from"]),
        where=str(parts["where"]),
        key=str(parts["key"]),
        label=label,
        evidence=evidence,
        escalate=tuple(escalate),
    )


def _evidence(raw: Any, line: int, problems: _Problems) -> dict[str, str]:
    if not isinstance(raw, dict):
        problems.add(line, "'evidence' must map a label to a CEL expression")
        return {}
    out = {}
    for label, expr in raw.items():
        compiled = _compile(expr, line_of(raw, label), f"evidence '{label}'", problems)
        if compiled:
            out[label] = compiled
    return out


def _fixtures(raw: Any, line: int, problems: _Problems) -> tuple[Fixture, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        problems.add(line, "'fixtures' must be a non-empty list (pass, fail and error cases)")
        return ()
    fixtures = []
    for i, item in enumerate(raw):
        if not isinstance(item, LineDict):
            problems.add(line, f"fixture #{i + 1} must be a mapping")
            continue
        _unknown_keys(item, _FIXTURE_KEYS, f"fixture #{i + 1}", problems)
        try:
            expect = Status(str(item.get("expect")))
        except ValueError:
            problems.add(
                line_of(item, "expect"),
                f"fixture #{i + 1}: expect must be one of {', '.join(s.value for s in Status)}",
            )
            continue
        mappings = {k: item.get(k, {}) for k in ("facts", "registry", "params")}
        if not all(isinstance(v, dict) for v in mappings.values()):
            problems.add(
                item.line, f"fixture #{i + 1}: facts, registry and params must be mappings"
            )
            continue
        roles = item.get("roles")
        objects = item.get("objects")
        fixtures.append(
            Fixture(
                name=str(item.get("name", f"fixture #{i + 1}")),
                expect=expect,
                facts=mappings["facts"],
                registry=mappings["registry"],
                roles=tuple(roles) if isinstance(roles, list) else None,
                params=mappings["params"],
                objects=tuple(str(o) for o in objects) if isinstance(objects, list) else None,
                line=item.line,
            )
        )
    expects = {f.expect for f in fixtures}
    for needed in (Status.PASS, Status.FAIL, Status.ERROR):
        if fixtures and needed not in expects:
            problems.add(line, f"fixtures need at least one '{needed.value}' case")
    return tuple(fixtures)


def parse_rule(raw: Any, path: Path, problems: _Problems) -> Rule | None:
    """Build a Rule from one parsed YAML document, adding every problem found."""
    if not isinstance(raw, LineDict):
        problems.add(1, "a rule file must be a YAML mapping")
        return None
    _unknown_keys(raw, _RULE_KEYS, "rule", problems)
    for key, required in _RULE_KEYS.items():
        if required and key not in raw:
            problems.add(raw.line, f"missing required key '{key}'")
    rule_id = _text(raw, "id", problems)
    if rule_id and not ID_PATTERN.match(rule_id):
        problems.add(line_of(raw, "id"), f"id '{rule_id}' must be lower-case words joined by '-'")
    if rule_id and rule_id != path.stem:
        problems.add(
            line_of(raw, "id"), f"id '{rule_id}' does not match the file name '{path.stem}'"
        )
    try:
        severity = Severity(str(raw.get("severity")))
    except ValueError:
        problems.add(
            line_of(raw, "severity"),
            f"severity must be one of {', '.join(s.value for s in Severity)} "
            f"(got {raw.get('severity')!r})",
        )
        severity = Severity.INFO
    scope = _scope(raw.get("scope"), line_of(raw, "scope"), problems)
    known = fact_names(scope.target)
    facts = _strings(raw, "facts", problems)
    optional = _strings(raw, "optional_facts", problems)
    for key, names in (("facts", facts), ("optional_facts", optional)):
        for name in names:
            if name not in known:
                problems.add(
                    line_of(raw, key),
                    f"unknown fact '{name}' for {scope.target.value} rules "
                    f"(see auditor/facts/schemas/{scope.target.value}-facts-1.json)",
                )
    registry = (
        _registry(raw["registry"], line_of(raw, "registry"), problems) if "registry" in raw else ()
    )
    if registry and scope.target is DocumentKind.DOMAIN:
        problems.add(line_of(raw, "registry"), "registry values exist on host rules only")
    has_condition, has_objects = "condition" in raw, "objects" in raw
    if has_condition == has_objects:
        problems.add(raw.line, "a rule needs exactly one of 'condition' or 'objects'")
    condition = (
        _compile(raw["condition"], line_of(raw, "condition"), "condition", problems)
        if has_condition
        else None
    )
    objects = _objects(raw["objects"], line_of(raw, "objects"), problems) if has_objects else None
    if not facts and not registry and not optional:
        problems.add(raw.line, "a rule must read at least one fact or registry value")
    parameters = raw.get("parameters", {})
    if not isinstance(parameters, dict) or not all(ALIAS_PATTERN.match(k) for k in parameters):
        problems.add(
            line_of(raw, "parameters"), "'parameters' must map lower_snake_case names to values"
        )
        parameters = {}
    references = _strings(raw, "references", problems)
    for ref in references:
        if not ref.startswith("https://"):
            problems.add(line_of(raw, "references"), f"reference '{ref}' must be an https:// URL")
    return Rule(
        id=rule_id,
        title=_text(raw, "title", problems),
        severity=severity,
        area=_text(raw, "area", problems),
        scope=scope,
        description=_text(raw, "description", problems),
        rationale=_text(raw, "rationale", problems),
        impact=_text(raw, "impact", problems),
        remediation=_remediation(raw.get("remediation"), line_of(raw, "remediation"), problems),
        references=references,
        facts=facts,
        optional_facts=optional,
        registry=registry,
        parameters=dict(parameters),
        condition=condition,
        expected=_text(raw, "expected", problems),
        evidence=_evidence(raw.get("evidence", {}), line_of(raw, "evidence"), problems),
        objects=objects,
        fixtures=_fixtures(raw.get("fixtures"), line_of(raw, "fixtures"), problems),
        tags=_strings(raw, "tags", problems),
        path=path,
    )


def rule_files(paths: Iterable[Path]) -> list[Path]:
    """Rule files under the given files/folders; `mappings/` folders hold no rules."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*.y*ml"))
                if "mappings" not in p.relative_to(path).parts and p.suffix in (".yaml", ".yml")
            )
        else:
            found.append(path)
    return found


def load_rules(
    paths: Iterable[Path], mappings: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None
) -> list[Rule]:
    """Load every rule under `paths`; raise RuleLoadError listing all problems of all files."""
    all_problems: list[str] = []
    rules: list[Rule] = []
    files = rule_files(paths)
    for path in files:
        problems = _Problems(path)
        if not path.exists():
            problems.add(0, "no such file or folder")
            all_problems.extend(problems.items)
            continue
        try:
            raw = load_file(path)
        except YamlProblem as exc:
            problems.add(exc.line, exc.message)
        else:
            rule = parse_rule(raw, path, problems)
            if rule is not None and not problems.items:
                rules.append(rule)
        all_problems.extend(problems.items)
    seen: dict[str, Path] = {}
    for rule in rules:
        if rule.id in seen:
            all_problems.append(
                f"{rule.path}:1: duplicate rule id '{rule.id}' (also in {seen[rule.id]})"
            )
        seen[rule.id] = rule.path
    if not files:
        all_problems.append(f"{', '.join(str(p) for p in paths)}:0: no rule files found")
    if all_problems:
        raise RuleLoadError(all_problems)
    if mappings:
        rules = [_with_mappings(rule, mappings) for rule in rules]
    return sorted(rules, key=lambda r: r.id)


def _with_mappings(rule: Rule, mappings: Mapping[str, Mapping[str, tuple[str, ...]]]) -> Rule:
    mine = {fw: items[rule.id] for fw, items in mappings.items() if rule.id in items}
    return replace(rule, mappings=mine)
