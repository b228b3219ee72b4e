"""After the evaluation: apply waivers, record the scan in the store, compare it, summarise it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.atomic import check_folder, replacing
from auditor.errors import InputError
from auditor.pipeline.waivers import WaiverOutcome, load_waivers, match_waivers
from auditor.results.diff import diff, open_by_severity
from auditor.results.history import HistoryView, TrendPoint
from auditor.results.model import ScanResult
from auditor.results.score import score
from auditor.rules.pack import load_pack
from auditor.store import Store


@dataclass(frozen=True)
class AfterScan:
    """History, waivers and the notification summary of scheduled scans (docs/scheduling.md)."""

    store: Path | None = None
    waivers: Path | None = None
    summary_json: Path | None = None

    def check(self, rule_ids: Collection[str]) -> None:
        """Fail before collecting, not after an hour-long scan: waivers parse, the store can
        record and read back its last scan, the summary has a folder to go to."""
        if self.waivers is not None:
            load_waivers(self.waivers, rule_ids)
        if self.store is not None:
            with Store(self.store) as store:
                store.check_writable()
                store.check_readable()
        if self.summary_json is not None:
            if self.summary_json.is_dir() or not self.summary_json.parent.is_dir():
                raise InputError(
                    f"{self.summary_json}: --summary-json: name a file in an existing folder"
                )
            check_folder(self.summary_json.parent, "--summary-json")


# Scans on the trend chart: a month of nightly scans.
TREND_LENGTH = 30


def _nothing(result: ScanResult) -> ScanResult:
    """What a first scan is compared with: every open finding is new."""
    return dataclasses.replace(result, targets=(), rules={}, results=(), history=None)


def build_history_view(
    store: Store, result: ScanResult, *, scan_id: int | None = None, length: int = TREND_LENGTH
) -> HistoryView:
    """`result` against the last stored scan before it, and the trend up to it.

    Pass `scan_id` when `result` is itself recorded, so it is compared with the scan before.
    """
    earlier = [s for s in store.scans() if scan_id is None or s.id < scan_id]
    previous = earlier[-1] if earlier else None
    drift = diff(store.load(previous.id) if previous else _nothing(result), result)
    trend = [
        TrendPoint(s.id, s.started_at, s.score, s.open_findings)
        for s in earlier[max(0, len(earlier) - length + 1) :]
    ]
    trend.append(
        TrendPoint(
            scan_id, result.metadata.started_at, score(result.results), open_by_severity(result)
        )
    )
    return HistoryView(
        scan_id=scan_id,
        previous_id=previous.id if previous else None,
        previous_started_at=previous.started_at if previous else None,
        new=drift.new,
        fixed=drift.fixed,
        no_longer_verifiable=drift.no_longer_verifiable,
        trend=tuple(trend),
    )


def summary(result: ScanResult, outcome: WaiverOutcome) -> dict[str, Any]:
    """Counts only, no evidence: safe to hand to a notification hook or a chat message."""
    history = result.history
    if history is None:
        new, fixed = len(diff(_nothing(result), result).new), 0
    else:
        new, fixed = len(history.new), len(history.fixed)
    return {
        "scan_id": history.scan_id if history is not None else None,
        "new": new,
        "fixed": fixed,
        "open": sum(open_by_severity(result).values()),
        "waived": sum(1 for r in result.results for f in r.findings if f.waiver is not None),
        "expired_waivers": len(outcome.expired),
        "stale_waivers": len(outcome.stale),
        "score": score(result.results),
    }


def _write_json(path: Path, document: dict[str, Any]) -> None:
    try:
        with replacing(path) as out:
            out.write((json.dumps(document, indent=1) + "\n").encode("utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot write the summary: {exc.strerror}") from None


def after_scan(
    result: ScanResult,
    store_path: Path | None,
    waivers_path: Path | None,
    summary_json: Path | None,
    today: dt.date,
    *,
    rule_ids: Collection[str] | None = None,
) -> ScanResult:
    """Apply waivers, record the scan, attach its history view and write the summary JSON;
    returns the result to render and to take the exit code from.

    `rule_ids` is the rule pack the scan used (default: the built-in pack and the rules in
    the result); a waiver naming another rule id is an error.
    """
    outcome = WaiverOutcome(result, 0, (), ())
    if waivers_path is not None:
        known = rule_ids if rule_ids is not None else {*result.rules, *(r.id for r in load_pack())}
        outcome = match_waivers(result, load_waivers(waivers_path, known), today)
    result = outcome.result
    if store_path is not None:
        with Store(store_path) as store:
            # Compare first, record second: a stored scan that does not read back ends the
            # command before this one is recorded, never after (with no report written).
            history = build_history_view(store, result)
            scan_id = store.record(result)
        *earlier, this = history.trend
        trend = (*earlier, dataclasses.replace(this, scan_id=scan_id))
        result = dataclasses.replace(
            result, history=dataclasses.replace(history, scan_id=scan_id, trend=trend)
        )
    if summary_json is not None:
        _write_json(summary_json, summary(result, outcome))
    return result
