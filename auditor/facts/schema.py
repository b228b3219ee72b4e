"""The versioned JSON Schemas of fact documents: validation and the catalogue of fact names."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema

from auditor.facts.model import DocumentKind
from auditor.resources import package_path


@cache
def document_schema(kind: DocumentKind) -> dict[str, Any]:
    path = package_path("facts", "schemas", f"{kind.value}-facts-1.json")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@cache
def _validator(kind: DocumentKind) -> jsonschema.protocols.Validator:
    schema = document_schema(kind)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def fact_names(kind: DocumentKind) -> frozenset[str]:
    """Every fact a document of `kind` may carry; rules may read only these."""
    props = document_schema(kind)["properties"]["facts"]["properties"]
    return frozenset(props)


def schema_errors(document: Any, kind: DocumentKind) -> list[str]:
    """Schema violations of `document`, as 'json/path: message' lines, best first."""
    errors = sorted(_validator(kind).iter_errors(document), key=lambda e: list(e.absolute_path))
    out = []
    for error in errors[:20]:
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        out.append(f"{where}: {error.message[:300]}")
    return out
