"""Typed, immutable facts: every fact is a value or an explicit reason it is missing."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

SCHEMA_VERSION = 1


class DocumentKind(enum.StrEnum):
    HOST = "host"
    DOMAIN = "domain"


class Source(enum.StrEnum):
    """Where a setting's value came from; rules show it so a fix goes to the right place."""

    POLICY = "policy"  # Group Policy (GPO) key or WS-Man Source="GPO"
    LOCAL = "local"  # set on the machine itself
    DEFAULT = "default"  # not configured: the Windows default applies
    PROBE = "probe"  # observed on the wire, without credentials
    DIRECTORY = "directory"  # read from Active Directory


class Reason(enum.StrEnum):
    """Why a fact is unavailable. A rule that needs it ends in `error`, never `pass`."""

    NOT_COLLECTED = "not_collected"
    ACCESS_DENIED = "access_denied"
    HOST_UNREACHABLE = "host_unreachable"
    TIMEOUT = "timeout"
    AUTH_FAILED = "auth_failed"
    TLS_ERROR = "tls_error"
    PROTOCOL_ERROR = "protocol_error"
    NOT_SUPPORTED = "not_supported"
    COLLECTOR_ERROR = "collector_error"
    # The service answered with an HTTP redirect. WinRM never redirects: someone on the path or
    # at the address may be trying to collect the logon, so nothing was re-sent.
    REDIRECT_REFUSED = "redirect_refused"


@dataclass(frozen=True, slots=True)
class Available:
    value: Any
    source: Source | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value}
        if self.source is not None:
            out["source"] = self.source.value
        return out


@dataclass(frozen=True, slots=True)
class Unavailable:
    reason: Reason
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"unavailable": {"reason": self.reason.value, "detail": self.detail}}


Fact = Available | Unavailable


def fact_from_json(raw: Mapping[str, Any]) -> Fact:
    """Decode one fact entry of a facts document (already schema-validated)."""
    if "unavailable" in raw:
        missing = raw["unavailable"]
        return Unavailable(Reason(missing["reason"]), str(missing.get("detail", "")))
    source = raw.get("source")
    return Available(raw["value"], Source(source) if source is not None else None)


@dataclass(frozen=True, slots=True)
class Target:
    """What a facts document describes: one host or one domain."""

    kind: DocumentKind
    name: str
    address: str | None = None
    roles: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.kind.value}:{self.name.lower()}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "name": self.name,
            "roles": list(self.roles),
        }
        if self.address is not None:
            out["address"] = self.address
        return out


@dataclass(frozen=True)
class FactDocument:
    """All facts gathered about one target, keyed by dotted fact name."""

    target: Target
    facts: Mapping[str, Fact]
    collected_at: str
    collector: str = "auditor"
    registry: Mapping[str, Fact] = field(default_factory=dict)
    # Why nothing could be gathered at all (host unreachable, bind refused); None when reached.
    failure: Unavailable | None = None
    _registry_index: Mapping[str, Fact] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "facts", MappingProxyType(dict(self.facts)))
        object.__setattr__(self, "registry", MappingProxyType(dict(self.registry)))
        # Windows paths ignore case: one lookup key per stored value, computed once.
        index = {registry_key(path): fact for path, fact in self.registry.items()}
        object.__setattr__(self, "_registry_index", index)

    def get(self, name: str) -> Fact:
        """The fact `name`; a fact never gathered is unavailable, not absent."""
        found = self.facts.get(name)
        if found is not None:
            return found
        if self.failure is not None:
            return self.failure
        return Unavailable(Reason.NOT_COLLECTED, f"{name} was not collected")

    def get_registry(self, path: str) -> Fact:
        found = self._registry_index.get(registry_key(path))
        if found is not None:
            return found
        if self.failure is not None:
            return self.failure
        return Unavailable(Reason.NOT_COLLECTED, f"registry value {path} was not collected")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": f"auditor/{self.target.kind.value}-facts",
            "schema_version": SCHEMA_VERSION,
            "target": self.target.to_json(),
            "collected_at": self.collected_at,
            "collector": self.collector,
            "facts": {k: v.to_json() for k, v in sorted(self.facts.items())},
        }
        if self.target.kind is DocumentKind.HOST:
            out["registry"] = {k: v.to_json() for k, v in sorted(self.registry.items())}
        if self.failure is not None:
            out["failure"] = self.failure.to_json()["unavailable"]
        return out


def normalise_registry_path(path: str) -> str:
    """One spelling per registry value: hive abbreviated, backslashes, case kept for display."""
    cleaned = path.strip().replace("/", "\\")
    for long, short in (("HKEY_LOCAL_MACHINE\\", "HKLM\\"), ("HKLM:\\", "HKLM\\")):
        if cleaned.upper().startswith(long):
            cleaned = short + cleaned[len(long) :]
    return cleaned


def registry_key(path: str) -> str:
    """Case-insensitive lookup key for a registry path (Windows paths ignore case)."""
    return normalise_registry_path(path).lower()
