"""Evaluating rules over fact documents: rules are pure functions of facts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.engine.cel import CelEvaluationError, compile_expression, prepare, run
from auditor.facts.model import Available, FactDocument, Source, Unavailable
from auditor.results.model import Finding, RuleResult
from auditor.results.vocabulary import Status
from auditor.rules.model import ObjectSelector, RegistrySetting, Rule


@dataclass(frozen=True)
class _Undecided(Exception):
    """The rule cannot be decided on these facts; becomes an `error` result."""

    reason: str


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{'a.b': 1, 'a.c': 2} -> {'a': {'b': 1, 'c': 2}}, so CEL reads `a.b`."""
    out: dict[str, Any] = {}
    for name, value in flat.items():
        node = out
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _describe(name: str, fact: Unavailable) -> str:
    detail = f": {fact.detail}" if fact.detail else ""
    return f"{name} unavailable ({fact.reason.value}{detail})"


def _read_facts(rule: Rule, doc: FactDocument) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    missing = []
    for name in rule.facts:
        fact = doc.get(name)
        if isinstance(fact, Unavailable):
            missing.append(_describe(name, fact))
            continue
        values[name] = fact.value
        if fact.source is not None:
            sources[name] = fact.source.value
    if missing:
        raise _Undecided("; ".join(missing))
    for name in rule.optional_facts:
        fact = doc.get(name)
        values[name] = fact.value if isinstance(fact, Available) else None
        if isinstance(fact, Available) and fact.source is not None:
            sources[name] = fact.source.value
    return values, sources


def _registry_value(doc: FactDocument, path: str) -> tuple[bool, Any]:
    """(present, data) of one registry value; raises _Undecided when it could not be read."""
    fact = doc.get_registry(path)
    if isinstance(fact, Unavailable):
        raise _Undecided(_describe(f"registry value {path}", fact))
    value = fact.value or {}
    return bool(value.get("present")), value.get("data")


def _read_setting(doc: FactDocument, setting: RegistrySetting) -> dict[str, Any]:
    """Effective value of a policy/local setting: policy wins, then local, then the default."""
    if setting.policy is not None:
        present, data = _registry_value(doc, setting.policy)
        if present:
            return {"value": data, "source": Source.POLICY.value, "path": setting.policy}
    if setting.local is not None:
        present, data = _registry_value(doc, setting.local)
        if present:
            return {"value": data, "source": Source.LOCAL.value, "path": setting.local}
    return {"value": setting.default, "source": Source.DEFAULT.value, "path": None}


