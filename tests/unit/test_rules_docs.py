"""docs/rules.md is generated from the pack and must be current."""

from __future__ import annotations

from pathlib import Path

from auditor.rules.docs import render_catalogue
from auditor.rules.pack import load_pack

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def test_rules_md_is_current() -> None:
    expected = render_catalogue(load_pack())
    assert DOCS.read_text(encoding="utf-8") == expected, "run: auditor rules docs -o docs/rules.md"


def test_every_rule_is_in_the_catalogue() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for rule in load_pack():
        assert f"| `{rule.id}` |" in text
