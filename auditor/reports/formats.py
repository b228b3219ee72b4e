"""The one list of report formats, each mapped to its renderer."""

from __future__ import annotations

import enum

from auditor.reports.interface import Renderer
from auditor.reports.json_format import JsonRenderer


class OutputFormat(enum.StrEnum):
    JSON = "json"

    def renderer(self) -> Renderer:
        return _RENDERERS[self]()


_RENDERERS: dict[OutputFormat, type[Renderer]] = {
    OutputFormat.JSON: JsonRenderer,
}
