"""Reading WinRM's effective configuration from WS-Man `winrm/config` and listener answers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from auditor.collectors.safexml import XmlRefused, parse_without_dtd
from auditor.collectors.sddl import SddlError, grants
from auditor.facts.model import Available, Fact, Reason, Source, Unavailable
from auditor.facts.schema import Gatherer, gathered_by

CFG = "http://schemas.microsoft.com/wbem/wsman/1/config"
CONFIG_URI = CFG
LISTENER_URI = f"{CFG}/listener"
_ENUM = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
_NS = {"cfg": CFG}

# fact name -> path under cfg:Config (element names as Windows spells them)
_BOOLS = {
    "winrm.service.auth.basic": "Service/Auth/Basic",
    "winrm.service.auth.kerberos": "Service/Auth/Kerberos",
    "winrm.service.auth.negotiate": "Service/Auth/Negotiate",
    "winrm.service.auth.certificate": "Service/Auth/Certificate",
    "winrm.service.auth.credssp": "Service/Auth/CredSSP",
    "winrm.service.allow_unencrypted": "Service/AllowUnencrypted",
    "winrm.service.compatibility_http_listener": "Service/EnableCompatibilityHttpListener",
    "winrm.client.auth.basic": "Client/Auth/Basic",
    "winrm.client.auth.digest": "Client/Auth/Digest",
    "winrm.client.auth.kerberos": "Client/Auth/Kerberos",
    "winrm.client.auth.negotiate": "Client/Auth/Negotiate",
    "winrm.client.auth.certificate": "Client/Auth/Certificate",
    "winrm.client.auth.credssp": "Client/Auth/CredSSP",
    "winrm.client.allow_unencrypted": "Client/AllowUnencrypted",
}
_STRINGS = {
    "winrm.service.auth.cbt_hardening_level": "Service/Auth/CbtHardeningLevel",
    "winrm.service.ipv4_filter": "Service/IPv4Filter",
    "winrm.service.ipv6_filter": "Service/IPv6Filter",
    "winrm.client.trusted_hosts": "Client/TrustedHosts",
}
# What the Get gathers: the `wsman-config` facts of host-facts-1.json, each read above or as
# the root SDDL below (tests/unit/collectors/test_wsman_config.py checks they agree).
CONFIG_FACTS = gathered_by(Gatherer.WSMAN_CONFIG)


def _find(config: ET.Element, path: str) -> ET.Element | None:
    return config.find("/".join(f"cfg:{p}" for p in path.split("/")), _NS)


def _source(element: ET.Element) -> Source:
    """Windows marks values set by Group Policy with Source="GPO"."""
    return Source.POLICY if element.get("Source", "").upper() == "GPO" else Source.LOCAL


def _missing(path: str) -> Unavailable:
    return Unavailable(Reason.PROTOCOL_ERROR, f"winrm/config has no {path.replace('/', '.')}")


def parse_config(body: ET.Element) -> dict[str, Fact]:
    """Facts from the body of a WS-Man Get of winrm/config (the cfg:Config element inside)."""
    config = body if body.tag == f"{{{CFG}}}Config" else body.find("cfg:Config", _NS)
    if config is None:
        reason = Unavailable(
            Reason.PROTOCOL_ERROR, "the answer to Get winrm/config has no cfg:Config"
        )
        return dict.fromkeys(CONFIG_FACTS, reason)
    facts: dict[str, Fact] = {}
    for name, path in _BOOLS.items():
        element = _find(config, path)
        text = (element.text or "").strip().lower() if element is not None else ""
        if element is None or text not in ("true", "false"):
            facts[name] = _missing(path)
        else:
            facts[name] = Available(text == "true", _source(element))
    for name, path in _STRINGS.items():
        element = _find(config, path)
        facts[name] = (
            _missing(path)
            if element is None
            else Available((element.text or "").strip(), _source(element))
        )
    sddl_element = _find(config, "Service/RootSDDL")
    if sddl_element is None:
        facts["winrm.service.root_sddl"] = _missing("Service/RootSDDL")
    else:
        sddl = (sddl_element.text or "").strip()
        try:
            given = [{"sid": g.sid, "rights": list(g.rights)} for g in grants(sddl)]
            facts["winrm.service.root_sddl"] = Available(
                {"sddl": sddl, "grants": given}, _source(sddl_element)
            )
        except SddlError as exc:
            facts["winrm.service.root_sddl"] = Unavailable(
                Reason.PROTOCOL_ERROR, f"RootSDDL: {exc}"
            )
    return facts


def config_from_xml(text: str) -> dict[str, Fact]:
    """winrm/config as read on the host (the text `winrm get winrm/config -format:xml` prints):
    the cfg:Config element a WS-Man Get carries, without the envelope."""
    try:
        return parse_config(parse_without_dtd(text.strip().encode()))
    except XmlRefused as exc:
        return dict.fromkeys(
            CONFIG_FACTS, Unavailable(Reason.PROTOCOL_ERROR, f"winrm/config {exc}")
        )


def _text(item: ET.Element, name: str) -> str:
    """A child in the item's own namespace (Windows uses .../config/listener for listeners)."""
    namespace = item.tag[1:].split("}")[0] if item.tag.startswith("{") else CFG
    element = item.find(f"{{{namespace}}}{name}")
    return (element.text or "").strip() if element is not None else ""


