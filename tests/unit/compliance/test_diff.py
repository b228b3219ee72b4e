"""Drift between two scans: every category, and an `error` never counted as fixed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from auditor.pipeline.waivers import Waiver, apply_waivers
from auditor.results.diff import diff, open_by_severity
from auditor.results.history import DriftFinding
from auditor.results.model import TargetStatus
from auditor.results.vocabulary import Severity, Status

from ..reports.sample import RDP_NLA
from .builders import BASIC, DC01, DELEGATION, DOMAIN, FS01, SMB_SIGNING, failing, passing, scan
from .builders import undecided as error_result

ALICE = "CN=alice,OU=Users,DC=corp"
BOB = "CN=bob,OU=Users,DC=corp"


def _keys(found: tuple[DriftFinding, ...]) -> list[tuple[str, str, str | None]]:
    return [(f.rule_id, f.target_id, f.object) for f in found]


def test_new_fixed_and_still_open_by_object() -> None:
    old = scan(
        [failing(DELEGATION, DOMAIN, ALICE, BOB), failing(BASIC, FS01), passing(BASIC, DC01)]
    )
    new = scan([failing(DELEGATION, DOMAIN, BOB), passing(BASIC, FS01), failing(BASIC, DC01)])
    drift = diff(old, new)
    assert _keys(drift.new) == [(BASIC.id, DC01.id, None)]
    assert _keys(drift.fixed) == [
        (DELEGATION.id, DOMAIN.id, ALICE),  # the object is gone while the rule still fails
        (BASIC.id, FS01.id, None),
    ]
    assert _keys(drift.still_open) == [(DELEGATION.id, DOMAIN.id, BOB)]
    assert drift.changed == () and drift.no_longer_verifiable == () and drift.became_error == ()


def test_changed_evidence_is_its_own_category() -> None:
    old = scan([failing(BASIC, FS01, evidence={"offered_on_http": False})])
    new = scan([failing(BASIC, FS01, evidence={"offered_on_http": True})])
    drift = diff(old, new)
    assert drift.still_open == () and drift.new == () and drift.fixed == ()
    (change,) = drift.changed
    assert (change.finding.rule_id, change.finding.object) == (BASIC.id, None)
    assert change.before == {"offered_on_http": False}
    assert change.after == {"offered_on_http": True}


def test_a_finding_that_turns_into_error_is_not_fixed() -> None:
    old = scan(
        [failing(BASIC, FS01), failing(DELEGATION, DOMAIN, ALICE), passing(SMB_SIGNING, FS01)]
    )
    new = scan(
        [
            error_result(BASIC, FS01),
            error_result(DELEGATION, DOMAIN),
            error_result(SMB_SIGNING, FS01),
        ]
    )
    drift = diff(old, new)
    assert drift.fixed == ()
    assert _keys(drift.no_longer_verifiable) == [
        (DELEGATION.id, DOMAIN.id, ALICE),
        (BASIC.id, FS01.id, None),
    ]
    assert [(r.rule_id, r.target_id, r.before) for r in drift.became_error] == [
        (DELEGATION.id, DOMAIN.id, Status.FAIL),
        (SMB_SIGNING.id, FS01.id, Status.PASS),
        (BASIC.id, FS01.id, Status.FAIL),
    ]


def test_an_unreachable_host_makes_its_findings_unverifiable() -> None:
    offline = dataclasses.replace(FS01, status=TargetStatus.FAILED, reason="host_unreachable")
    old = scan([failing(BASIC, FS01), failing(RDP_NLA, FS01)])
    new = scan([error_result(BASIC, FS01), error_result(RDP_NLA, FS01)], targets=(offline,))
    drift = diff(old, new)
    assert drift.fixed == ()
    assert len(drift.no_longer_verifiable) == 2
    assert len(drift.became_error) == 2


def test_rules_and_targets_that_come_and_go() -> None:
    old = scan([failing(BASIC, FS01), failing(DELEGATION, DOMAIN, ALICE)], targets=(DOMAIN, FS01))
    new = scan([passing(SMB_SIGNING, DC01), failing(BASIC, DC01)], targets=(DC01,))
    drift = diff(old, new)
    assert drift.rules_added == (SMB_SIGNING.id,)
    assert drift.rules_removed == (DELEGATION.id,)
    assert drift.targets_added == (DC01.id,)
    assert drift.targets_removed == (DOMAIN.id, FS01.id)
    # Not scanned again is not fixed either.
    assert _keys(drift.not_rescanned) == [
        (DELEGATION.id, DOMAIN.id, ALICE),
        (BASIC.id, FS01.id, None),
    ]
    assert drift.fixed == ()
    assert _keys(drift.new) == [(BASIC.id, DC01.id, None)]


def _waiver(expires: dt.date) -> Waiver:
    return Waiver(BASIC.id, None, None, "legacy", expires, "alice", None, "w.yaml:1")


def test_waived_findings_are_not_open_and_come_back_as_new() -> None:
    plain = scan([failing(BASIC, FS01)])
    waived = apply_waivers(plain, [_waiver(dt.date(2030, 1, 1))], dt.date(2025, 1, 1))
    assert _keys(diff(plain, waived).newly_waived) == [(BASIC.id, FS01.id, None)]
    assert diff(plain, waived).still_open == ()
    back = diff(waived, plain)
    assert _keys(back.new) == [(BASIC.id, FS01.id, None)]
    assert open_by_severity(waived)[Severity.HIGH.value] == 0
    assert open_by_severity(plain)[Severity.HIGH.value] == 1


def test_json_and_text_forms() -> None:
    old = scan([failing(DELEGATION, DOMAIN, ALICE), failing(BASIC, FS01)])
    new = scan([failing(DELEGATION, DOMAIN, BOB), error_result(BASIC, FS01)])
    drift = diff(old, new)
    document = drift.to_json()
    json.dumps(document)  # plain JSON all the way down
    assert document["counts"] == {
        "new": 1,
        "fixed": 1,
        "still_open": 0,
        "changed": 0,
        "newly_waived": 0,
        "no_longer_verifiable": 1,
        "not_rescanned": 0,
    }
    assert document["new"] == [
        {
            "rule_id": DELEGATION.id,
            "target_id": DOMAIN.id,
            "target": DOMAIN.name,
            "object": BOB,
            "severity": "high",
        }
    ]
    text = drift.to_text()
    assert text.splitlines()[0] == (
        "new 1, fixed 1, still open 0 (0 with changed evidence), newly waived 0, "
        "no longer verifiable 1, not scanned again 0"
    )
    assert f"  HIGH {DELEGATION.id} on corp.example {BOB}" in text
    assert f"  {BASIC.id} on fs01.corp.example (was fail)" in text
