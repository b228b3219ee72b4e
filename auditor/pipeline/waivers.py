"""Waivers: failing findings accepted until a date, each with a justification and an owner."""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import fnmatch
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import InputError, InputProblems
from auditor.results.model import AppliedWaiver, Finding, RuleResult, ScanResult
from auditor.results.vocabulary import Status
from auditor.strict import MAX_SHOWN, Node, Problems, shown

_ALLOWED = ("expires", "justification", "object", "owner", "rule", "target", "ticket")
_REQUIRED = ("rule", "justification", "expires", "owner")
_GLOB = re.compile(r"[*?\[]")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class WaiverLoadError(InputProblems):
    """A broken waivers file; `problems` holds every `path:line: message`."""


def _glob_match(pattern: str, value: str) -> bool:
    # Host names, DNs and Windows paths compare without case, so the globs do too.
    return fnmatch.fnmatchcase(value.casefold(), pattern.casefold())


@dataclass(frozen=True)
class Waiver:
    """One entry of a waivers file: which findings it accepts, why, whose call, until when."""

    rule: str  # rule id or glob
    target: str | None  # glob on the target name; None: every target
    object: str | None  # glob on the object key; None: every object
    justification: str
    expires: dt.date  # from this day on, the findings fail again
    owner: str
    ticket: str | None
    origin: str  # `path:line` of the entry, for warnings

    def describe(self) -> str:
        where = f", target {self.target}" if self.target is not None else ""
        what = f", object {self.object}" if self.object is not None else ""
        return f"{self.rule}{where}{what}"

    def covers(self, rule_id: str, target: str) -> bool:
        """Whether the waiver is about this rule on this target, whatever the object."""
        return _glob_match(self.rule, rule_id) and (
            self.target is None or _glob_match(self.target, target)
        )

    def matches(self, rule_id: str, target: str, key: str | None) -> bool:
        # An object pattern names objects: single-value findings (no key) never match it.
        return self.covers(rule_id, target) and (
            self.object is None or (key is not None and _glob_match(self.object, key))
        )

    def applied(self) -> AppliedWaiver:
        return AppliedWaiver(
            self.rule,
            self.target,
            self.object,
            self.justification,
            self.owner,
            self.expires.isoformat(),
            self.ticket,
        )


# Each reader below returns None for an absent key (`keys` reports missing required ones) and
# for a bad value, after adding its problem: `waiver #N: 'key' ...` at the key's line.


def _problem(entry: Node, key: str, message: str) -> None:
    entry.problems.add(entry[key].line, message, entry.key)


def _text(entry: Node, key: str) -> str | None:
    value = entry[key].value
    if not entry[key].present:
        return None
    if isinstance(value, str) and value.strip():
        return value.strip()
    _problem(entry, key, f"'{key}' must be non-empty text")
    return None


def _date(entry: Node) -> dt.date | None:
    value = entry["expires"].value
    if not entry["expires"].present:
        return None
    # YAML reads 2025-06-30 as a date already; a quoted one arrives as text.
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    got = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else shown(value)
    _problem(
        entry, "expires", f"'expires' must be a date as YYYY-MM-DD, without a time (got {got})"
    )
    return None


def _ticket(entry: Node) -> str | None:
    value = entry["ticket"].value
    if not entry["ticket"].present:
        return None
    # A bare ticket number (`ticket: 4711`) is as good as text.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    _problem(entry, "ticket", "'ticket' must be text")
    return None


