"""Merging the results of sharded scans into one result: a target's newest collection wins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.errors import InputError
from auditor.results.model import RuleResult, ScanMetadata, ScanResult, TargetInfo

MERGE_COMMAND = "report merge"


@dataclass(frozen=True)
class _Input:
    label: str
    result: ScanResult
    started: dt.datetime
    finished: dt.datetime
    rank: int  # unique; by scan end, so the highest rank is the newest scan


def _instant(value: str, label: str, what: str) -> dt.datetime:
    """Times are compared as instants, not strings, so shards on different offsets still order."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{label}: {what} {value!r} is not an ISO 8601 time") from None
    # auditor writes UTC; a time without an offset is read as UTC rather than refused.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _inputs(results: Sequence[ScanResult], labels: Sequence[str]) -> list[_Input]:
    parsed = [
        (
            label,
            result,
            _instant(result.metadata.started_at, label, "metadata.started_at"),
            _instant(result.metadata.finished_at, label, "metadata.finished_at"),
        )
        for label, result in zip(labels, results, strict=True)
    ]
    # Ties keep the command-line order: the later input counts as the newer.
    order = sorted(range(len(parsed)), key=lambda i: (parsed[i][3], i))
    rank = {index: position for position, index in enumerate(order)}
    return [_Input(*item, rank=rank[i]) for i, item in enumerate(parsed)]


def _pick_target(
    copies: list[tuple[_Input, TargetInfo]],
) -> tuple[tuple[_Input, TargetInfo], str | None]:
    """A collection beats a failed attempt, then the newest collected_at, then the newest scan."""

    def key(copy: tuple[_Input, TargetInfo]) -> tuple[bool, dt.datetime, int]:
        source, target = copy
        if target.collected_at is None:
            return (False, source.finished, source.rank)
        collected = _instant(target.collected_at, source.label, f"{target.id} collected_at")
        return (True, collected, source.rank)

    kept_at = max(range(len(copies)), key=lambda i: key(copies[i]))
    chosen = copies[kept_at]
    if len(copies) == 1:
        return chosen, None
    source, target = chosen
    # Every other copy by its file, the kept one's own file too when it holds the target twice.
    others = ", ".join(s.label for i, (s, _) in enumerate(copies) if i != kept_at)
    kept = (
        f"its collection of {target.collected_at} from {source.label}"
        if target.collected_at is not None
        else f"the newest failed attempt, from {source.label} (no input reached it)"
    )
    return chosen, f"target {target.name} ({target.id}) is also in {others}: kept {kept}"


def _merge_rules(inputs: list[_Input]) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """The newest scan's metadata for each rule; a disagreement means the rule packs differ."""
    rules: dict[str, Mapping[str, Any]] = {}
    kept_from: dict[str, str] = {}
    differing: set[str] = set()
    for source in sorted(inputs, key=lambda s: s.rank):
        for rule_id, meta in source.result.rules.items():
            if rule_id in rules and rules[rule_id] != meta:
                differing.add(rule_id)
            rules[rule_id], kept_from[rule_id] = meta, source.label
    warnings = [
        f"rule {rule_id}: metadata differs between inputs (different rule packs?); "
        f"kept the newest scan's, from {kept_from[rule_id]}"
        for rule_id in sorted(differing)
    ]
    versions = sorted({s.result.metadata.tool_version for s in inputs})
    if len(versions) > 1:
        newest = max(inputs, key=lambda s: s.rank)
        warnings.append(
            f"inputs were written by different auditor versions ({', '.join(versions)}); "
            f"the merged result names {newest.result.metadata.tool_version}, the newest scan's"
        )
    return rules, warnings


def merge_results(results: Sequence[ScanResult], names: Sequence[str] | None = None) -> ScanResult:
    """One result from several shards' results; `names` (the input files) label the warnings."""
    if not results:
        raise ValueError("merge_results needs at least one result")
    labels = list(names) if names is not None else [f"input {i + 1}" for i in range(len(results))]
    inputs = _inputs(results, labels)
    copies: dict[str, list[tuple[_Input, TargetInfo]]] = {}
    by_target: dict[tuple[int, str], list[RuleResult]] = {}
    for source in inputs:
        for target in source.result.targets:
            copies.setdefault(target.id, []).append((source, target))
        for item in source.result.results:
            by_target.setdefault((source.rank, item.target_id), []).append(item)
    warnings = [f"{s.label}: {w}" for s in inputs for w in s.result.metadata.warnings]
    targets: list[TargetInfo] = []
    merged: list[RuleResult] = []
    for target_id, candidates in copies.items():
        (source, target), warning = _pick_target(candidates)
        targets.append(target)
        merged.extend(by_target.get((source.rank, target_id), ()))
        if warning is not None:
            warnings.append(warning)
    rules, rule_warnings = _merge_rules(inputs)
    earliest = min(inputs, key=lambda s: s.started)
    newest = max(inputs, key=lambda s: s.rank)
    metadata = ScanMetadata(
        tool_version=newest.result.metadata.tool_version,
        started_at=earliest.result.metadata.started_at,
        finished_at=newest.result.metadata.finished_at,
        command=MERGE_COMMAND,
        options={
            "inputs": [
                {
                    "file": s.label,
                    "command": s.result.metadata.command,
                    "started_at": s.result.metadata.started_at,
                    "finished_at": s.result.metadata.finished_at,
                    "targets": len(s.result.targets),
                }
                for s in inputs
            ]
        },
        warnings=(*warnings, *rule_warnings),
    )
    return ScanResult(metadata, tuple(targets), rules, tuple(merged))
