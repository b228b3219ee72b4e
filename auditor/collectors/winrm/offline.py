"""The air-gapped path: the collector script's JSON output, run by other tooling, as host facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.collectors.winrm.request import ANSWERED_FACTS
from auditor.collectors.winrm.response import CollectorResponseError, parse_response
from auditor.errors import InputError
from auditor.facts.io import check_target_names, documents_from_json
from auditor.facts.model import Available, DocumentKind, FactDocument, Target
from auditor.jsonfile import read_json_text


def is_collector_output(raw: Any) -> bool:
    return isinstance(raw, dict) and "sections" in raw and "registry" in raw and "target" not in raw


def document_from_collector_output(text: str, raw: dict[str, Any], origin: Path) -> FactDocument:
    """Host facts from a collect.ps1 answer; facts it cannot carry stay unavailable (not_collected)."""
    sections = raw["sections"]
    # The sections the script answered, as far as auditor knows them; parse_response refuses
    # sections that are not an object ("sections": 5).
    answered = [n for n in sections if n in ANSWERED_FACTS] if isinstance(sections, dict) else []
    try:
        facts, registry = parse_response(text, answered)
    except CollectorResponseError as exc:
        raise InputError(f"{origin}: {exc}") from None
    os_section = sections.get("os")  # an answered os section was checked by parse_response
    os_fact = (os_section.get("ok") or {}) if isinstance(os_section, dict) else {}
    name = str(os_fact.get("hostname") or origin.stem).lower()
    domain = os_fact.get("domain")
    if domain and "." not in name:
        name = f"{name}.{str(domain).lower()}"
    check_target_names(str(origin), name)
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
