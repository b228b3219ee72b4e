"""Hostile or broken inputs end the real CLI with one line and the right exit code, never a
traceback; a bug exits 70, never 0 or 1 (which a scheduler reads as a clean or a normal night).

Each case runs `python -m auditor` as a subprocess; the runs of one test go at once, since
each pays a second or two of imports.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path

import pytest

from auditor.errors import ExitCode

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HOST_FACTS = EXAMPLES / "hosts" / "app01-hardened.json"
DEEP = "[" * 100_000 + "]" * 100_000


def run_all(
    cases: Mapping[str, Sequence[str]], cwd: Path
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Each case's `auditor ARGS...`, run side by side."""
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", "auditor", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        for name, args in cases.items()
    }
    done = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=120)
        done[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return done


def assert_one_line_error(
    name: str, run: subprocess.CompletedProcess[str], code: int, *mentions: str
) -> None:
    """Exit `code`, nothing but `error: ...` on one stderr line, naming what it is about."""
    assert "Traceback" not in run.stdout + run.stderr, (name, run.stderr[-2000:])
    assert run.returncode == code, (name, run.returncode, run.stderr[-500:])
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (name, run.stderr[-1000:])
    for mention in mentions:
        assert mention in lines[0], (name, mention, lines[0])


# --- JSON nested 100,000 deep, into every command that reads JSON --------------------------


def test_json_nested_without_bound_is_an_input_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP)
    journal = tmp_path / "deep.jsonl"
    journal.write_text(DEEP + "\n")
    runs = run_all(
        {
            "scan facts": ["scan", "facts", str(deep), "-o", "out"],
            "report render": ["report", "render", str(deep), "-f", "html", "-o", "r.html"],
            "report merge": ["report", "merge", str(deep), str(deep), "-o", "m.json"],
            "diff": ["diff", str(deep), str(deep)],
            "--resume": ["scan", "host", "--probe-only", "--resume", str(journal), "127.0.0.1"],
        },
        tmp_path,
    )
    for name, run in runs.items():
        where = str(journal) if name == "--resume" else str(deep)
        assert_one_line_error(name, run, ExitCode.USAGE, where, "nested deeper than 100")


# --- files that are folders, files that are not text ----------------------------------------


