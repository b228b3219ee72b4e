"""JSON report: the result document itself, valid against reports/schema/scan-result-1.json."""

from __future__ import annotations

import json

from auditor.reports.interface import Renderer
from auditor.results.io import result_to_json
from auditor.results.model import ScanResult


class JsonRenderer(Renderer):
    suffix = ".json"

    def render(self, result: ScanResult) -> bytes:
        return json.dumps(result_to_json(result), indent=1, ensure_ascii=False).encode("utf-8")
