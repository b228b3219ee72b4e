"""Merging sharded results: shards add up to the whole, a target's newest collection wins."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.errors import InputError
from auditor.reports.json_format import JsonRenderer
from auditor.results.io import load_result, validate_result_json
from auditor.results.merge import merge_results
from auditor.results.model import RuleResult, ScanResult, TargetInfo, TargetStatus
from auditor.results.vocabulary import Severity, Status

from .reports.sample import BASIC, FS01, OFFLINE, make_result


def shard(
    whole: ScanResult, target_ids: set[str], started: str, finished: str, command: str
) -> ScanResult:
    """The part of `whole` that one scanning machine would have produced."""
    return ScanResult(
        metadata=dataclasses.replace(
            whole.metadata, started_at=started, finished_at=finished, command=command
        ),
        targets=tuple(t for t in whole.targets if t.id in target_ids),
        rules=whole.rules,
        results=tuple(r for r in whole.results if r.target_id in target_ids),
    )


def split(whole: ScanResult) -> tuple[ScanResult, ScanResult]:
    ids = [t.id for t in whole.targets]
    first = shard(
        whole, set(ids[:3]), "2024-05-01T09:58:00Z", "2024-05-01T10:01:00Z", "scan host a"
    )
    second = shard(
        whole, set(ids[3:]), "2024-05-01T10:00:00+02:00", "2024-05-01T10:03:00Z", "scan host b"
    )
    return first, second


def test_two_shards_merge_into_the_whole() -> None:
    whole = make_result()
    first, second = split(whole)
    merged = merge_results([first, second], ["a.json", "b.json"])
    assert merged.targets == whole.targets
    assert merged.results == whole.results
    assert dict(merged.rules) == dict(whole.rules)
    assert merged.counts() == whole.counts()
    meta = merged.metadata
    assert meta.command == "report merge"
    # 10:00+02:00 is 08:00Z: the earliest start is compared as an instant, not as text.
    assert meta.started_at == "2024-05-01T10:00:00+02:00"
    assert meta.finished_at == "2024-05-01T10:03:00Z"
    assert [i["file"] for i in meta.options["inputs"]] == ["a.json", "b.json"]
    assert [i["command"] for i in meta.options["inputs"]] == ["scan host a", "scan host b"]
    # Each shard's own warnings survive, labelled with the shard; nothing else is said.
    assert meta.warnings == tuple(
        f"{name}: {w}" for name in ("a.json", "b.json") for w in whole.metadata.warnings
    )
    assert validate_result_json(json.loads(JsonRenderer().render(merged))) == []


def _rescanned(whole: ScanResult, collected_at: str, basic: Status) -> ScanResult:
    """FS01 alone, scanned again: collected at `collected_at`, Basic now `basic`."""
    target = dataclasses.replace(FS01, collected_at=collected_at)
    results = tuple(
        dataclasses.replace(r, status=basic, findings=()) if r.rule_id == BASIC.id else r
        for r in whole.results
        if r.target_id == FS01.id
    )
    return dataclasses.replace(
        whole,
        metadata=dataclasses.replace(
            whole.metadata,
            started_at="2024-05-02T08:00:00Z",
            finished_at="2024-05-02T08:05:00Z",
            warnings=(),
        ),
        targets=(target,),
        results=results,
    )


def _basic_on_fs01(result: ScanResult) -> RuleResult:
    (item,) = [r for r in result.results if r.rule_id == BASIC.id and r.target_id == FS01.id]
    return item


@pytest.mark.parametrize("newest_first", [True, False])
def test_overlapping_target_keeps_the_newest_collection(newest_first: bool) -> None:
    whole = make_result()
    newer = _rescanned(whole, "2024-05-02T08:01:00Z", Status.PASS)
    inputs = [newer, whole] if newest_first else [whole, newer]
    names = ["new.json", "old.json"] if newest_first else ["old.json", "new.json"]
    merged = merge_results(inputs, names)
    assert [t.id for t in merged.targets].count(FS01.id) == 1
    assert next(t for t in merged.targets if t.id == FS01.id).collected_at == (
        "2024-05-02T08:01:00Z"
    )
    assert _basic_on_fs01(merged).status is Status.PASS
    assert len(merged.results) == len(whole.results)
    assert (
        f"target {FS01.name} ({FS01.id}) is also in old.json: kept its collection of "
        "2024-05-02T08:01:00Z from new.json"
    ) in merged.metadata.warnings


def test_a_collection_beats_a_newer_failed_attempt() -> None:
    """One shard could not reach the host; another, earlier, could: its facts are kept."""
    whole = make_result()
    reached = dataclasses.replace(
        OFFLINE, status=TargetStatus.COMPLETE, reason=None, collected_at="2024-04-30T10:00:00Z"
    )
    earlier = dataclasses.replace(
        whole,
        metadata=dataclasses.replace(
            whole.metadata, started_at="2024-04-30T09:00:00Z", finished_at="2024-04-30T11:00:00Z"
        ),
        targets=(reached,),
        results=(RuleResult(BASIC.id, OFFLINE.id, Status.PASS, Severity.HIGH),),
    )
    merged = merge_results([earlier, whole], ["early.json", "late.json"])
    assert next(t for t in merged.targets if t.id == OFFLINE.id) == reached
    assert [r for r in merged.results if r.target_id == OFFLINE.id] == list(earlier.results)
    assert merged.metadata.started_at == "2024-04-30T09:00:00Z"
    assert any(
        "kept its collection of 2024-04-30T10:00:00Z from early.json" in w
        for w in merged.metadata.warnings
    )


def test_a_target_twice_in_one_input_names_that_input() -> None:
    """Such a file (an older `scan facts` kept duplicates) used to read "is also in : kept"."""
    whole = make_result()
    twice = dataclasses.replace(whole, targets=(*whole.targets, FS01))
    merged = merge_results([twice], ["dup.json"])
    assert [t.id for t in merged.targets].count(FS01.id) == 1
    assert (
        f"target {FS01.name} ({FS01.id}) is also in dup.json: kept its collection of "
        f"{FS01.collected_at} from dup.json"
    ) in merged.metadata.warnings


def test_differing_rule_metadata_keeps_the_newest_scan_and_warns() -> None:
    whole = make_result()
    newer = _rescanned(whole, "2024-05-02T08:01:00Z", Status.FAIL)
    newer = dataclasses.replace(
        newer,
        metadata=dataclasses.replace(newer.metadata, tool_version="0.2.0"),
        rules={**whole.rules, BASIC.id: {**whole.rules[BASIC.id], "title": "Changed title"}},
    )
    merged = merge_results([newer, whole], ["new.json", "old.json"])
    assert merged.rules[BASIC.id]["title"] == "Changed title"
    assert merged.metadata.tool_version == "0.2.0"
    warnings = merged.metadata.warnings
    assert (
        f"rule {BASIC.id}: metadata differs between inputs (different rule packs?); "
        "kept the newest scan's, from new.json"
    ) in warnings
    assert any("different auditor versions (0.1.0, 0.2.0)" in w for w in warnings)


def test_unparseable_time_names_the_input() -> None:
    whole = make_result()
    broken = dataclasses.replace(
        whole, metadata=dataclasses.replace(whole.metadata, finished_at="yesterday")
    )
    with pytest.raises(InputError, match=r"^b\.json: metadata\.finished_at 'yesterday' is not"):
        merge_results([whole, broken], ["a.json", "b.json"])


def test_nothing_to_merge_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        merge_results([])


def _auditor(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _write(result: ScanResult, path: Path) -> Path:
    path.write_bytes(JsonRenderer().render(result))
    return path


def test_cli_merges_shard_files(tmp_path: Path) -> None:
    first, second = split(make_result())
    a, b = _write(first, tmp_path / "a.json"), _write(second, tmp_path / "b.json")
    out = tmp_path / "merged.json"
    done = _auditor("report", "merge", a, b, "-o", out)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}: 6 targets" in done.stdout
    merged = load_result(out)
    assert merged == merge_results([load_result(a), load_result(b)], [str(a), str(b)])
    assert not list(tmp_path.glob("*.tmp"))


def test_cli_reports_overlap_warnings(tmp_path: Path) -> None:
    whole = make_result()
    old = _write(whole, tmp_path / "old.json")
    new = _write(_rescanned(whole, "2024-05-02T08:01:00Z", Status.PASS), tmp_path / "new.json")
    done = _auditor("report", "merge", old, new, "-o", tmp_path / "merged.json")
    assert done.returncode == 0, done.stderr
    assert f"warning: target {FS01.name} ({FS01.id}) is also in {old}" in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", ":1: not valid JSON"),
        ('{"schema": "something else"}', "not an auditor result document"),
    ],
)
def test_cli_bad_input_exits_2_naming_the_file(
    tmp_path: Path, content: str | None, message: str
) -> None:
    good = _write(make_result(), tmp_path / "good.json")
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    out = tmp_path / "merged.json"
    done = _auditor("report", "merge", good, bad, "-o", out)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}") and message in lines[0]
    assert not out.exists()


def test_merged_targets_keep_first_seen_order() -> None:
    whole = make_result()
    first, second = split(whole)
    merged = merge_results([second, first])
    expected: list[TargetInfo] = [*second.targets, *first.targets]
    assert merged.targets == tuple(expected)
    assert [i["file"] for i in merged.metadata.options["inputs"]] == ["input 1", "input 2"]


def test_render_replaces_the_report_whole(tmp_path: Path) -> None:
    """A reader holding the old report keeps reading the old report, all of it: `report render`
    writes beside it and renames, never truncates the file in place."""
    saved = _write(make_result(), tmp_path / "result.json")
    out = tmp_path / "report.html"
    out.write_text("the previous report\n")
    with out.open("rb") as reader:
        done = _auditor("report", "render", saved, "-f", "html", "-o", out)
        assert done.returncode == 0, done.stderr
        assert reader.read() == b"the previous report\n"
    assert out.read_bytes().startswith(b"<!DOCTYPE html>")
    assert not list(tmp_path.glob("*.tmp"))
