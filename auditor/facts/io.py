"""Reading and writing fact documents as JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor.errors import InputError
from auditor.facts.model import (
    DocumentKind,
    FactDocument,
    Reason,
    Target,
    Unavailable,
    fact_from_json,
    normalise_registry_path,
)
from auditor.facts.schema import schema_errors
from auditor.jsonfile import read_json

# A target's name (and address) is a DNS name: at most 253 characters. It is copied into every
# result of the target, so an unbounded one would be multiplied by the size of the rule pack.
MAX_NAME_LENGTH = 253


def check_name_length(label: str, value: object) -> None:
    """Refuse a name no DNS could hold where it enters, without echoing it: `label` says where."""
    if isinstance(value, str) and len(value) > MAX_NAME_LENGTH:
        raise InputError(
            f"{label} {len(value)} characters long; a DNS name has at most {MAX_NAME_LENGTH}"
        )


def check_target_names(origin: str, name: object, address: object = None) -> None:
    """Refuse a target whose name or address could not be a host's, where it enters."""
    check_name_length(f"{origin}: target.name is", name)
    check_name_length(f"{origin}: target.address is", address)


def document_from_json(raw: Any, origin: str) -> FactDocument:
    """Validate and decode one facts document; `origin` names it in error messages."""
    if not isinstance(raw, dict):
        raise InputError(f"{origin}: a facts document must be a JSON object")
    target = raw.get("target")
    if not isinstance(target, dict):
        raise InputError(f"{origin}: missing 'target' (its kind: host or domain, and its name)")
    check_target_names(origin, target.get("name"), target.get("address"))
    kind_name = target.get("kind")
    try:
        kind = DocumentKind(str(kind_name))
    except ValueError:
        raise InputError(
            f"{origin}: target.kind must be 'host' or 'domain' (got {kind_name!r})"
        ) from None
    problems = schema_errors(raw, kind)
    if problems:
        raise InputError(f"{origin}: not a valid {kind.value} facts document: {problems[0]}")
    failure = raw.get("failure")
    return FactDocument(
        target=Target(
            kind=kind,
            name=target["name"],
            address=target.get("address"),
            roles=tuple(target.get("roles", ())),
        ),
        facts={name: fact_from_json(entry) for name, entry in raw["facts"].items()},
        registry={
            normalise_registry_path(path): fact_from_json(entry)
            for path, entry in raw.get("registry", {}).items()
        },
        collected_at=raw["collected_at"],
        collector=raw.get("collector", "unknown"),
        failure=Unavailable(Reason(failure["reason"]), failure.get("detail", ""))
        if failure
        else None,
    )


def load_documents(path: Path) -> list[FactDocument]:
    """A file holds one facts document or a JSON list of them."""
    return documents_from_json(read_json(path), path)


def documents_from_json(raw: Any, path: Path) -> list[FactDocument]:
    """One facts document or a list of them, already parsed from `path`."""
    items = raw if isinstance(raw, list) else [raw]
    return [
        document_from_json(item, f"{path}[{i}]" if isinstance(raw, list) else str(path))
        for i, item in enumerate(items)
    ]


def write_document(document: FactDocument, path: Path) -> None:
    path.write_text(json.dumps(document.to_json(), indent=1, ensure_ascii=False), encoding="utf-8")
