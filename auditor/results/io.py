"""Result documents: the JSON form every report format is rendered from, and its schema."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from auditor.errors import InputError
from auditor.jsonfile import read_json
from auditor.resources import reports_dir
from auditor.results.history import HistoryView
from auditor.results.model import (
    RESULT_SCHEMA_VERSION,
    RuleResult,
    ScanMetadata,
    ScanResult,
    TargetInfo,
)
from auditor.results.score import score, score_by_area


def result_to_json(result: ScanResult) -> dict[str, Any]:
    out = {
        "schema": "auditor/scan-result",
        "schema_version": RESULT_SCHEMA_VERSION,
        "metadata": result.metadata.to_json(),
        "summary": {
            "counts": result.counts(),
            "score": score(result.results),
            "score_by_area": score_by_area(result.results, result.rules),
            "incomplete": result.incomplete,
            "targets": len(result.targets),
            "rules": len(result.rules),
        },
        "targets": [t.to_json() for t in result.targets],
        "rules": {rule_id: dict(meta) for rule_id, meta in sorted(result.rules.items())},
        "results": [r.to_json() for r in result.results],
    }
    if result.history is not None:
        out["history"] = result.history.to_json()
    return out


@cache
def result_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (reports_dir() / "schema" / "scan-result-1.json").read_text(encoding="utf-8")
    )
    return schema


def validate_result_json(raw: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(result_schema())
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(document)'}: {e.message[:300]}"
        for e in sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))[:20]
    ]


def result_from_json(raw: Any, origin: str) -> ScanResult:
    problems = validate_result_json(raw)
    if problems:
        raise InputError(f"{origin}: not an auditor result document: {problems[0]}")
    targets = {t["id"] for t in raw["targets"]}
    for i, item in enumerate(raw["results"]):
        if item["rule_id"] not in raw["rules"] or item["target_id"] not in targets:
            raise InputError(
                f"{origin}: results[{i}] names rule {item['rule_id']!r} or target "
                f"{item['target_id']!r}, which the document does not describe"
            )
    return ScanResult(
        metadata=ScanMetadata.from_json(raw["metadata"]),
        targets=tuple(TargetInfo.from_json(t) for t in raw["targets"]),
        rules=raw["rules"],
        results=tuple(RuleResult.from_json(r) for r in raw["results"]),
        history=HistoryView.from_json(raw["history"]) if "history" in raw else None,
    )


def load_result(path: Path) -> ScanResult:
    raw = read_json(path)
    return result_from_json(raw, str(path))
