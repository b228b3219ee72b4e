"""The one enum of formats: every member renders, and writing them all works."""

from __future__ import annotations

from pathlib import Path

from auditor.reports.formats import _RENDERERS, OutputFormat
from auditor.reports.write import write_reports

from .sample import make_result


def test_every_format_has_a_renderer() -> None:
    assert set(_RENDERERS) == set(OutputFormat)


def test_every_format_renders_with_its_own_suffix() -> None:
    result = make_result()
    suffixes = set()
    for fmt in OutputFormat:
        renderer = fmt.renderer()
        assert renderer.render(result), fmt
        suffixes.add(renderer.suffix)
    assert len(suffixes) == len(OutputFormat)


def test_write_reports_writes_every_format(tmp_path: Path) -> None:
    written = write_reports(make_result(), tmp_path, list(OutputFormat))
    assert sorted(p.name for p in written) == sorted(
        f"report{fmt.renderer().suffix}" for fmt in OutputFormat
    )
    assert all(p.stat().st_size > 0 for p in written)
