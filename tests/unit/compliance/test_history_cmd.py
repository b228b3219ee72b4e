"""`auditor history`, `auditor history show` and `auditor diff`, registered as main.py will."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from auditor.cli import history_cmd
from auditor.errors import InputError
from auditor.reports.json_format import JsonRenderer
from auditor.results.io import result_to_json
from auditor.store import Store

from ..reports.htmltree import parse
from .builders import BASIC, DC01, FS01, failing, passing, scan, undecided

app = typer.Typer()
app.add_typer(history_cmd.app, name="history")
app.command("diff")(history_cmd.diff_command)
RUNNER = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "history.db"
    with Store(path) as opened:
        opened.record(
            scan([failing(BASIC, FS01), failing(BASIC, DC01)], started="2025-02-24T02:00:00Z")
        )
        opened.record(
            scan([passing(BASIC, FS01), undecided(BASIC, DC01)], started="2025-02-25T02:00:00Z")
        )
    return path


def test_history_lists_the_scans(store: Path) -> None:
    done = RUNNER.invoke(app, ["history", "--store", str(store)], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    rows = [line for line in done.output.splitlines() if "2025-02-2" in line]
    assert len(rows) == 2
    assert rows[0].split("│")[1].strip() == "1" and "2025-02-24T02:00:00Z" in rows[0]


def test_history_without_a_store_says_so(tmp_path: Path) -> None:
    done = RUNNER.invoke(app, ["history", "--store", str(tmp_path / "none.db")])
    assert isinstance(done.exception, InputError)
    assert "none.db: no such store" in str(done.exception)
    assert not (tmp_path / "none.db").exists()


def test_history_show_renders_a_scan_with_its_history(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "scan-2.html"
    done = RUNNER.invoke(
        app, ["history", "show", "2", "--store", str(store), "-f", "html", "-o", str(out)]
    )
    assert done.exit_code == 0, done.output
    doc = parse(out.read_text(encoding="utf-8"))
    shown = {
        e.attrs["data-drift"]: int(e.text()) for e in doc.by_id("history").select(data_drift=None)
    }
    assert shown == {"new": 0, "fixed": 1, "no-longer-verifiable": 1}
    # --store before the subcommand works too, and JSON keeps the scan as recorded.
    out = tmp_path / "scan-1.json"
    done = RUNNER.invoke(
        app, ["history", "--store", str(store), "show", "1", "-f", "json", "-o", str(out)]
    )
    assert done.exit_code == 0, done.output
    document = json.loads(out.read_text(encoding="utf-8"))
    with Store(store) as opened:
        recorded = result_to_json(opened.load(1))
    assert document["history"]["previous"] is None
    assert {k: v for k, v in document.items() if k != "history"} == recorded


def test_diff_between_scan_ids_and_files(store: Path, tmp_path: Path) -> None:
    done = RUNNER.invoke(app, ["diff", "1", "2", "--store", str(store)])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[0].startswith("new 0, fixed 1, still open 0")
    assert "No longer verifiable (now undecided):" in done.output
    old_file = tmp_path / "old.json"
    with Store(store) as opened:
        old_file.write_bytes(JsonRenderer().render(opened.load(1)))
    done = RUNNER.invoke(
        app, ["diff", str(old_file), "2", "--store", str(store), "--format", "json"]
    )
    assert done.exit_code == 0, done.output
    document = json.loads(done.output)
    assert document["counts"]["fixed"] == 1 and document["counts"]["no_longer_verifiable"] == 1


def test_diff_names_a_reference_it_cannot_use(store: Path) -> None:
    done = RUNNER.invoke(app, ["diff", "nothing.json", "2", "--store", str(store)])
    assert isinstance(done.exception, InputError)
    assert str(done.exception) == "nothing.json: neither a result file nor a scan id"
    done = RUNNER.invoke(app, ["diff", "1", "9", "--store", str(store)])
    assert isinstance(done.exception, InputError)
    assert "no scan 9" in str(done.exception)