def _context(
    rule: Rule, doc: FactDocument, params: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    values, sources = _read_facts(rule, doc)
    context = _nest(values)
    if rule.registry:
        settings = {s.alias: _read_setting(doc, s) for s in rule.registry}
        context["reg"] = settings
        sources.update({f"reg.{alias}": s["source"] for alias, s in settings.items()})
    context["params"] = {**rule.parameters, **params}
    context["target"] = {"name": doc.target.name, "roles": list(doc.target.roles)}
    return context, sources


def _eval(expression: str, context: Any, what: str) -> Any:
    try:
        return run(expression, context)
    except CelEvaluationError as exc:
        raise _Undecided(f"{what} could not be evaluated: {exc}") from None


def _eval_bool(expression: str, context: Any, what: str) -> bool:
    value = _eval(expression, context, what)
    if value is None:
        raise _Undecided(f"{what} is undecided on the facts available")
    if not isinstance(value, bool):
        raise _Undecided(f"{what} gave {type(value).__name__}, not true/false")
    return value


def _outside_roles(rule: Rule, doc: FactDocument) -> bool:
    """Role scope is decided first: it needs only host.roles, not the rule's own facts."""
    if not rule.scope.roles:
        return False
    roles = doc.get("host.roles")
    if isinstance(roles, Unavailable):
        raise _Undecided("scope needs the host's roles: " + _describe("host.roles", roles))
    return not set(rule.scope.roles) & set(roles.value)


# CEL list building in the binding is quadratic in the list's length: object rules run over
# chunks, so the cost stays linear in the number of objects however many of them offend.
_CHUNK = 64
_PLAIN_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_OBJECTS = "auditor_objects"


def _objects(selector: ObjectSelector, context: Mapping[str, Any]) -> list[Any]:
    """The list to select from: read directly when `from` names a fact, else evaluated."""
    source = selector.source.strip()
    if _PLAIN_PATH.match(source):
        node: Any = context
        for part in source.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise _Undecided(f"objects.from could not be evaluated: no {source}")
            node = node[part]
        value = node
    else:
        value = _eval(source, context, "objects.from")
    if not isinstance(value, list):
        raise _Undecided("objects.from did not give a list")
    return value


def _object_findings(
    rule: Rule, selector: ObjectSelector, context: Mapping[str, Any]
) -> list[Finding]:
    """Select the offenders and shape their evidence, chunk by chunk, in CEL."""
    fields = {"key": selector.key, "label": selector.label or "null", "where": selector.where}
    fields.update({f"e_{i}": expr for i, expr in enumerate(selector.evidence.values())})
    fields.update({f"s_{i}": esc.when for i, esc in enumerate(selector.escalate)})
    shape = ", ".join(f'"{name}": ({expr})' for name, expr in fields.items())
    # Objects whose `where` is null are kept too, so "undecided" is reported, never dropped.
    program = f"{_OBJECTS}.filter(obj, ({selector.where}) != false).map(obj, {{{shape}}})"
    referenced = set(compile_expression(program).variables())
    shared = {name: value for name, value in context.items() if name in referenced}
    objects = _objects(selector, context)
    rows: list[Any] = []
    for start in range(0, len(objects), _CHUNK):
        chunk = _eval(program, {**shared, _OBJECTS: objects[start : start + _CHUNK]}, "objects")
        rows.extend(chunk)
    undecided = [str(row.get("key")) for row in rows if row.get("where") is not True]
    if undecided:
        raise _Undecided(
            f"objects.where is undecided for {', '.join(undecided[:5])}"
            + (f" and {len(undecided) - 5} more" if len(undecided) > 5 else "")
        )
    labels = list(selector.evidence)
    findings = []
    for row in rows:
        severity = rule.severity
        for i, esc in enumerate(selector.escalate):
            if row.get(f"s_{i}") is True and esc.severity.rank > severity.rank:
                severity = esc.severity
        evidence = {label: row.get(f"e_{i}") for i, label in enumerate(labels)}
        findings.append(Finding(str(row.get("key")), row.get("label"), severity, evidence))
    return findings


def evaluate(rule: Rule, doc: FactDocument, params: Mapping[str, Any] | None = None) -> RuleResult:
    """The outcome of `rule` on one document. Missing facts give `error`, never `pass`."""
    target_id = doc.target.id

    def result(status: Status, **kwargs: Any) -> RuleResult:
        return RuleResult(
            rule.id, target_id, status, kwargs.pop("severity", rule.severity), **kwargs
        )

    sources: dict[str, str] = {}
    try:
        if doc.failure is not None:
            # A host we could not collect is undecided everywhere, even where probes answered.
            raise _Undecided(_describe("target", doc.failure))
        if _outside_roles(rule, doc):
            return result(Status.NOT_APPLICABLE, reason="outside the rule's roles")
        context, sources = _context(rule, doc, params or {})
        try:
            bound = prepare(context)  # converted once for scope, evidence and condition
        except CelEvaluationError as exc:
            raise _Undecided(f"facts could not be given to CEL: {exc}") from None
        if rule.scope.when is not None and not _eval_bool(rule.scope.when, bound, "scope.when"):
            return result(Status.NOT_APPLICABLE, reason="outside the rule's scope", sources=sources)
        evidence = {
            label: _eval(expr, bound, f"evidence '{label}'")
            for label, expr in rule.evidence.items()
        }
        if rule.objects is not None:
            findings = _object_findings(rule, rule.objects, context)
            if not findings:
                return result(Status.PASS, evidence=evidence, sources=sources)
            worst = max((f.severity for f in findings), key=lambda s: s.rank)
            return result(
                Status.FAIL,
                severity=worst,
                evidence=evidence,
                sources=sources,
                findings=tuple(findings),
            )
        assert rule.condition is not None
        if _eval_bool(rule.condition, bound, "condition"):
            return result(Status.PASS, evidence=evidence, sources=sources)
        finding = Finding(None, None, rule.severity, evidence)
        return result(Status.FAIL, evidence=evidence, sources=sources, findings=(finding,))
    except _Undecided as undecided:
        return result(Status.ERROR, reason=undecided.reason, sources=sources)


def applies_to(rule: Rule, doc: FactDocument) -> bool:
    """Host rules judge host documents, domain rules the domain document."""
    return rule.scope.target is doc.target.kind


def evaluate_all(
    rules: Iterable[Rule],
    documents: Iterable[FactDocument],
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[RuleResult]:
    """Every applicable rule on every document; `params` overrides per rule id."""
    rule_list = list(rules)
    params = params or {}
    for doc in documents:
        for rule in rule_list:
            if applies_to(rule, doc):
                yield evaluate(rule, doc, params.get(rule.id))