def _config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_log_file_and_output_folder_of_the_wrong_kind(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    output_is_a_file = _config(tmp_path / "out.yaml", f"output:\n  directory: {a_file}\n")
    runs = run_all(
        {
            "--log-file folder": ["--log-file", str(tmp_path), "rules", "list"],
            "output.directory file": [
                "scan", "host", "--probe-only", "-c", str(output_is_a_file), "127.0.0.1",
            ],
            "--journal under a file": [
                "scan", "host", "--probe-only", "--journal", str(a_file / "j.jsonl"),
                "-o", str(tmp_path / "out"), "127.0.0.1",
            ],
            "--resume folder": [
                "scan", "host", "--probe-only", "--resume", str(tmp_path), "127.0.0.1",
            ],
        },
        tmp_path,
    )  # fmt: skip
    assert_one_line_error("--log-file folder", runs["--log-file folder"], 2, str(tmp_path))
    assert_one_line_error("output.directory", runs["output.directory file"], 2, str(a_file))
    assert_one_line_error("--journal", runs["--journal under a file"], 2, str(a_file))
    assert_one_line_error("--resume folder", runs["--resume folder"], 2, str(tmp_path))


def test_password_file_that_is_a_folder_or_not_utf8(tmp_path: Path) -> None:
    folder = tmp_path / "password-folder"
    folder.mkdir(mode=0o700)
    binary = tmp_path / "password.bin"
    binary.write_bytes(b"\xff\xfeSecret-Bytes-\xc3(\n")
    binary.chmod(0o600)
    cases: dict[str, list[str]] = {}
    for name, path in (("folder", folder), ("not UTF-8", binary)):
        config = _config(
            tmp_path / f"{path.name}.yaml",
            f"credentials:\n  username: CORP\\svc\n  password: file:{path}\n",
        )
        cases[name] = ["scan", "host", "-c", str(config), "-o", str(tmp_path / "out"), "h.invalid"]
    runs = run_all(cases, tmp_path)
    for name, run in runs.items():
        assert_one_line_error(name, run, ExitCode.USAGE, "password reference")
        assert "Secret-Bytes" not in run.stderr and "0xff" not in run.stderr, run.stderr


# --- collect.ps1 output of the wrong shape ---------------------------------------------------


def test_collector_output_whose_sections_are_not_an_object(tmp_path: Path) -> None:
    shapes = {
        "sections: 5": 5,
        "unknown and scalar sections": {"bogus": 5, "os": 7},
    }
    cases: dict[str, list[str]] = {}
    for name, sections in shapes.items():
        path = tmp_path / f"{len(cases)}.json"
        path.write_text(json.dumps({"version": 1, "sections": sections, "registry": {}}))
        cases[name] = ["scan", "facts", str(path), "-o", str(tmp_path / name), "-q"]
    runs = run_all(cases, tmp_path)
    assert_one_line_error("sections: 5", runs["sections: 5"], 2, "0.json", "'sections'")
    # Sections it does not know, or that are not answers, leave their facts undecided: exit 3.
    unknown = runs["unknown and scalar sections"]
    assert "Traceback" not in unknown.stderr and unknown.returncode == ExitCode.INCOMPLETE, (
        unknown.stderr[-2000:]
    )


# --- a store with one damaged row -------------------------------------------------------------

DAMAGE = {
    "bad enum": ("UPDATE results SET status = ? WHERE position = 0", "bogus"),
    "bad JSON": ("UPDATE results SET evidence = ? WHERE position = 0", "{not json"),
    "deep JSON": ("UPDATE results SET sources = ? WHERE position = 0", DEEP),
    "JSON of the wrong type": ("UPDATE scans SET counts = ?", "[1]"),
}


def _scans(store: Path) -> int:
    with closing(sqlite3.connect(store)) as conn:
        count: int = conn.execute("SELECT COUNT(*) FROM scans").fetchone()[0]
    return count


@pytest.fixture(scope="module")
def recorded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one scan, recorded by the CLI."""
    folder = tmp_path_factory.mktemp("store")
    store = folder / "history.db"
    first = run_all(
        {"first": ["scan", "facts", str(HOST_FACTS), "--store", str(store), "-o", "1", "-q"]},
        folder,
    )["first"]
    assert first.returncode in (0, 1, 3), first.stderr
    return store


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_store_fails_before_scanning_and_records_nothing(
    tmp_path: Path, recorded_store: Path, damage: str
) -> None:
    store = tmp_path / "history.db"
    with (
        closing(sqlite3.connect(recorded_store)) as source,
        closing(sqlite3.connect(store)) as copy,
    ):
        source.backup(copy)
        statement, value = DAMAGE[damage]
        assert copy.execute(statement, (value,)).rowcount >= 1
        copy.commit()
    runs = run_all(
        {
            "scan --store": [
                "scan", "facts", str(HOST_FACTS), "--store", str(store), "-o", "2", "-q",
            ],
            "history show": ["history", "show", "1", "--store", str(store), "-o", "h.html"],
        },
        tmp_path,
    )  # fmt: skip
    assert_one_line_error("scan --store", runs["scan --store"], 2, str(store), "damaged")
    assert _scans(store) == 1, "the failed scan was recorded without its reports"
    assert not (tmp_path / "2").exists() or not any((tmp_path / "2").iterdir())
    assert_one_line_error("history show", runs["history show"], 2, str(store), "damaged")


# --- a bug: exit 70, one line, the traceback in the log --------------------------------------

# The real CLI with one command added that fails the way a bug does.
WITH_A_BUG = """
import sys
from auditor.cli import main
from auditor.credentials import Secret

@main.app.command("bug")
def bug() -> None:
    secret = Secret("Bug-Secret-0815")
    raise RuntimeError("broken by " + secret.reveal() + "\\non two lines")

sys.argv = ["auditor", *sys.argv[1:]]
main.run()
"""


def _with_a_bug(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITH_A_BUG, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_bug_exits_70_with_one_line() -> None:
    run = _with_a_bug("bug")
    assert run.returncode == 70, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr and "Bug-Secret-0815" not in run.stderr, run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("error: internal error: RuntimeError: broken by ******** on two"), line
    assert "this is a bug" in line and "--log-file" in line, line


def test_a_bug_writes_its_traceback_to_the_log_file(tmp_path: Path) -> None:
    log = tmp_path / "debug.log"
    run = _with_a_bug("--log-level", "debug", "--log-file", str(log), "bug")
    assert run.returncode == ExitCode.INTERNAL, (run.returncode, run.stderr[-2000:])
    (line,) = run.stderr.splitlines()
    assert f"the traceback is in {log}" in line, line
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "in bug" in text, text[-2000:]
    assert "Bug-Secret-0815" not in text


def test_documented_exit_codes_match() -> None:
    """README and docs/scheduling.md list every exit code, the internal error's included."""
    root = Path(__file__).resolve().parents[2]
    for doc in (root / "README.md", root / "docs" / "scheduling.md"):
        text = doc.read_text(encoding="utf-8")
        for code in ExitCode:
            assert f"\n| {int(code)} |" in text, (doc.name, code)


# --- a password that is not a usable reference is never echoed -----------------------------

# (the password as the YAML holds it, the secret part that must not show)
SECRETS = {
    "starts like prompt": ("promptSuperSecret-x7", "SuperSecret"),
    "starts like ticket-cache": ("ticket-cacheSuperSecret-y8", "SuperSecret"),
    "a number": ("98765432123", "98765432123"),
    "a list": ("[Listed-Secret-q1]", "Listed-Secret"),
}


def test_a_password_that_is_not_a_reference_is_never_shown(tmp_path: Path) -> None:
    cases: dict[str, list[str]] = {}
    for n, (name, (password, _)) in enumerate(SECRETS.items()):
        config = _config(
            tmp_path / f"{n}.yaml",
            f"credentials:\n  username: CORP\\svc\n  password: {password}\n",
        )
        cases[name] = ["scan", "host", "-c", str(config), "-o", str(tmp_path), "h.invalid"]
    runs = run_all(cases, tmp_path)
    for name, run in runs.items():
        secret = SECRETS[name][1]
        assert secret not in run.stdout + run.stderr, (name, run.stderr)
        assert_one_line_error(name, run, ExitCode.USAGE, "credentials.password", "env:VAR")


def test_a_broken_installation_exits_70_not_1(tmp_path: Path) -> None:
    """A dependency that fails to import (here jinja2, shadowed) is a bug-level failure."""
    (tmp_path / "jinja2.py").write_text("raise ImportError('jinja2 is broken here')\n")
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == ExitCode.INTERNAL, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "cannot load" in done.stderr and "jinja2 is broken here" in done.stderr


def test_the_loader_exits_with_the_internal_code() -> None:
    from auditor import cli

    assert cli._INTERNAL == ExitCode.INTERNAL


def test_an_unreadable_keyring_is_an_input_error(tmp_path: Path) -> None:
    """keyring's own backend that fails every call: what a headless machine without one has."""
    config = tmp_path / "scan.yaml"
    config.write_text(
        "credentials: {username: 'CORP\\\\scanner', password: 'keyring:auditor'}\n"
        "hosts: [fs01.corp.example]\nnames: {fs01.corp.example: 127.33.0.9}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", "host", "--config", str(config), "-o", "out"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "keyring could not be read (NoKeyringError)" in done.stderr
    assert "Traceback" not in done.stderr
