"""Strict loading of rule files: every problem in every file reported at once as path:line."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

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
from auditor.strict import Node, Problems, shown

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


# A rule's own problems name their subject in the message (`scope.target must be ...`), as
# they always have; the reader's checks (types, unknown keys) put a key path before theirs.


def _say(node: Node, message: str) -> None:
    node.problems.add(node.line, message)


def _text(node: Node) -> str:
    """A non-empty string, stripped; a missing key is reported once, by parse_rule."""
    return (node.text(nonempty=True) or "").strip()


def _compile(node: Node, what: str) -> str | None:
    expr = node.value
    if not isinstance(expr, str) or not expr.strip():
        _say(node, f"{what} must be a CEL expression (a non-empty string)")
        return None
    try:
        compile_expression(expr)
    except CelCompileError as exc:
        _say(node, f"{what} does not compile: {exc.short}")
        return None
    return expr.strip()


def _scope(node: Node) -> Scope:
    if not isinstance(node.value, Mapping):
        if node.value is not None:
            _say(node, "'scope' must be a mapping with 'target' (host or domain)")
        return Scope(DocumentKind.HOST)
    node.keys(("target", "roles", "when"))
    try:
        target = DocumentKind(str(node["target"].value))
    except ValueError:
        _say(node["target"], "scope.target must be 'host' or 'domain'")
        target = DocumentKind.HOST
    roles = node["roles"].strings()
    for role in roles:
        if role not in KNOWN_ROLES:
            _say(
                node["roles"],
                f"unknown role {shown(role)} (known: {', '.join(sorted(KNOWN_ROLES))})",
            )
    if roles and target is DocumentKind.DOMAIN:
        _say(node["roles"], "scope.roles applies to host rules only")
    when = _compile(node["when"], "scope.when") if node["when"].present else None
    return Scope(target, roles, when)


def _remediation(node: Node) -> Remediation:
    if not isinstance(node.value, Mapping):
        if node.value is not None:
            _say(node, "'remediation' must be a mapping with at least 'text'")
        return Remediation("")
    node.keys(("text", "powershell", "gpo", "registry"), ("text",))
    return Remediation(
        text=_text(node["text"]),
        powershell=_text(node["powershell"]) or None,
        gpo=_text(node["gpo"]) or None,
        registry=_text(node["registry"]) or None,
    )


def _registry(node: Node) -> tuple[RegistrySetting, ...]:
    if not isinstance(node.value, Mapping):
        _say(node, "'registry' must map an alias to {policy, local, default}")
        return ()
    settings = []
    for alias, spec in node.entries():
        if not ALIAS_PATTERN.match(alias):
            _say(spec, f"registry alias {shown(alias)} must be lower_snake_case")
        if not isinstance(spec.value, Mapping):
            _say(spec, f"{spec.key} must be a mapping with 'policy' and/or 'local'")
            continue
        spec.keys(("policy", "local", "default"))
        policy, local = spec["policy"].value, spec["local"].value
        if policy is None and local is None:
            _say(spec, f"{spec.key} needs 'policy' or 'local' (a value path)")
        for path in (spec["policy"], spec["local"]):
            if path.value is not None and (
                not isinstance(path.value, str) or not path.value.upper().startswith("HKLM\\")
            ):
                _say(path, f"{path.key} must be an HKLM\\... path")
        settings.append(RegistrySetting(alias, policy, local, spec["default"].value))
    return tuple(settings)


def _escalation(item: Node) -> Escalation | None:
    if not isinstance(item.value, Mapping) or set(item.value) != {"when", "severity"}:
        _say(item, "each escalate entry needs 'when' and 'severity'")
        return None
    when = _compile(item["when"], "escalate.when")
    try:
        severity = Severity(str(item["severity"].value))
    except ValueError:
        _say(item["severity"], f"bad severity {shown(item['severity'].value)}")
        return None
    return Escalation(when, severity) if when else None


def _objects(node: Node) -> ObjectSelector | None:
    if not isinstance(node.value, Mapping):
        _say(node, "'objects' must be a mapping with 'from', 'where' and 'key'")
        return None
    node.keys(_OBJECT_KEYS)
    parts = {}
    for key in ("from", "where", "key"):
        if not node[key].present:
            _say(node, f"objects needs '{key}'")
        else:
            parts[key] = _compile(node[key], f"objects.{key}")
    label = _compile(node["label"], "objects.label") if node["label"].present else None
    evidence = _evidence(node["evidence"]) if node["evidence"].present else {}
    escalate = node["escalate"].each(_escalation) if node["escalate"].value else ()
    if None in parts.values() or len(parts) < 3:
        return None
    return ObjectSelector(
        source=str(parts["from"]),
        where=str(parts["where"]),
        key=str(parts["key"]),
        label=label,
        evidence=evidence,
        escalate=escalate,
    )


def _evidence(node: Node) -> dict[str, str]:
    if not isinstance(node.value, Mapping):
        _say(node, "'evidence' must map a label to a CEL expression")
        return {}
    out = {}
    for label, expr in node.entries():
        compiled = _compile(expr, f"evidence {shown(label)}")
        if compiled:
            out[label] = compiled
    return out


def _fixture(item: Node, number: int) -> Fixture | None:
    if not isinstance(item.value, Mapping):
        _say(item, f"fixture #{number} must be a mapping")
        return None
    item.keys(_FIXTURE_KEYS)
    try:
        expect = Status(str(item["expect"].value))
    except ValueError:
        _say(
            item["expect"],
            f"fixture #{number}: expect must be one of {', '.join(s.value for s in Status)}",
        )
        return None
    mappings = {
        k: item[k].value if item[k].present else {} for k in ("facts", "registry", "params")
    }
    if not all(isinstance(v, dict) for v in mappings.values()):
        _say(item, f"fixture #{number}: facts, registry and params must be mappings")
        return None
    roles, objects = item["roles"].value, item["objects"].value
    return Fixture(
        name=str(item["name"].value if item["name"].present else f"fixture #{number}"),
        expect=expect,
        facts=mappings["facts"],
        registry=mappings["registry"],
        roles=tuple(roles) if isinstance(roles, list) else None,
        params=mappings["params"],
        objects=tuple(str(o) for o in objects) if isinstance(objects, list) else None,
        line=item.line or 0,
    )


def _fixtures(node: Node) -> tuple[Fixture, ...]:
    if node.value is None:
        return ()
    if not isinstance(node.value, list) or not node.value:
        _say(node, "'fixtures' must be a non-empty list (pass, fail and error cases)")
        return ()
    fixtures = []
    for number, item in enumerate(node.items(), start=1):
        fixture = _fixture(item, number)
        if fixture is not None:
            fixtures.append(fixture)
    expects = {f.expect for f in fixtures}
    for needed in (Status.PASS, Status.FAIL, Status.ERROR):
        if fixtures and needed not in expects:
            _say(node, f"fixtures need at least one '{needed.value}' case")
    return tuple(fixtures)


def parse_rule(root: Node, path: Path) -> Rule | None:
    """Build a Rule from one parsed YAML document, adding every problem found."""
    if not isinstance(root.value, Mapping):
        root.problems.add(1, "a rule file must be a YAML mapping")
        return None
    root.keys(_RULE_KEYS, [key for key, required in _RULE_KEYS.items() if required], within="rule")
    rule_id = _text(root["id"])
    if rule_id and not ID_PATTERN.match(rule_id):
        _say(root["id"], f"id {shown(rule_id)} must be lower-case words joined by '-'")
    if rule_id and rule_id != path.stem:
        _say(root["id"], f"id {shown(rule_id)} does not match the file name '{path.stem}'")
    try:
        severity = Severity(str(root["severity"].value))
    except ValueError:
        _say(
            root["severity"],
            f"severity must be one of {', '.join(s.value for s in Severity)} "
            f"(got {shown(root['severity'].value)})",
        )
        severity = Severity.INFO
    scope = _scope(root["scope"])
    known = fact_names(scope.target)
    facts = root["facts"].strings()
    optional = root["optional_facts"].strings()
    for key, names in (("facts", facts), ("optional_facts", optional)):
        for name in names:
            if name not in known:
                _say(
                    root[key],
                    f"unknown fact {shown(name)} for {scope.target.value} rules "
                    f"(see auditor/facts/schemas/{scope.target.value}-facts-1.json)",
                )
    registry = _registry(root["registry"]) if root["registry"].present else ()
    if registry and scope.target is DocumentKind.DOMAIN:
        _say(root["registry"], "registry values exist on host rules only")
    has_condition, has_objects = root["condition"].present, root["objects"].present
    if has_condition == has_objects:
        _say(root, "a rule needs exactly one of 'condition' or 'objects'")
    condition = _compile(root["condition"], "condition") if has_condition else None
    objects = _objects(root["objects"]) if has_objects else None
    if not facts and not registry and not optional:
        _say(root, "a rule must read at least one fact or registry value")
    parameters = root["parameters"].value if root["parameters"].present else {}
    if not isinstance(parameters, dict) or not all(ALIAS_PATTERN.match(k) for k in parameters):
        _say(root["parameters"], "'parameters' must map lower_snake_case names to values")
        parameters = {}
    references = root["references"].strings()
    for ref in references:
        if not ref.startswith("https://"):
            _say(root["references"], f"reference {shown(ref)} must be an https:// URL")
    return Rule(
        id=rule_id,
        title=_text(root["title"]),
        severity=severity,
        area=_text(root["area"]),
        scope=scope,
        description=_text(root["description"]),
        rationale=_text(root["rationale"]),
        impact=_text(root["impact"]),
        remediation=_remediation(root["remediation"]),
        references=references,
        facts=facts,
        optional_facts=optional,
        registry=registry,
        parameters=dict(parameters),
        condition=condition,
        expected=_text(root["expected"]),
        evidence=_evidence(root["evidence"]) if root["evidence"].present else {},
        objects=objects,
        fixtures=_fixtures(root["fixtures"]),
        tags=root["tags"].strings(),
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
    paths = list(paths)
    pack = Problems(", ".join(str(p) for p in paths))
    rules: list[Rule] = []
    files = rule_files(paths)
    for path in files:
        problems = pack.about(str(path))
        if not path.exists():
            problems.add(0, "no such file or folder")
            continue
        before = len(problems)
        root = problems.load(path)
        rule = parse_rule(root, path) if root is not None else None
        if rule is not None and len(problems) == before:
            rules.append(rule)
    seen: dict[str, Path] = {}
    for rule in rules:
        if rule.id in seen:
            pack.about(str(rule.path)).add(
                1, f"duplicate rule id '{rule.id}' (also in {seen[rule.id]})"
            )
        seen[rule.id] = rule.path
    if not files:
        pack.add(0, "no rule files found")
    pack.check(RuleLoadError)
    if mappings:
        rules = [_with_mappings(rule, mappings) for rule in rules]
    return sorted(rules, key=lambda r: r.id)


def _with_mappings(rule: Rule, mappings: Mapping[str, Mapping[str, tuple[str, ...]]]) -> Rule:
    mine = {fw: items[rule.id] for fw, items in mappings.items() if rule.id in items}
    return replace(rule, mappings=mine)
