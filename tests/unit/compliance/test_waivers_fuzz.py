"""Random YAML into the waiver loader: always waivers or an InputError, never another exception."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from auditor.errors import InputError
from auditor.pipeline.waivers import Waiver, load_waivers

from .builders import RULE_IDS

KEYS = ["rule", "target", "object", "justification", "expires", "owner", "ticket", "colour"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.dates(),
    st.datetimes(),
    st.sampled_from([*sorted(RULE_IDS), "winrm-*", "2025-02-30", "2025-13-01", "2025-06-30"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
ENTRIES = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8)
DOCUMENTS = st.one_of(VALUES, st.lists(st.one_of(ENTRIES, VALUES), max_size=4))
# Fragments that exercise PyYAML's resolvers and constructors, spliced into the text.
FRAGMENTS = st.sampled_from(
    [
        "!!timestamp x",
        "!!int x",
        "!!float y",
        "!!binary '@@'",
        "!!set {a}",
        "!!omap [a]",
        "!!python/name:os.system",
        "&a [*a]",
        "*undefined",
        "2025-02-30",
        "2025-06-30 25:00:00",
        "? [a, b]\n: 1",
        "'unclosed",
        "{",
        "- ",
        ": ",
        "\t",
        "\x00",
        "\ufeff",
        "%YAML 1.1\n---\n",
        "0x1F",
        "1e400",
        ".nan",
    ]
)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _outcome(path: Path) -> tuple[Waiver, ...] | InputError:
    """Any other exception escapes and fails the test."""
    try:
        return load_waivers(path, RULE_IDS)
    except InputError as exc:
        return exc


def _load(folder: Path, text: str) -> None:
    path = folder / "waivers.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    outcome = _outcome(path)
    if isinstance(outcome, InputError):
        assert str(outcome).startswith(f"{path}:"), outcome
        return
    for entry in outcome:
        assert isinstance(entry, Waiver)
        assert entry.justification.strip() and entry.owner.strip() and entry.rule.strip()
        assert type(entry.expires) is dt.date


@settings(max_examples=200, deadline=None, database=None)
@given(document=DOCUMENTS)
def test_random_documents(folder: Path, document: Any) -> None:
    _load(folder, yaml.safe_dump(document, allow_unicode=True))


@settings(max_examples=200, deadline=None, database=None)
@given(document=DOCUMENTS, fragment=FRAGMENTS, position=st.integers(min_value=0))
def test_random_documents_with_hostile_fragments(
    folder: Path, document: Any, fragment: str, position: int
) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    cut = position % (len(text) + 1)
    _load(folder, text[:cut] + fragment + text[cut:])


@settings(max_examples=300, deadline=None, database=None)
@given(text=st.text(max_size=200))
# Found by this test: PyYAML raises ValueError for a \U escape past U+10FFFF.
@example(text='- object: "\\U1e400000"\n')
def test_random_text(folder: Path, text: str) -> None:
    _load(folder, text)


@settings(max_examples=100, deadline=None, database=None)
@given(
    rule=st.sampled_from(sorted(RULE_IDS)),
    why=st.text(min_size=1, max_size=30).filter(str.strip),
    expires=st.dates(),
    owner=st.text(min_size=1, max_size=10).filter(str.strip),
)
def test_valid_entries_always_load(
    folder: Path, rule: str, why: str, expires: dt.date, owner: str
) -> None:
    entry = {"rule": rule, "justification": why, "expires": expires, "owner": owner}
    text = yaml.safe_dump([entry], allow_unicode=True)
    path = folder / "valid.yaml"
    path.write_text(text, encoding="utf-8")
    (loaded,) = load_waivers(path, RULE_IDS)
    # What YAML itself reads back (it folds line breaks such as U+0085 into spaces).
    (parsed,) = yaml.safe_load(text)
    assert (loaded.rule, loaded.justification, loaded.expires, loaded.owner) == (
        rule,
        parsed["justification"].strip(),
        expires,
        parsed["owner"].strip(),
    )
