"""IIS's configuration hierarchy: which section elements apply to a URL path, in what order.

A `<location path="X">` (in applicationHost.config or in a web.config, where X is relative)
configures the path X; a web.config's own sections configure the path of its directory. For a
target path, IIS applies every configuration whose path is the target or one of its parents,
shallow paths first; at one path, applicationHost.config first, then the web.configs from the
site's root down. A web.config may set a section only where it is unlocked: the section's
`overrideModeDefault` (`<configSections>`), changed by `overrideMode` (or the older
`allowOverride`) on the location tags of the files above it that hold the section.
`inheritInChildApplications="false"` keeps a location's settings out of child applications.
Attribute-level locks (lockAttributes, lockElements) are not followed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from auditor.collectors.iis.values import IisConfigError, boolean


def local(tag: str) -> str:
    """An element's name without its namespace: old web.configs put a default one on
    <configuration>, and IIS reads them all the same."""
    return tag.rpartition("}")[2]


def children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if local(child.tag) == name]


@dataclass(frozen=True)
class ConfigFile:
    """One configuration file, at the configuration path of its directory ("" for
    applicationHost.config, "Site" or "Site/app" for a web.config)."""

    root: ET.Element
    at: str
    name: str  # for messages: "applicationHost.config", "the web.config of Site/app"


@dataclass(frozen=True)
class _Part:
    """A file's top level or one of its location tags: sections for one path."""

    container: ET.Element
    path: str
    file: ConfigFile
    rank: int  # 0 for applicationHost.config, deeper web.configs higher
    order: int  # document order within the file
    override: str | None  # "Allow" or "Deny" from overrideMode/allowOverride, else None
    child_apps: bool  # inheritInChildApplications


def _join(base: str, relative: str) -> str:
    relative = relative.strip().strip("/")
    if relative in ("", "."):
        return base
    return f"{base}/{relative}" if base else relative


def _override(location: ET.Element, where: str) -> str | None:
    mode = location.get("overrideMode")
    if mode is not None:
        for known in ("Allow", "Deny"):
            if mode.strip().lower() == known.lower():
                return known
        if mode.strip().lower() == "inherit":
            return None
        raise IisConfigError(f"{where}: overrideMode={mode[:40]!r} is not Allow, Deny or Inherit")
    allow = location.get("allowOverride")
    if allow is not None:
        return "Allow" if boolean(allow, f"{where}: allowOverride") else "Deny"
    return None


def _parts(file: ConfigFile, rank: int) -> Iterator[_Part]:
    yield _Part(file.root, file.at, file, rank, 0, None, True)
    for order, location in enumerate(children(file.root, "location"), start=1):
        where = f"{file.name}, <location path={location.get('path', '')!r}>"
        inherit = location.get("inheritInChildApplications")
        yield _Part(
            location,
            _join(file.at, location.get("path", "")),
            file,
            rank,
            order,
            _override(location, where),
            True if inherit is None else boolean(inherit, f"{where}: inheritInChildApplications"),
        )


def find_section(container: ET.Element, section: str) -> list[ET.Element]:
    """The elements at a section's path ("system.webServer/security/access") in a container."""
    found = [container]
    for name in section.split("/"):
        found = [child for element in found for child in children(element, name)]
    return found


def declared_defaults(apphost: ET.Element) -> dict[str, str]:
    """Section path -> its overrideModeDefault, from applicationHost.config's <configSections>."""
    defaults: dict[str, str] = {}

    def walk(group: ET.Element, prefix: str) -> None:
        for child in group:
            name = child.get("name", "")
            if local(child.tag) == "sectionGroup":
                walk(child, f"{prefix}{name}/")
            elif local(child.tag) == "section":
                mode = child.get("overrideModeDefault", "Allow").strip().lower()
                defaults[prefix + name] = "Deny" if mode == "deny" else "Allow"

    for sections in children(apphost, "configSections"):
        walk(sections, "")
    return defaults


class AppHost:
    """applicationHost.config, read once for every application: its section declarations and
    its parts indexed by path."""

    def __init__(self, file: ConfigFile) -> None:
        self.file = file
        self.defaults = declared_defaults(file.root)
        self.by_path: dict[str, list[_Part]] = {}
        for part in _parts(file, 0):
            self.by_path.setdefault(part.path.lower(), []).append(part)


class Hierarchy:
    """The configuration that applies to one application of one site."""

    def __init__(
        self,
        apphost: AppHost,
        web_configs: Sequence[ConfigFile],
        site: str,
        target: str,
        applications: Sequence[str],
    ) -> None:
        # web_configs: those of the target's application and of the applications above it
        self.site = site.lower()
        self.target = target.lower()
        self.applications = sorted({a.lower() for a in applications}, key=len, reverse=True)
        self.defaults = apphost.defaults
        above = {""} | {self.target[:i] for i, c in enumerate(self.target) if c == "/"}
        parts = [p for path in above | {self.target} for p in apphost.by_path.get(path, [])]
        ordered = sorted(web_configs, key=lambda f: self._depth(f.at))
        parts += [part for rank, f in enumerate(ordered, 1) for part in _parts(f, rank)]
        self.parts = sorted(
            (p for p in parts if self._applies(p)),
            key=lambda p: (self._depth(p.path), p.rank, p.order),
        )

    def _depth(self, path: str) -> int:
        lowered = path.lower()
        if lowered == "":
            return 0
        if lowered == self.site or not lowered.startswith(self.site + "/"):
            return 1
        return 1 + lowered[len(self.site) :].count("/")

    def _covers(self, path: str, target: str) -> bool:
        lowered = path.lower()
        return lowered == "" or target == lowered or target.startswith(lowered + "/")

    def _application_of(self, path: str) -> str | None:
        lowered = path.lower()
        return next((a for a in self.applications if self._covers(a, lowered)), None)

    def _applies(self, part: _Part) -> bool:
        if not self._covers(part.path, self.target):
            return False
        return part.child_apps or self._application_of(part.path) == self.target

    def section(self, name: str) -> list[ET.Element]:
        """The section's elements that apply, least specific first; a web.config's copy of a
        section locked above it is left out, as IIS refuses it (HTTP 500.19) and never uses it."""
        found = []
        for part in self.parts:
            elements = find_section(part.container, name)
            if elements and part.rank > 0 and self._locked(name, part):
                continue
            for element in elements:
                source = element.get("configSource")
                if source is not None:
                    raise IisConfigError(
                        f"{part.file.name}: {name} is kept in {source[:200]!r}, "
                        "which the collector does not read"
                    )
            found.extend(elements)
        return found

    def _locked(self, name: str, part: _Part) -> bool:
        mode = self.defaults.get(name, "Allow")
        for above in self.parts:
            if above.rank >= part.rank or above.override is None:
                continue
            if self._covers(above.path, part.path.lower()) and find_section(above.container, name):
                mode = above.override
        return mode == "Deny"
