"""What a host collector is given and what it returns: collectors/host.py runs a list of them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from auditor.facts.model import Fact, Unavailable, normalise_registry_path


@dataclass(frozen=True)
class HostTarget:
    name: str  # the name certificates and Kerberos know it by (FQDN)
    address: str  # where to connect (from the name map, or the name itself)
    extra_roles: tuple[str, ...] = ()  # from the scan configuration's host groups


@dataclass(frozen=True)
class Wanted:
    """What a scan needs from every host: fact names and registry values. The orchestration
    derives it from the rules; a collector never sees a rule."""

    facts: frozenset[str]
    registry: tuple[str, ...]  # normalised HKLM\... value paths, each once, sorted case-blind

    @classmethod
    def of(cls, facts: Iterable[str], registry: Iterable[str]) -> Wanted:
        paths = {normalise_registry_path(p) for p in registry}
        return cls(frozenset(facts), tuple(sorted(paths, key=str.lower)))

    def adding(self, registry: Iterable[str]) -> Wanted:
        """These values too: what a collector itself reads from the host's answer."""
        return Wanted.of(self.facts, (*self.registry, *registry))


@dataclass(frozen=True)
class Collected:
    """What one collector gathered from one host."""

    facts: Mapping[str, Fact]
    registry: Mapping[str, Fact] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)  # how it went: transport, messages
    failure: Unavailable | None = None  # the host could not be collected: the document says why


class HostCollector(Protocol):
    """One way of gathering host facts. Collectors run in order, and each is shown what was
    gathered before it (WinRM chooses its transport from the probes' facts; the probes of the
    host's own ports read its listeners and registry). A fact it could not gather is an
    Unavailable with the reason, never left out."""

    def collect(self, target: HostTarget, wanted: Wanted, gathered: Collected) -> Collected: ...
