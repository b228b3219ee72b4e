"""The `iis.sites` fact from the raw files the collector returns: each site's bindings and, per
application, the effective authentication, SSL requirement and ASP.NET impersonation.

The script sends the XML text of applicationHost.config, redirection.config and the root
web.config of every application, credential values blanked on the host (their presence kept).
Of an impersonation password only its presence and whether it is protected reach the fact.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from auditor.collectors.iis.config import (
    AppHost,
    ConfigFile,
    Hierarchy,
    children,
    find_section,
    local,
)
from auditor.collectors.iis.values import (
    EXTENDED_PROTECTION_FLAGS,
    SSL_FLAGS,
    TOKEN_CHECKING,
    IisConfigError,
    boolean,
    enum,
    flags,
    flags_text,
)
from auditor.collectors.safexml import XmlRefused, parse_without_dtd
from auditor.facts.model import Available, Fact, Reason, Source, Unavailable

_AUTH = "system.webServer/security/authentication/"
ANONYMOUS = _AUTH + "anonymousAuthentication"
BASIC = _AUTH + "basicAuthentication"
DIGEST = _AUTH + "digestAuthentication"
WINDOWS = _AUTH + "windowsAuthentication"
ACCESS = "system.webServer/security/access"
IDENTITY = "system.web/identity"
# Protocols whose bindingInformation is "address:port:host"; the others (net.tcp "808:*",
# net.pipe "*", msmq "localhost") carry no HTTP endpoint.
_ENDPOINT_PROTOCOLS = ("http", "https", "ftp")


class _NotRead(Exception):
    """The collector sent the file's size but not its bytes (over its bound)."""


class _Denied(Exception):
    """The host refused to read a file: its reason, as the collector reported it."""

    def __init__(self, error: Mapping[str, Any], name: str) -> None:
        super().__init__(f"{name}: {str(error.get('detail', ''))[:300]}")
        self.reason = str(error.get("reason", ""))


def _document(entry: Mapping[str, Any], name: str) -> ET.Element | None:
    """The file's root element; None when the file is absent."""
    if not entry["present"]:
        return None
    text = entry["text"]
    if text is None:
        raise _NotRead(f"{name} is {entry['size']} bytes, more than the collector reads")
    try:
        root = parse_without_dtd(str(text))
    except XmlRefused as exc:
        raise IisConfigError(f"{name} {exc}") from None
    if local(root.tag) != "configuration":
        raise IisConfigError(f"{name}: the root element is <{local(root.tag)[:40]}>")
    return root


def _attributes(elements: Sequence[ET.Element]) -> dict[str, str]:
    """Attributes merged as IIS merges them: each one from the last element that sets it."""
    merged: dict[str, str] = {}
    for element in elements:
        merged.update(element.attrib)
    return merged


def _child(elements: Sequence[ET.Element], name: str) -> list[ET.Element]:
    return [child for element in elements for child in children(element, name)]


def _providers(elements: Sequence[ET.Element]) -> list[str]:
    """The windowsAuthentication providers collection after every add, remove and clear."""
    found: list[str] = []
    for collection in _child(elements, "providers"):
        for item in collection:
            value = item.get("value", "")
            if local(item.tag) == "clear":
                found = []
            elif local(item.tag) == "remove":
                found = [p for p in found if p.lower() != value.lower()]
            elif local(item.tag) == "add" and value.lower() not in (p.lower() for p in found):
                found.append(value)
    return found


def _windows(elements: Sequence[ET.Element]) -> dict[str, Any]:
    attributes = _attributes(elements)
    protection = _attributes(_child(elements, "extendedProtection"))
    windows: dict[str, Any] = {
        "enabled": boolean(attributes.get("enabled", "false"), "windowsAuthentication enabled"),
        "use_kernel_mode": boolean(attributes.get("useKernelMode", "true"), "useKernelMode"),
        "use_app_pool_credentials": boolean(
            attributes.get("useAppPoolCredentials", "false"), "useAppPoolCredentials"
        ),
        "extended_protection": {
            "token_checking": enum(
                protection.get("tokenChecking", "None"), TOKEN_CHECKING, "tokenChecking"
            ),
            "flags": flags_text(
                flags(protection.get("flags", "None"), EXTENDED_PROTECTION_FLAGS, "flags")
            ),
        },
    }
    providers = _providers(elements)
    if providers:  # an empty list says nothing IIS documents: the rule's default applies
        windows["providers"] = providers
    return windows


def _impersonation(elements: Sequence[ET.Element]) -> dict[str, Any]:
    """<identity>: an encrypted element (aspnet_regiis -pe) hides all three attributes; a
    "registry:" password is kept encrypted in the registry (aspnet_setreg)."""
    state: dict[str, str | None] = {"impersonate": "false", "userName": "", "password": ""}
    for element in elements:
        if element.get("configProtectionProvider") is not None:
            state = dict.fromkeys(state)
            continue
        state.update({k: v for k, v in element.attrib.items() if k in state})
    impersonate, user, password = state["impersonate"], state["userName"], state["password"]
    return {
        "enabled": None if impersonate is None else boolean(impersonate, "identity impersonate"),
        "user": user or None,
        "password_present": bool(password),
        "password_encrypted": password is None or password.strip().lower().startswith("registry:"),
    }


