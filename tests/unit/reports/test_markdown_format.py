"""The Markdown report: ticket-ready, with scanned data unable to inject Markdown or HTML."""

from __future__ import annotations

import re

import pytest

from auditor.reports.markdown_format import MarkdownRenderer, code_block, text
from auditor.results.model import ScanResult

from .sample import SCRIPT, make_result


@pytest.fixture(scope="module")
def result() -> ScanResult:
    return make_result()


@pytest.fixture(scope="module")
def markdown(result: ScanResult) -> str:
    return MarkdownRenderer().render(result).decode("utf-8")


def _outside_code(markdown: str) -> str:
    return re.sub(r"^(`{3,})powershell\n.*?\n\1$", "", markdown, flags=re.S | re.M)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a|b", r"a\|b"),
        ("`x`", r"\`x\`"),
        ("**b** _i_", r"\*\*b\*\* \_i\_"),
        ("[t](http://e)", r"\[t\](http://e)"),
        ("<b>", r"\<b\>"),
        ("# h", r"\# h"),
        ("a\\b", r"a\\b"),
        ("&lt;", r"\&lt;"),
        ("one\ntwo\r\nthree\rfour", "one<br>two<br>three<br>four"),
    ],
)
def test_text_escapes_markdown(raw: str, escaped: str) -> None:
    assert text(raw) == escaped


def test_code_fence_outlasts_backticks_in_the_code() -> None:
    lines = code_block("Write-Host ```` done", "powershell")
    assert lines[0] == "`````powershell" and lines[2] == "`````"


def test_no_raw_html_or_markdown_from_data(markdown: str) -> None:
    prose = _outside_code(markdown)
    # Every "<" from data is escaped; the only raw ones are our <br> and reference autolinks.
    assert re.findall(r"(?<!\\)<(?!br>|https://)", prose) == []
    assert r"\<script\>" in prose
    assert "[link](" not in prose and "**bold**" not in prose
    assert "javascript:alert(1)" in prose and "<javascript:" not in prose


def test_table_rows_keep_their_columns(markdown: str) -> None:
    """An unescaped | in data would add a cell and shift every column after it."""
    width = 0
    for line in markdown.splitlines():
        if not line.startswith("|"):
            width = 0
            continue
        cells = len(re.split(r"(?<!\\)\|", line)) - 2
        width = width or cells
        assert cells == width, line


def test_failing_rules_most_severe_first_with_objects_and_fix(markdown: str) -> None:
    headings = re.findall(r"^### (\w+): ", markdown, flags=re.M)
    assert headings == ["CRITICAL", "CRITICAL", "HIGH", "MEDIUM"]
    assert "CN=Ünïcødé 管理,OU=Servers,DC=corp" in markdown
    assert "Set-Item -Path WSMan:\\localhost\\Service\\Auth\\Basic -Value $false" in markdown
    assert "<https://attack.mitre.org/techniques/T1558/>" in markdown
    assert SCRIPT in markdown  # only inside the PowerShell code block, shown literally
    assert "## Undecided (not passing)" in markdown
    assert "offline01.corp.example | 10.0.0.1 |" in markdown
