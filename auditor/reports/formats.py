"""The one list of report formats, each mapped to its renderer."""

from __future__ import annotations

import enum

from auditor.reports.csv_format import CsvRenderer
from auditor.reports.html_format import HtmlRenderer
from auditor.reports.interface import Renderer
from auditor.reports.json_format import JsonRenderer
from auditor.reports.junit_format import JunitRenderer
from auditor.reports.markdown_format import MarkdownRenderer
from auditor.reports.sarif_format import SarifRenderer


class OutputFormat(enum.StrEnum):
    JSON = "json"
    HTML = "html"
    MARKDOWN = "md"
    CSV = "csv"
    JUNIT = "junit"
    SARIF = "sarif"

    def renderer(self) -> Renderer:
        return _RENDERERS[self]()


_RENDERERS: dict[OutputFormat, type[Renderer]] = {
    OutputFormat.JSON: JsonRenderer,
    OutputFormat.HTML: HtmlRenderer,
    OutputFormat.MARKDOWN: MarkdownRenderer,
    OutputFormat.CSV: CsvRenderer,
    OutputFormat.JUNIT: JunitRenderer,
    OutputFormat.SARIF: SarifRenderer,
}