def _application(hierarchy: Hierarchy, path: str) -> dict[str, Any]:
    access = _attributes(hierarchy.section(ACCESS))
    anonymous = _attributes(hierarchy.section(ANONYMOUS))
    return {
        "path": path,
        "ssl_flags": flags(access.get("sslFlags", "None"), SSL_FLAGS, "sslFlags"),
        "auth": {
            "anonymous": {
                "enabled": boolean(anonymous.get("enabled", "true"), "anonymous enabled"),
                "user": anonymous.get("userName", "IUSR"),
            },
            "basic": {
                "enabled": boolean(
                    _attributes(hierarchy.section(BASIC)).get("enabled", "false"), "basic enabled"
                )
            },
            "digest": {
                "enabled": boolean(
                    _attributes(hierarchy.section(DIGEST)).get("enabled", "false"),
                    "digest enabled",
                )
            },
            "windows": _windows(hierarchy.section(WINDOWS)),
        },
        "impersonation": _impersonation(hierarchy.section(IDENTITY)),
    }


def _binding(element: ET.Element) -> dict[str, Any]:
    protocol = element.get("protocol", "")
    information = element.get("bindingInformation", "")
    if protocol.lower() not in _ENDPOINT_PROTOCOLS:
        return {"protocol": protocol, "port": 0, "host": "", "address": ""}
    address, port, host = [*information.rsplit(":", 2), "", ""][:3]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise IisConfigError(f"binding {protocol} {information[:80]!r} has no valid port")
    return {"protocol": protocol, "port": int(port), "host": host, "address": address or "*"}


def _web_configs(raw: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {(str(entry["site"]), str(entry["application"])): entry for entry in raw}


def _web_config(
    entry: Mapping[str, Any] | None, site: str, app: str, full: str
) -> ConfigFile | None:
    name = f"the web.config of {site}{'' if app == '/' else app}"
    if entry is None:
        raise IisConfigError(f"the collector did not report {name}")
    if "error" in entry:
        raise _Denied(entry["error"], name)
    root = _document(entry, name)
    return None if root is None else ConfigFile(root, full, name)


def _site(
    site: ET.Element,
    apphost: AppHost,
    defaults_pool: str,
    web_configs: Mapping[tuple[str, str], Mapping[str, Any]],
) -> dict[str, Any]:
    name = site.get("name", "")
    apps = [(a.get("path", "/"), a) for a in children(site, "application")]
    full = {path: name if path == "/" else name + path for path, _ in apps}
    files: dict[str, ConfigFile] = {}
    for path, app in apps:
        if any(v.get("path") == "/" for v in children(app, "virtualDirectory")):
            found = _web_config(web_configs.get((name, path)), name, path, full[path])
            if found is not None:
                files[path] = found
    applications = []
    for path, _ in apps:
        lowered = path.lower()
        above = [
            f
            for p, f in files.items()
            if p == "/" or lowered == p.lower() or lowered.startswith(p.lower() + "/")
        ]
        hierarchy = Hierarchy(apphost, above, name, full[path], list(full.values()))
        applications.append(_application(hierarchy, path))
    pool = next((a.get("applicationPool") for p, a in apps if p == "/"), None)
    site_defaults = children(site, "applicationDefaults")
    pool = pool or (site_defaults[0].get("applicationPool") if site_defaults else None)
    bindings = [b for group in children(site, "bindings") for b in children(group, "binding")]
    try:
        site_id = int(site.get("id", ""))
    except ValueError:
        raise IisConfigError(f"site {name[:80]!r} has no numeric id") from None
    return {
        "name": name,
        "id": site_id,
        "app_pool": pool or defaults_pool,
        "bindings": [_binding(b) for b in bindings],
        "applications": applications,
    }


def _shared_configuration(entry: Mapping[str, Any]) -> str | None:
    """Where IIS reads its configuration instead, when shared configuration is on."""
    root = _document(entry, "redirection.config")
    if root is None:
        return None
    for redirect in find_section(root, "configurationRedirection"):
        if boolean(redirect.get("enabled", "false"), "configurationRedirection enabled"):
            return redirect.get("path", "")
    return None


def iis_sites(raw: Mapping[str, Any]) -> Fact:
    """The fact from the section's answer; a file IIS would refuse, or one the collector could
    not read, makes the whole fact unavailable with the reason (never a partial pass)."""
    try:
        shared = _shared_configuration(raw["redirection"])
        if shared is not None:
            return Unavailable(
                Reason.NOT_SUPPORTED,
                f"IIS uses shared configuration at {shared[:200]}: "
                "the local applicationHost.config is not in force",
            )
        root = _document(raw["application_host"], "applicationHost.config")
        if root is None:
            return Available([], Source.LOCAL)
        apphost = AppHost(ConfigFile(root, "", "applicationHost.config"))
        sites_elements = find_section(root, "system.applicationHost/sites")
        for element in sites_elements:
            if element.get("configSource") is not None:
                raise IisConfigError("applicationHost.config keeps <sites> in another file")
        defaults = [d for s in sites_elements for d in children(s, "applicationDefaults")]
        pool = (defaults[0].get("applicationPool") if defaults else None) or "DefaultAppPool"
        web_configs = _web_configs(raw["web_configs"])
        sites = [
            _site(site, apphost, pool, web_configs)
            for element in sites_elements
            for site in children(element, "site")
        ]
    except _NotRead as exc:
        return Unavailable(Reason.NOT_COLLECTED, f"IIS configuration: {exc}")
    except _Denied as exc:
        try:
            reason = Reason(exc.reason)
        except ValueError:
            reason = Reason.COLLECTOR_ERROR
        return Unavailable(reason, f"IIS configuration: {exc}")
    except IisConfigError as exc:
        return Unavailable(Reason.COLLECTOR_ERROR, f"IIS configuration: {exc}")
    return Available(sites, Source.LOCAL)
