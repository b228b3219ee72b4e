"""Waivers: strict loading with exact messages, glob matching, expiry, stale entries, and what
a waived finding no longer counts toward (exit code, score, failing counts)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from auditor.errors import ExitCode, InputError
from auditor.pipeline.run import exit_code
from auditor.pipeline.waivers import (
    Waiver,
    WaiverLoadError,
    apply_waivers,
    load_waivers,
    match_waivers,
)
from auditor.reports.csv_format import CsvRenderer
from auditor.reports.json_format import JsonRenderer
from auditor.reports.markdown_format import MarkdownRenderer
from auditor.results.io import result_from_json, validate_result_json
from auditor.results.model import AppliedWaiver, RuleResult
from auditor.results.score import score
from auditor.results.vocabulary import Severity, Status

from ..reports.sample import RDP_NLA
from .builders import (
    BASIC,
    DC01,
    DELEGATION,
    DOMAIN,
    FS01,
    RULE_IDS,
    SMB_SIGNING,
    failing,
    passing,
    scan,
    undecided,
)

BROKEN = Path(__file__).parent / "broken-waivers"
ALLOWED = "(allowed: expires, justification, object, owner, rule, target, ticket)"
EXPECTED = {
    "bad-date.yaml": [
        "3: waiver #1: 'expires' must be a date as YYYY-MM-DD, without a time (got '2030-13-01')",
        "7: waiver #2: 'expires' must be a date as YYYY-MM-DD, without a time (got 'next year')",
        "11: waiver #3: 'expires' must be a date as YYYY-MM-DD, without a time "
        "(got 2030-01-01 10:00:00)",
    ],
    "bad-escape.yaml": ["3: invalid YAML value: chr() arg not in range(0x110000)"],
    "bad-yaml.yaml": ["3: invalid YAML: expected ',' or ']', but got ':'"],
    "duplicate-key.yaml": ["5: duplicate key 'owner' (first at line 4)"],
    "empty-values.yaml": [
        "5: waiver #1: 'target' must be non-empty text",
        "2: waiver #1: 'justification' must be non-empty text",
        "4: waiver #1: 'owner' must be non-empty text",
        "6: waiver #1: 'ticket' must be text",
    ],
    "impossible-date.yaml": ["3: invalid YAML value: day is out of range for month"],
    "many-problems.yaml": [
        "2: waiver #1: rule 'no-such-rule' names no rule in the pack",
        "3: waiver #1: 'justification' must be non-empty text",
        f"8: waiver #2: unknown key 'colour' {ALLOWED}",
        "6: waiver #2: missing required key 'justification'",
        "6: waiver #2: missing required key 'owner'",
        "7: waiver #2: 'expires' must be a date as YYYY-MM-DD, without a time (got 'tomorrow')",
        "2: waiver #3 must be a mapping",
    ],
    "missing-keys.yaml": [
        "1: waiver #1: missing required key 'justification'",
        "1: waiver #1: missing required key 'expires'",
        "1: waiver #1: missing required key 'owner'",
    ],
    "not-a-list.yaml": ["1: a waivers file is a list of waivers (see docs/waivers.md)"],
    "not-a-mapping.yaml": ["1: waiver #1 must be a mapping"],
    "python-tag.yaml": [
        "1: invalid YAML: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'"
    ],
    "unknown-key.yaml": [f"3: waiver #1: unknown key 'expiry' {ALLOWED}"],
    "unknown-rule.yaml": [
        "5: waiver #2: rule 'winrm-basic-auth' names no rule in the pack "
        "(did you mean 'winrm-service-basic-auth'?)"
    ],
}
TODAY = dt.date(2025, 3, 1)
ALICE = "CN=alice,OU=Users,DC=corp"
SVC = "CN=svc-backup,OU=Service,DC=corp"


def test_every_broken_file_is_covered() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_waivers_exact_messages(name: str) -> None:
    path = BROKEN / name
    with pytest.raises(WaiverLoadError) as caught:
        load_waivers(path, RULE_IDS)
    assert caught.value.problems == [f"{path}:{message}" for message in EXPECTED[name]]
    assert isinstance(caught.value, InputError)  # exit code 2


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"waivers\.yaml: no such file"):
        load_waivers(tmp_path / "waivers.yaml", RULE_IDS)


def test_a_valid_file_loads_every_field(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(
        "# accepted risks, reviewed monthly\n"
        "- rule: winrm-service-basic-auth\n"
        "  target: 'fs0*'\n"
        "  justification: Legacy scanner needs Basic until its migration.\n"
        "  expires: 2025-06-30\n"
        "  owner: alice@corp.example\n"
        "  ticket: 4711\n"
        "- rule: 'ad-*'\n"
        "  object: 'CN=svc-*'\n"
        "  justification: Backup agent, reviewed.\n"
        "  expires: '2025-04-01'\n"
        "  owner: bob\n",
        encoding="utf-8",
    )
    assert load_waivers(path, RULE_IDS) == (
        Waiver(
            rule="winrm-service-basic-auth",
            target="fs0*",
            object=None,
            justification="Legacy scanner needs Basic until its migration.",
            expires=dt.date(2025, 6, 30),
            owner="alice@corp.example",
            ticket="4711",
            origin=f"{path}:2",
        ),
        Waiver(
            "ad-*",
            None,
            "CN=svc-*",
            "Backup agent, reviewed.",
            dt.date(2025, 4, 1),
            "bob",
            None,
            f"{path}:8",
        ),
    )


def test_an_empty_file_waives_nothing(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text("# nothing waived yet\n", encoding="utf-8")
    assert load_waivers(path, RULE_IDS) == ()


def waiver(
    rule: str,
    target: str | None = None,
    key: str | None = None,
    expires: dt.date = dt.date(2030, 1, 1),
) -> Waiver:
    return Waiver(rule, target, key, "accepted", expires, "alice", "SEC-1", "waivers.yaml:1")


@pytest.mark.parametrize(
    ("entry", "waived"),
    [
        (waiver("winrm-service-basic-auth"), {FS01.id, DC01.id}),
        (waiver("winrm-*"), {FS01.id, DC01.id}),
        (waiver("*", "fs01.*"), {FS01.id}),
        (waiver("winrm-service-basic-auth", "FS01.CORP.EXAMPLE"), {FS01.id}),  # no case
        (waiver("winrm-service-basic-auth", "dc0?.corp.example"), {DC01.id}),
        (waiver("winrm-service-basic-auth", "ws*"), set()),
        # An object pattern never matches a single-value finding (it has no object).
        (waiver("winrm-service-basic-auth", None, "*"), set()),
    ],
)
def test_globs_on_rule_target_and_object(entry: Waiver, waived: set[str]) -> None:
    result = apply_waivers(scan([failing(BASIC, FS01), failing(BASIC, DC01)]), [entry], TODAY)
    assert {r.target_id for r in result.results if r.status is Status.WAIVED} == waived


def test_object_globs_waive_objects_one_by_one() -> None:
    result = scan([failing(DELEGATION, DOMAIN, ALICE, SVC, severity=Severity.HIGH)])
    outcome = match_waivers(result, [waiver("ad-unconstrained-delegation", key="cn=SVC-*")], TODAY)
    (item,) = outcome.result.results
    assert item.status is Status.FAIL  # alice is still open
    assert [(f.object, f.waiver is not None) for f in item.findings] == [
        (ALICE, False),
        (SVC, True),
    ]
    assert outcome.waived == 1
    waived = item.findings[1].waiver
    assert waived == AppliedWaiver(
        "ad-unconstrained-delegation", None, "cn=SVC-*", "accepted", "alice", "2030-01-01", "SEC-1"
    )


def test_a_partly_waived_result_takes_the_severity_of_what_is_left() -> None:
    critical = failing(DELEGATION, DOMAIN, SVC, severity=Severity.CRITICAL)
    high = failing(DELEGATION, DOMAIN, ALICE, severity=Severity.HIGH)
    mixed = RuleResult(
        critical.rule_id,
        critical.target_id,
        Status.FAIL,
        Severity.CRITICAL,
        sources=critical.sources,
        findings=(*high.findings, *critical.findings),
    )
    result = apply_waivers(scan([mixed]), [waiver("ad-*", key="CN=svc-*")], TODAY)
    (item,) = result.results
    assert (item.status, item.severity) == (Status.FAIL, Severity.HIGH)
    assert result.worst_failure() is Severity.HIGH
    assert exit_code(result, Severity.CRITICAL) is ExitCode.CLEAN
    assert exit_code(result, Severity.HIGH) is ExitCode.FINDINGS


def test_expiry_boundary_the_day_of_expiry_it_fails_again() -> None:
    result = scan([failing(BASIC, FS01)])
    entry = waiver("winrm-service-basic-auth", expires=dt.date(2025, 3, 1))
    day_before = match_waivers(result, [entry], dt.date(2025, 2, 28))
    assert day_before.result.results[0].status is Status.WAIVED
    assert day_before.expired == () and day_before.result.metadata.warnings == ()
    for today in (dt.date(2025, 3, 1), dt.date(2025, 3, 2)):
        after = match_waivers(result, [entry], today)
        (item,) = after.result.results
        assert item.status is Status.FAIL and item.findings[0].waiver is None
        assert after.expired == (entry,)
        assert after.result.metadata.warnings == (
            "waiver for winrm-service-basic-auth (waivers.yaml:1) expired on 2025-03-01: "
            "1 finding(s) fail again",
        )


def test_an_unexpired_waiver_still_covers_what_an_expired_one_did() -> None:
    old = waiver("winrm-*", expires=dt.date(2025, 1, 1))
    renewed = waiver("winrm-service-basic-auth", expires=dt.date(2026, 1, 1))
    outcome = match_waivers(scan([failing(BASIC, FS01)]), [old, renewed], TODAY)
    assert outcome.result.results[0].status is Status.WAIVED
    assert outcome.result.results[0].findings[0].waiver == renewed.applied()
    assert outcome.expired == () and outcome.stale == ()


def test_stale_waivers_are_reported() -> None:
    result = scan([failing(BASIC, FS01), passing(SMB_SIGNING, FS01), undecided(RDP_NLA, DC01)])
    entries = [
        waiver("winrm-service-basic-auth"),
        waiver("smb-signing-required"),  # passes everywhere: stale
        waiver("rdp-nla-required", "dc01*"),  # undecided: maybe failing still, not stale
        waiver("winrm-*", "nohost*"),  # names no target scanned: stale
    ]
    outcome = match_waivers(result, entries, TODAY)
    assert outcome.stale == (entries[1], entries[3])
    assert outcome.result.metadata.warnings == (
        "waiver for smb-signing-required (waivers.yaml:1) is stale: it matches no failing finding",
        "waiver for winrm-*, target nohost* (waivers.yaml:1) is stale: it matches no failing "
        "finding",
    )


def test_waived_findings_count_toward_neither_exit_code_nor_score() -> None:
    result = scan([failing(RDP_NLA, FS01), passing(BASIC, FS01)], targets=(FS01,))
    assert exit_code(result, Severity.HIGH) is ExitCode.FINDINGS
    assert score(result.results) < 100
    waived = apply_waivers(result, [waiver("rdp-nla-required")], TODAY)
    assert exit_code(waived, Severity.INFO) is ExitCode.CLEAN
    assert score(waived.results) == 100.0
    counts = waived.counts()
    assert (counts["fail"], counts["waived"], counts["fail_critical"]) == (0, 1, 0)


def test_waivers_flow_through_json_markdown_and_csv() -> None:
    result = apply_waivers(
        scan([failing(BASIC, FS01), failing(DELEGATION, DOMAIN, ALICE, SVC)]),
        [waiver("winrm-service-basic-auth"), waiver("ad-*", key="CN=svc-*")],
        TODAY,
    )
    document = json.loads(JsonRenderer().render(result))
    assert validate_result_json(document) == []
    assert document["summary"]["counts"]["waived"] == 1
    assert result_from_json(document, "report.json") == result
    markdown = MarkdownRenderer().render(result).decode("utf-8")
    assert "## Waived (not counted)" in markdown
    assert (
        "| winrm-service-basic-auth | fs01.corp.example |  | high | accepted | alice |" in markdown
    )
    csv = CsvRenderer().render(result).decode("utf-8-sig").splitlines()
    waived_rows = [line for line in csv if ",waived," in line]
    assert len(waived_rows) == 2 and all(
        row.endswith("accepted,alice,2030-01-01,SEC-1") for row in waived_rows
    )
