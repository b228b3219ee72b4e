"""Writing a result in several formats to an output folder."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from auditor.atomic import replacing
from auditor.errors import InputError
from auditor.reports.formats import OutputFormat
from auditor.results.model import ScanResult


def write_reports(
    result: ScanResult, out_dir: Path, formats: Iterable[OutputFormat], stem: str = "report"
) -> list[Path]:
    """Write each format to `out_dir/stem.<suffix>`; returns the paths written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot create the output folder: {exc.strerror}") from None
    written = []
    for fmt in dict.fromkeys(formats):
        renderer = fmt.renderer()
        path = out_dir / f"{stem}{renderer.suffix}"
        data = renderer.render(result)
        try:
            with replacing(path) as out:
                out.write(data)
        except OSError as exc:
            raise InputError(f"{path}: cannot write the report: {exc.strerror}") from None
        written.append(path)
    return written
