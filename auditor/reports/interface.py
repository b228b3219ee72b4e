"""What every report format implements: a result in, bytes out."""

from __future__ import annotations

import abc

from auditor.results.model import ScanResult


class Renderer(abc.ABC):
    """A report format. Renderers read the result model and know nothing of collection."""

    suffix: str

    @abc.abstractmethod
    def render(self, result: ScanResult) -> bytes:
        """The whole report as bytes, ready to write to a file."""
