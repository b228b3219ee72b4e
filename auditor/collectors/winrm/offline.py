"""The air-gapped path: the collector script's JSON output, run by other tooling, as host facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.collectors.winrm.response import CollectorResponseError, parse_response
from auditor.errors import InputError
from auditor.facts.io import documents_from_json
from auditor.facts.model import Available, DocumentKind, FactDocument, Target
from auditor.jsonfile import read_json_text

NOT_BY_SCRIPT = "WinRM's own configuration is read over WS-Man, not by the script"


def is_collector_output(raw: Any) -> bool:
    return isinstance(raw, dict) and "sections" in raw and "registry" in raw and "target" not in raw


def document_from_collector_output(text: str, raw: dict[str, Any], origin: Path) -> FactDocument:
    """Host facts from a collect.ps1 answer; facts it cannot carry stay unavailable (not_collected)."""
    try:
        facts, registry = parse_response(text, list(raw.get("sections", {})))
    except CollectorResponseError as exc:
        raise InputError(f"{origin}: {exc}") from None
    os_fact = raw["sections"].get("os", {}).get("ok", {})
    name = str(os_fact.get("hostname") or origin.stem).lower()
    domain = os_fact.get("domain")
    if domain and "." not in name:
        name = f"{name}.{str(domain).lower()}"
    roles = facts.get("host.roles")
    return FactDocument(
        Target(
            DocumentKind.HOST,
            name,
            roles=tuple(roles.value) if isinstance(roles, Available) else (),
        ),
        facts,
        str(raw.get("collected_at", "")),
        "collect.ps1 (offline)",
        registry=registry,
    )


def load_any(path: Path) -> list[FactDocument]:
    """A facts document (or list of them), or a collector script's raw output."""
    text, raw = read_json_text(path)  # a bad file is reported with its name and line
    if is_collector_output(raw):
        return [document_from_collector_output(text, raw, path)]
    return documents_from_json(raw, path)
