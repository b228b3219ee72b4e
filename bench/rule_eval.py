"""Benchmark: rule evaluation at scale with each CEL binding, printed as figures and a ratio.

Generates 10,000 host fact documents (each rule's facts drawn from its own fixtures, so every
branch is exercised) and one domain with 50,000 accounts, then evaluates the built-in pack
(plus copies of host rules up to --rules) with the chosen binding in a fresh subprocess, so
peak RSS is per binding. Run: python bench/rule_eval.py [--hosts N] [--accounts N] [--rules N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import resource
import subprocess
import sys
import time
from typing import Any

from auditor.engine import evaluate as engine
from auditor.engine.evaluate import evaluate_all
from auditor.facts.model import Available, DocumentKind, FactDocument, Target
from auditor.rules.fixtures import fixture_document
from auditor.rules.model import Rule
from auditor.rules.pack import load_pack

FLAGS = [
    "DONT_REQ_PREAUTH",
    "PASSWD_NOTREQD",
    "TRUSTED_FOR_DELEGATION",
    "NOT_DELEGATED",
    "ENCRYPTED_TEXT_PWD_ALLOWED",
    "USE_DES_KEY_ONLY",
    "TRUSTED_TO_AUTH_FOR_DELEGATION",
]


def widen(rules: list[Rule], count: int) -> list[Rule]:
    """The pack, plus renamed copies of host rules until there are `count` rules."""
    host = [r for r in rules if r.scope.target is DocumentKind.HOST]
    out = list(rules)
    i = 0
    while len(out) < count and host:
        out.append(dataclasses.replace(host[i % len(host)], id=f"{host[i % len(host)].id}-copy{i}"))
        i += 1
    return out


def host_documents(rules: list[Rule], count: int, rng: random.Random) -> list[FactDocument]:
    host_rules = [r for r in rules if r.scope.target is DocumentKind.HOST]
    docs = []
    for n in range(count):
        facts: dict[str, Any] = {}
        registry: dict[str, Any] = {}
        for rule in host_rules:
            fixture_doc = fixture_document(rule, rng.choice(rule.fixtures))
            facts.update(fixture_doc.facts)
            registry.update(fixture_doc.registry)
        docs.append(
            FactDocument(
                Target(DocumentKind.HOST, f"host{n:05d}.corp.test"),
                facts,
                "2026-01-01T00:00:00Z",
                registry=registry,
            )
        )
    return docs


def account(n: int, rng: random.Random) -> dict[str, Any]:
    flags = [f for f in FLAGS if rng.random() < 0.01]
    computer = n % 2 == 1
    return {
        "dn": f"CN=acct{n},OU=Staff,DC=corp,DC=test",
        "sam": f"acct{n}" + ("$" if computer else ""),
        "sid": f"S-1-5-21-1-2-3-{1000 + n}",
        "kind": "computer" if computer else "user",
        "enabled": rng.random() > 0.1,
        "uac": 512,
        "flags": flags,
        "spns": [f"HTTP/app{n}.corp.test"] if rng.random() < 0.02 else [],
        "description": None,
        "pwd_last_set": "2025-01-01T00:00:00Z",
        "password_age_days": rng.randint(1, 900),
        "last_logon": None,
        "enc_types": None,
        "primary_group_id": 515 if computer else 513,
        "is_dc": False,
        "is_rodc": False,
        "privileged": rng.random() < 0.001,
        "privileged_groups": [],
        "protected_user": False,
        "created_by_quota": False,
        "delegation": {
            "constrained_to": [],
            "protocol_transition": False,
            "unconstrained": "TRUSTED_FOR_DELEGATION" in flags,
            "rbcd_trustees": [],
        },
    }


def domain_document(rules: list[Rule], accounts: int, rng: random.Random) -> FactDocument:
    facts: dict[str, Any] = {}
    for rule in rules:
        if rule.scope.target is DocumentKind.DOMAIN:
            fail = next(f for f in rule.fixtures if f.expect.value == "fail")
            facts.update(fixture_document(rule, fail).facts)
    facts["accounts"] = Available([account(n, rng) for n in range(accounts)])
    return FactDocument(Target(DocumentKind.DOMAIN, "corp.test"), facts, "2026-01-01T00:00:00Z")


def to_python(value: Any) -> Any:
    """cel-python's values as the engine expects them (its BoolType is an int subclass)."""
    from celpy import celtypes

    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.MapType):
        return {to_python(k): to_python(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType):
        return [to_python(v) for v in value]
    if isinstance(value, celtypes.NullType) or value is None:
        return None
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    return value


def use_celpy() -> None:
    """Swap the engine's CEL runner for cel-python (celpy), the pure-Python binding."""
    import celpy

    env = celpy.Environment()
    programs: dict[str, Any] = {}

    def run(expression: str, context: Any) -> Any:
        program = programs.get(expression)
        if program is None:
            program = programs[expression] = env.program(env.compile(expression))
        activation = {k: celpy.json_to_cel(v) for k, v in context.items()}
        try:
            result = program.evaluate(activation)
        except celpy.CELEvalError as exc:  # celpy's evaluation errors, as the engine expects them
            raise engine.CelEvaluationError(str(exc)) from None
        if isinstance(result, Exception):
            raise engine.CelEvaluationError(str(result))
        return to_python(result)

    engine.run = run  # type: ignore[assignment]
    engine.prepare = dict  # type: ignore[assignment]  # cel-python takes plain mappings


def measure(binding: str, hosts: int, accounts: int, rule_count: int) -> dict[str, Any]:
    if binding == "cel-python":
        use_celpy()
    rng = random.Random(7)
    rules = widen(load_pack(), rule_count)
    host_rules = sum(1 for r in rules if r.scope.target is DocumentKind.HOST)
    docs = host_documents(rules, hosts, rng)
    domain = domain_document(rules, accounts, rng)
    started = time.perf_counter()
    host_results = sum(1 for _ in evaluate_all(rules, docs))
    host_seconds = time.perf_counter() - started
    started = time.perf_counter()
    domain_results = list(evaluate_all(rules, [domain]))
    domain_seconds = time.perf_counter() - started
    return {
        "binding": binding,
        "rules": len(rules),
        "host_rules": host_rules,
        "hosts": hosts,
        "accounts": accounts,
        "host_evaluations": host_results,
        "host_evals_per_s": host_results / host_seconds,
        "host_seconds": host_seconds,
        "domain_rules": len(domain_results),
        "domain_seconds": domain_seconds,
        "findings": sum(len(r.findings) for r in domain_results),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--rules", type=int, default=60)
    parser.add_argument(
        "--other-hosts",
        type=int,
        default=None,
        help="hosts for cel-python (default: same; it is slow, a smaller sample is fair per-eval)",
    )
    parser.add_argument("--child", choices=["common-expression-language", "cel-python"])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.hosts, args.accounts, args.rules)))
        return
    results = {}
    for binding, hosts in (
        ("common-expression-language", args.hosts),
        ("cel-python", args.other_hosts or args.hosts),
    ):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                binding,
                "--hosts",
                str(hosts),
                "--accounts",
                str(args.accounts),
                "--rules",
                str(args.rules),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        results[binding] = json.loads(out.stdout)
    ours, other = results["common-expression-language"], results["cel-python"]
    print(
        f"{'binding':28} {'rules':>5} {'hosts':>6} {'host evals/s':>13} {'domain s':>9} "
        f"{'findings':>8} {'peak MB':>8}"
    )
    for r in (ours, other):
        print(
            f"{r['binding']:28} {r['rules']:>5} {r['hosts']:>6} {r['host_evals_per_s']:>13,.0f} "
            f"{r['domain_seconds']:>9.2f} {r['findings']:>8} {r['peak_rss_mb']:>8.0f}"
        )
    print(
        f"ratio host evals/s (ours / cel-python): {ours['host_evals_per_s'] / other['host_evals_per_s']:.1f}x"
    )
    print(
        f"ratio domain time (cel-python / ours): {other['domain_seconds'] / ours['domain_seconds']:.1f}x"
    )
    if ours["findings"] != other["findings"]:
        print(
            f"WARNING: bindings disagree on domain findings: {ours['findings']} vs {other['findings']}"
        )


if __name__ == "__main__":
    main()