LISTENERS_FACT = "winrm.listeners"  # what the Enumerate gathers (`wsman-listeners`)


def parse_listeners(items: Iterable[ET.Element]) -> list[dict[str, object]]:
    """cfg:Listener elements (from Enumerate/Pull of winrm/config/listener) as listener facts."""
    listeners: list[dict[str, object]] = []
    for item in items:
        transport = _text(item, "Transport").upper()
        port = _text(item, "Port")
        enabled = _text(item, "Enabled").lower()
        if transport not in ("HTTP", "HTTPS") or not port.isdigit():
            raise ValueError(f"listener with transport {transport!r} and port {port!r}")
        if enabled not in ("true", "false"):
            # Read as false, an unreadable flag would hide the listener from every rule.
            raise ValueError(f"listener {transport}:{port} with Enabled {enabled[:20]!r}")
        listeners.append(
            {
                "address": _text(item, "Address") or "*",
                "transport": transport,
                "port": int(port),
                "enabled": enabled == "true",
                "hostname": _text(item, "Hostname"),
                "certificate_thumbprint": _text(item, "CertificateThumbprint")
                .replace(" ", "")
                .upper(),
                "source": "policy" if item.get("Source", "").upper() == "GPO" else "local",
            }
        )
    return listeners


_LISTENER_TAGS = (f"{{{LISTENER_URI}}}Listener", f"{{{CFG}}}Listener")
_ITEMS_TAGS = (f"{{{_WSMAN}}}Items", f"{{{_ENUM}}}Items")
_RESPONSE_TAGS = (f"{{{_ENUM}}}EnumerateResponse", f"{{{_ENUM}}}PullResponse")


def listener_elements(body: ET.Element) -> list[ET.Element]:
    """Listener items, in the listener resource's namespace (or, leniently, the config one).

    Raises ValueError for an answer that is not an enumeration of listeners (another
    namespace, no response element): read as "no listener", it would pass every rule.
    """
    found = [e for e in body.iter() if e.tag in _LISTENER_TAGS]
    for items in (e for e in body.iter() if e.tag in _ITEMS_TAGS):
        for child in items:
            if child.tag not in _LISTENER_TAGS:
                raise ValueError(f"unexpected enumeration item {child.tag[:120]}")
    if not found and not any(e.tag in _RESPONSE_TAGS for e in body.iter()):
        raise ValueError("the answer is neither an EnumerateResponse nor a PullResponse")
    return found


def listeners_from_xml(items: Iterable[str]) -> Fact:
    """The listeners as read on the host: each enumerated item's cfg:Listener text, as the
    Enumerate's Items carry them (`winrm enumerate winrm/config/listener -format:xml` prints
    them inside a wsman:Results element)."""
    try:
        elements = [parse_without_dtd(item.strip().encode()) for item in items]
        for element in elements:
            if element.tag not in _LISTENER_TAGS:
                raise ValueError(f"unexpected enumeration item {element.tag[:120]}")
        return Available(parse_listeners(elements), Source.LOCAL)
    except ValueError as exc:  # XmlRefused too
        return Unavailable(Reason.PROTOCOL_ERROR, f"listener enumeration: {exc}")