def _rule(entry: Node, rule_ids: Collection[str]) -> str | None:
    rule = _text(entry, "rule")
    if rule is None or _GLOB.search(rule) or rule in rule_ids:
        return rule
    close = difflib.get_close_matches(rule[:MAX_SHOWN], list(rule_ids), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    _problem(entry, "rule", f"rule {shown(rule)} names no rule in the pack{hint}")
    return None


def _waiver(entry: Node, rule_ids: Collection[str]) -> Waiver | None:
    """One entry, keyed `waiver #N` in its problems."""
    before = len(entry.problems)
    entry.keys(_ALLOWED, _REQUIRED)
    rule = _rule(entry, rule_ids)
    target = _text(entry, "target")
    key = _text(entry, "object")
    why = _text(entry, "justification")
    expires = _date(entry)
    owner = _text(entry, "owner")
    ticket = _ticket(entry)
    if len(entry.problems) > before or not (rule and why and expires and owner):
        return None
    origin = f"{entry.problems.where}:{entry.line}"
    return Waiver(rule, target, key, why, expires, owner, ticket, origin)


def load_waivers(path: Path, rule_ids: Collection[str]) -> tuple[Waiver, ...]:
    """Every entry of a waivers file, or every problem in it at once (WaiverLoadError).

    `rule_ids` is the whole rule pack: a rule id without a glob must name one of them.
    """
    problems = Problems(str(path))
    try:
        root = problems.load(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if root is None or root.value is None:  # an empty file waives nothing
        problems.check(WaiverLoadError)
        return ()
    if not isinstance(root.value, list):
        problems.add(root.line, "a waivers file is a list of waivers (see docs/waivers.md)")
        problems.check(WaiverLoadError)
    waivers = []
    for number, item in enumerate(root.items(), start=1):
        entry = dataclasses.replace(item, key=f"waiver #{number}")
        if isinstance(entry.value, Mapping):
            waivers.append(_waiver(entry, rule_ids))
        else:  # said at the list's line, as it always was
            problems.add(root.line, f"{entry.key} must be a mapping")
    problems.check(WaiverLoadError)
    return tuple(w for w in waivers if w is not None)


@dataclass(frozen=True)
class WaiverOutcome:
    """A result with its waivers applied, and what the waivers file should be told."""

    result: ScanResult
    waived: int  # findings waived
    expired: tuple[Waiver, ...]  # expired, and covering findings that fail again
    stale: tuple[Waiver, ...]  # matching no failing finding and no undecided result


def _with_findings(item: RuleResult, findings: tuple[Finding, ...]) -> RuleResult:
    """Waived when every finding is; else failing at the severity of what is left open."""
    open_findings = [f for f in findings if f.waiver is None]
    if len(open_findings) == len(findings):
        return item
    if not open_findings:
        return dataclasses.replace(item, status=Status.WAIVED, findings=findings)
    worst = max((f.severity for f in open_findings), key=lambda s: s.rank)
    return dataclasses.replace(item, severity=worst, findings=findings)


def match_waivers(result: ScanResult, waivers: Sequence[Waiver], today: dt.date) -> WaiverOutcome:
    """Apply `waivers` to a result as the engine produced it (no waivers applied yet).

    The first unexpired matching waiver, in file order, is the one a finding shows.
    """
    names = {t.id: t.name for t in result.targets}
    matched: set[int] = set()
    failing_again: Counter[int] = Counter()
    results: list[RuleResult] = []
    for item in result.results:
        if item.status not in (Status.FAIL, Status.ERROR):
            results.append(item)
            continue
        target = names.get(item.target_id, item.target_id)
        about = [i for i, w in enumerate(waivers) if w.covers(item.rule_id, target)]
        if item.status is Status.ERROR:
            # Undecided now, maybe failing still: a waiver for it is not stale.
            matched.update(about)
            results.append(item)
            continue
        findings = []
        for finding in item.findings:
            hits = [i for i in about if waivers[i].matches(item.rule_id, target, finding.object)]
            matched.update(hits)
            live = [i for i in hits if waivers[i].expires > today]
            failing_again.update([] if live else hits)
            waiver = waivers[live[0]].applied() if live else None
            findings.append(dataclasses.replace(finding, waiver=waiver))
        results.append(_with_findings(item, tuple(findings)))
    expired = tuple(waivers[i] for i in sorted(failing_again))
    stale = tuple(w for i, w in enumerate(waivers) if i not in matched)
    warnings = [
        f"waiver for {w.describe()} ({w.origin}) expired on {w.expires.isoformat()}: "
        f"{failing_again[i]} finding(s) fail again"
        for i, w in enumerate(waivers)
        if i in failing_again
    ] + [
        f"waiver for {w.describe()} ({w.origin}) is stale: it matches no failing finding"
        for w in stale
    ]
    metadata = dataclasses.replace(result.metadata, warnings=(*result.metadata.warnings, *warnings))
    waived = sum(1 for r in results for f in r.findings if f.waiver is not None)
    return WaiverOutcome(
        dataclasses.replace(result, metadata=metadata, results=tuple(results)),
        waived,
        expired,
        stale,
    )


def apply_waivers(result: ScanResult, waivers: Sequence[Waiver], today: dt.date) -> ScanResult:
    """The result with waived findings marked and waiver warnings added to its metadata."""
    return match_waivers(result, waivers, today).result
