"""A YAML alias bomb in any file the scanner reads fails as one line, before it can expand."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.yamlio import YamlProblem, load_text

REPO = Path(__file__).resolve().parents[2]
# Generous for the interpreter and its imports; the expanded bomb needs tens of gigabytes.
MEMORY_LIMIT = 1536 * 1024 * 1024


def bomb(levels: int = 9) -> str:
    """A flow sequence whose last item, fully expanded, holds 9**levels strings."""
    items = ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    items += [f"&l{k} [{', '.join([f'*l{k - 1}'] * 9)}]" for k in range(1, levels)]
    return "[" + ", ".join(items) + "]"


def limited_auditor(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with its address space capped, so an expansion fails instead of swapping."""
    capped = (
        "import resource, runpy, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))\n"
        "sys.argv = ['auditor', *sys.argv[1:]]\n"
        "runpy.run_module('auditor', run_name='__main__')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", capped, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line_alias_error(completed: subprocess.CompletedProcess[str], where: str) -> None:
    assert completed.returncode == 2, completed.stderr[-2000:]
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr[-2000:]
    assert where in lines[0]
    assert "aliases expand to more than" in lines[0]


def test_bomb_in_a_rule_files_parameters(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules" / "winrm", rules)
    rule = rules / "winrm-service-credssp.yaml"
    text = rule.read_text(encoding="utf-8")
    assert "  approved_credssp_hosts: []\n" in text
    rule.write_text(
        text.replace("  approved_credssp_hosts: []\n", f"  approved_credssp_hosts: {bomb()}\n"),
        encoding="utf-8",
    )
    line = text.splitlines().index("  approved_credssp_hosts: []") + 1
    for command in ("validate", "test"):
        assert_one_line_alias_error(
            limited_auditor("rules", command, str(rules)), f"{rule}:{line}:"
        )


def test_bomb_in_a_configs_rule_parameters(tmp_path: Path) -> None:
    config = tmp_path / "scan.yaml"
    config.write_text(
        "hosts: [127.0.0.1]\n"
        "rules:\n"
        "  parameters:\n"
        f"    winrm-service-credssp: {{approved_credssp_hosts: {bomb()}}}\n",
        encoding="utf-8",
    )
    completed = limited_auditor(
        "scan", "host", "--probe-only", "--config", str(config), "-o", str(tmp_path / "out")
    )
    assert_one_line_alias_error(completed, f"{config}:4:")
    assert not (tmp_path / "out").exists()


def test_bomb_in_a_waivers_file(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "- rule: winrm-service-credssp\n"
        "  owner: ops\n"
        "  expires: 2099-01-01\n"
        f"  justification: {bomb()}\n",
        encoding="utf-8",
    )
    completed = limited_auditor(
        "scan",
        "facts",
        str(REPO / "examples" / "domain.json"),
        "--waivers",
        str(waivers),
        "-o",
        str(tmp_path / "out"),
    )
    assert_one_line_alias_error(completed, f"{waivers}:4:")


def test_ordinary_anchors_and_aliases_still_load() -> None:
    loaded = load_text(
        "defaults: &d {owner: ops, hosts: [a, b]}\n"
        "first: *d\n"
        "second: [*d, *d]\n"
        "lists: &l [1, 2, 3]\n"
        "again: *l\n"
    )
    assert loaded["first"] == {"owner": "ops", "hosts": ["a", "b"]}
    assert loaded["second"] == [loaded["defaults"]] * 2
    assert loaded["again"] == [1, 2, 3]


def test_aliases_within_the_limit_load_and_beyond_it_fail_where_they_are() -> None:
    small = load_text(f"a: {bomb(levels=4)}\n")  # 9**4 = 6,561 strings at the deepest level
    assert len(small["a"][3]) == 9
    with pytest.raises(YamlProblem) as caught:
        load_text(f"note: fine\nb: {bomb(levels=7)}\n")
    assert caught.value.line == 2
    assert "aliases expand to more than 100000 values" in caught.value.message


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(YamlProblem) as caught:
        load_text("ok: 1\nloop: &a [1, *a]\n")
    assert (caught.value.line, caught.value.message) == (
        2,
        "alias *a is used inside its own anchor",
    )
