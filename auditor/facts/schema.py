"""The versioned JSON Schemas of fact documents: validation, the catalogue of fact names, and
what gathers each host fact (the collection table)."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

import jsonschema

from auditor.facts.model import DocumentKind
from auditor.resources import package_path


class FactSchemaError(ValueError):
    """A packaged fact schema is ambiguous, or does not say what gathers a host fact."""


@cache
def document_schema(kind: DocumentKind) -> dict[str, Any]:
    path = package_path("facts", "schemas", f"{kind.value}-facts-1.json")
    schema: dict[str, Any] = json.loads(
        path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys
    )
    return schema


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A key written twice would be read as its last value: a fact with two x-collected-by."""
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise FactSchemaError(f"a fact schema repeats the key(s) {', '.join(twice)}")
    return dict(pairs)


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


class Gatherer(enum.StrEnum):
    """What gathers a host fact: the values of `x-collected-by` in host-facts-1.json."""

    PROBE = "probe"  # a credential-free probe
    WSMAN_CONFIG = "wsman-config"  # the WS-Man Get of winrm/config
    WSMAN_LISTENERS = "wsman-listeners"  # the WS-Man Enumerate of winrm/config/listener
    SCRIPT = "script"  # one section of collect.ps1, written `script:SECTION`


@dataclass(frozen=True)
class CollectedBy:
    gatherer: Gatherer
    section: str | None = None  # the collect.ps1 section, for Gatherer.SCRIPT only


def _collected_by(fact: str, raw: Any) -> CollectedBy:
    where = f"host-facts-1.json: {fact}: x-collected-by"
    if not isinstance(raw, str):
        raise FactSchemaError(f"{where} must be one string, not {raw!r}")
    kind, _, section = raw.partition(":")
    try:
        gatherer = Gatherer(kind)
    except ValueError:
        allowed = ", ".join(g.value for g in Gatherer if g is not Gatherer.SCRIPT)
        raise FactSchemaError(f"{where}: {raw!r} is not one of {allowed}, script:SECTION") from None
    if gatherer is Gatherer.SCRIPT and not section.isidentifier():
        raise FactSchemaError(f"{where}: {raw!r} names no section (script:SECTION)")
    if gatherer is not Gatherer.SCRIPT and section:
        raise FactSchemaError(f"{where}: {raw!r}: only script:SECTION names a section")
    return CollectedBy(gatherer, section or None)


@cache
def host_collection() -> Mapping[str, CollectedBy]:
    """Every host fact and what gathers it, in the schema's order. The request, the failure
    facts, the response mapping and the lab's answers are all derived from this one table."""
    properties = document_schema(DocumentKind.HOST)["properties"]["facts"]["properties"]
    return MappingProxyType(
        {
            name: _collected_by(name, entry.get("x-collected-by"))
            for name, entry in properties.items()
        }
    )


def gathered_by(gatherer: Gatherer) -> frozenset[str]:
    return frozenset(f for f, by in host_collection().items() if by.gatherer is gatherer)


# What an offline request (`auditor collector-script`) asks collect.ps1 for in place of each
# WS-Man read: the same winrm/config and listener XML, read on the host. Online, WS-Man reads it.
OFFLINE_SECTIONS = {
    Gatherer.WSMAN_CONFIG: "winrm_config",
    Gatherer.WSMAN_LISTENERS: "winrm_listeners",
}


def offline_sections() -> Mapping[str, tuple[str, ...]]:
    """collect.ps1's offline-only sections and the WS-Man facts each gathers, schema order."""
    return MappingProxyType(
        {
            section: tuple(f for f, by in host_collection().items() if by.gatherer is gatherer)
            for gatherer, section in OFFLINE_SECTIONS.items()
        }
    )


@cache
def script_sections() -> Mapping[str, tuple[str, ...]]:
    """collect.ps1's sections and the facts each gathers, in the schema's order."""
    sections: dict[str, tuple[str, ...]] = {}
    for fact, by in host_collection().items():
        if by.section is not None:
            sections[by.section] = (*sections.get(by.section, ()), fact)
    return MappingProxyType(sections)
