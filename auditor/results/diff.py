"""Drift between two scans: what is new, fixed, still open or no longer verifiable."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.results.history import DriftFinding
from auditor.results.model import ScanResult
from auditor.results.vocabulary import Severity, Status
from auditor.terminal import visible

# (rule id, target id, object key); the object is None for single-value rules.
FindingKey = tuple[str, str, str | None]


@dataclass(frozen=True)
class EvidenceChange:
    """A finding open in both scans whose evidence changed (say, one more member in a group)."""

    finding: DriftFinding
    before: Mapping[str, Any]
    after: Mapping[str, Any]


@dataclass(frozen=True)
class ResultRef:
    """A rule on a target whose result became `error`, with its earlier status."""

    rule_id: str
    target_id: str
    target: str
    before: Status


@dataclass(frozen=True)
class Drift:
    """Every category is disjoint. A finding whose result turned into `error` is never fixed:
    it is `no_longer_verifiable`; one whose rule or target was not scanned again is
    `not_rescanned`. A waived finding is not open; one whose waiver ended is new again."""

    new: tuple[DriftFinding, ...]
    fixed: tuple[DriftFinding, ...]
    still_open: tuple[DriftFinding, ...]  # same evidence
    changed: tuple[EvidenceChange, ...]  # open in both, different evidence
    newly_waived: tuple[DriftFinding, ...]
    no_longer_verifiable: tuple[DriftFinding, ...]
    not_rescanned: tuple[DriftFinding, ...]
    rules_added: tuple[str, ...]
    rules_removed: tuple[str, ...]
    targets_added: tuple[str, ...]
    targets_removed: tuple[str, ...]
    became_error: tuple[ResultRef, ...]

    def to_json(self) -> dict[str, Any]:
        def items(found: tuple[DriftFinding, ...]) -> list[dict[str, Any]]:
            return [f.to_json() for f in found]

        return {
            "counts": {
                "new": len(self.new),
                "fixed": len(self.fixed),
                "still_open": len(self.still_open),
                "changed": len(self.changed),
                "newly_waived": len(self.newly_waived),
                "no_longer_verifiable": len(self.no_longer_verifiable),
                "not_rescanned": len(self.not_rescanned),
            },
            "new": items(self.new),
            "fixed": items(self.fixed),
            "still_open": items(self.still_open),
            "changed": [
                {**c.finding.to_json(), "before": dict(c.before), "after": dict(c.after)}
                for c in self.changed
            ],
            "newly_waived": items(self.newly_waived),
            "no_longer_verifiable": items(self.no_longer_verifiable),
            "not_rescanned": items(self.not_rescanned),
            "rules_added": list(self.rules_added),
            "rules_removed": list(self.rules_removed),
            "targets_added": list(self.targets_added),
            "targets_removed": list(self.targets_removed),
            "became_error": [
                {
                    "rule_id": r.rule_id,
                    "target_id": r.target_id,
                    "target": r.target,
                    "before": r.before.value,
                }
                for r in self.became_error
            ],
        }

    def to_text(self) -> str:
        """A few lines for a terminal or a mail: the counts, then the findings that moved, one
        line each whatever line breaks or escapes the names hold."""
        lines = [
            f"new {len(self.new)}, fixed {len(self.fixed)}, still open "
            f"{len(self.still_open) + len(self.changed)} ({len(self.changed)} with changed "
            f"evidence), newly waived {len(self.newly_waived)}, no longer verifiable "
            f"{len(self.no_longer_verifiable)}, not scanned again {len(self.not_rescanned)}"
        ]
        for label, names in (
            ("rules added", self.rules_added),
            ("rules removed", self.rules_removed),
            ("targets added", self.targets_added),
            ("targets removed", self.targets_removed),
        ):
            if names:
                lines.append(f"{label}: {visible(', '.join(names))}")
        sections: tuple[tuple[str, tuple[DriftFinding, ...]], ...] = (
            ("New", self.new),
            ("Fixed", self.fixed),
            ("Changed evidence", tuple(c.finding for c in self.changed)),
            ("Newly waived", self.newly_waived),
            ("No longer verifiable (now undecided)", self.no_longer_verifiable),
            ("Not scanned again", self.not_rescanned),
        )
        for title, found in sections:
            if found:
                lines += ["", f"{title}:"] + [f"  {visible(f.describe())}" for f in found]
        if self.became_error:
            lines += ["", "Results now undecided:"] + [
                f"  {visible(f'{r.rule_id} on {r.target}')} (was {r.before.value})"
                for r in self.became_error
            ]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _State:
    finding: DriftFinding
    waived: bool
    evidence: Mapping[str, Any]


def finding_states(result: ScanResult) -> Iterator[tuple[FindingKey, _State]]:
    """Every failing finding of the scan, open or waived, under its key."""
    names = {t.id: t.name for t in result.targets}
    for item in result.results:
        if item.status not in (Status.FAIL, Status.WAIVED):
            continue
        name = names.get(item.target_id, item.target_id)
        if not item.findings:  # results written by hand or by old tools may carry none
            found = DriftFinding(item.rule_id, item.target_id, name, None, item.severity)
            yield (item.rule_id, item.target_id, None), _State(found, False, item.evidence)
        for f in item.findings:
            found = DriftFinding(item.rule_id, item.target_id, name, f.object, f.severity)
            state = _State(found, f.waiver is not None, f.evidence)
            yield (item.rule_id, item.target_id, f.object), state


def open_by_severity(result: ScanResult) -> dict[str, int]:
    """Open (failing, not waived) findings by severity, every severity present."""
    out = {s.value: 0 for s in Severity}
    for _, state in finding_states(result):
        if not state.waived:
            out[state.finding.severity.value] += 1
    return out


def _order(found: DriftFinding) -> tuple[int, str, str, str]:
    return (-found.severity.rank, found.rule_id, found.target, found.object or "")


def _sorted(found: list[DriftFinding]) -> tuple[DriftFinding, ...]:
    return tuple(sorted(found, key=_order))


def diff(old: ScanResult, new: ScanResult) -> Drift:
    """Compare two scans finding by finding, keyed on (rule id, target id, object key)."""
    before, after = dict(finding_states(old)), dict(finding_states(new))
    old_status = {(r.rule_id, r.target_id): r.status for r in old.results}
    new_status = {(r.rule_id, r.target_id): r.status for r in new.results}
    out: dict[str, list[DriftFinding]] = {
        name: [] for name in ("new", "fixed", "still", "waived", "unverifiable", "unscanned")
    }
    changed: list[EvidenceChange] = []
    for key, now in after.items():
        was = before.get(key)
        if now.waived:
            if was is None or not was.waived:
                out["waived"].append(now.finding)
        elif was is None or was.waived:
            out["new"].append(now.finding)
        elif dict(was.evidence) != dict(now.evidence):
            changed.append(EvidenceChange(now.finding, was.evidence, now.evidence))
        else:
            out["still"].append(now.finding)
    for key, was in before.items():
        if key in after:
            continue
        status = new_status.get(key[:2])
        bucket = (
            "unscanned" if status is None else "unverifiable" if status is Status.ERROR else "fixed"
        )
        out[bucket].append(was.finding)
    names = {t.id: t.name for t in new.targets}
    old_targets = {t.id for t in old.targets}
    new_targets = {t.id for t in new.targets}
    return Drift(
        new=_sorted(out["new"]),
        fixed=_sorted(out["fixed"]),
        still_open=_sorted(out["still"]),
        changed=tuple(sorted(changed, key=lambda c: _order(c.finding))),
        newly_waived=_sorted(out["waived"]),
        no_longer_verifiable=_sorted(out["unverifiable"]),
        not_rescanned=_sorted(out["unscanned"]),
        rules_added=tuple(sorted(set(new.rules) - set(old.rules))),
        rules_removed=tuple(sorted(set(old.rules) - set(new.rules))),
        targets_added=tuple(sorted(new_targets - old_targets)),
        targets_removed=tuple(sorted(old_targets - new_targets)),
        became_error=_became_error(old_status, new_status, names),
    )


def _became_error(
    before: Mapping[tuple[str, str], Status],
    after: Mapping[tuple[str, str], Status],
    names: Mapping[str, str],
) -> tuple[ResultRef, ...]:
    refs = []
    for (rule_id, target_id), status in sorted(after.items()):
        was = before.get((rule_id, target_id))
        if status is Status.ERROR and was is not None and was is not Status.ERROR:
            refs.append(ResultRef(rule_id, target_id, names.get(target_id, target_id), was))
    return tuple(refs)
