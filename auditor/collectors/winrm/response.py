"""Turning the collector script's JSON answer into host facts."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.collectors import sshd_config
from auditor.collectors.certificate import Certificate, CertificateError
from auditor.collectors.credssp import delegation
from auditor.collectors.iis.sites import iis_sites
from auditor.collectors.sddl import SddlError, allowed_sids
from auditor.collectors.winrm.request import ANSWERED_FACTS, CONTRACT_VERSION
from auditor.collectors.winrm.wsman_config import (
    LISTENERS_FACT,
    config_from_xml,
    listeners_from_xml,
)
from auditor.facts.model import (
    Available,
    Fact,
    Reason,
    Source,
    Unavailable,
    normalise_registry_path,
)

MAX_RESPONSE_BYTES = 32 * 1024 * 1024


class CollectorResponseError(ValueError):
    """The script's answer is not the contract's JSON: every script fact becomes unavailable."""


def _failure(raw: Any, what: str) -> Unavailable:
    error = raw.get("error") if isinstance(raw, Mapping) else None
    if not isinstance(error, Mapping):
        return Unavailable(Reason.PROTOCOL_ERROR, f"{what}: malformed section")
    try:
        reason = Reason(str(error.get("reason")))
    except ValueError:
        reason = Reason.COLLECTOR_ERROR
    return Unavailable(reason, f"{what}: {str(error.get('detail', ''))[:500]}")


def _roles(os_info: Mapping[str, Any], services: Mapping[str, Any] | None) -> list[str]:
    product_type = os_info.get("product_type")
    roles = {1: ["workstation"], 2: ["domain_controller", "server"], 3: ["member_server", "server"]}
    found = list(roles.get(product_type, [])) if isinstance(product_type, int) else []
    if services is not None and "W3SVC" in services:
        found.append("iis")
    return found


def _sshd(raw: Mapping[str, Any]) -> dict[str, Any] | Unavailable:
    """sshd_config as sshd reads it (first value wins, Include inlined); PasswordAuthentication
    defaults to yes in OpenSSH, so an unset global value is None and means on."""
    path = str(raw.get("path", ""))
    if not raw.get("present"):
        return {"present": False, "path": path}
    texts = {str(f["path"]): str(f["text"]) for f in raw["files"]}
    includes = {str(k): [str(p) for p in v] for k, v in dict(raw.get("includes") or {}).items()}
    try:
        config = sshd_config.parse(path, texts, includes)
        password = config.first("passwordauthentication")
        global_password = sshd_config.flag(password) if password else None
        blocks = [
            {
                "criteria": block.criteria,
                "password_authentication": sshd_config.flag(d),
                "where": d.where,
            }
            for block, d in config.first_in_blocks("passwordauthentication")
        ]
    except sshd_config.SshdConfigError as exc:
        return Unavailable(Reason.COLLECTOR_ERROR, f"sshd_config: {exc}")
    keys = raw.get("administrators_authorized_keys") or {}
    return {
        "present": True,
        "path": path,
        "password_authentication": global_password,
        "password_authentication_match_blocks": blocks,
        # sshd compares subsystem names with strcmp, and PowerShell asks for "powershell"
        "powershell_subsystem": any(
            d.args[:1] == ("powershell",) for d in config.anywhere("subsystem")
        ),
        "files": config.files,
        "administrators_authorized_keys": {
            "present": bool(keys.get("present")),
            "sddl": str(keys["sddl"]) if keys.get("sddl") else None,
        },
    }


def _winhttp_proxy(raw: Mapping[str, Any]) -> dict[str, Any]:
    """WinHttpSettings: DWORD size, counter, flags, then length-prefixed proxy and bypass."""
    if not raw.get("present"):
        return {"direct": True, "proxy_server": "", "bypass": ""}
    try:
        blob = base64.b64decode(str(raw.get("data", "")), validate=True)
        _size, _counter, flags, proxy_len = struct.unpack_from("<IIII", blob, 0)
        proxy = blob[16 : 16 + proxy_len].decode("ascii", "replace")
        (bypass_len,) = struct.unpack_from("<I", blob, 16 + proxy_len)
        bypass = blob[20 + proxy_len : 20 + proxy_len + bypass_len].decode("ascii", "replace")
    except (binascii.Error, struct.error) as exc:
        raise CollectorResponseError(
            f"WinHttpSettings is not the expected binary layout: {exc}"
        ) from None
    return {"direct": not bool(flags & 0x2) or not proxy, "proxy_server": proxy, "bypass": bypass}


class _Unreadable(ValueError):
    """A certificate the stores hold cannot be parsed: the `certificates` fact is unavailable."""


def _stored_certificates(raw: Mapping[str, Any], collected_at: dt.datetime) -> list[dict[str, Any]]:
    """Each certificate of the stores read from its DER; names matched against the host's FQDN."""
    suffix = str(raw.get("dns_suffix") or "").strip(".")
    fqdn = f"{raw['host_name']}.{suffix}" if suffix else str(raw["host_name"])
    out = []
    for item in raw["certificates"]:
        try:
            certificate = Certificate.from_der(base64.b64decode(str(item["der"]), validate=True))
        except (binascii.Error, CertificateError) as exc:
            raise _Unreadable(f"{item.get('store')}\\{item.get('thumbprint')}: {exc}") from None
        if certificate.thumbprint != str(item["thumbprint"]).upper():
            raise CollectorResponseError(
                f"certificate {item['thumbprint']} in {item.get('store')}: its DER hashes to "
                f"{certificate.thumbprint}"
            )
        out.append(
            {
                "store": str(item["store"]),
                "has_private_key": bool(item["has_private_key"]),
                **certificate.facts(collected_at),
                "name_matches": certificate.matches(fqdn),
            }
        )
    return out


def _certificates(a: Answer) -> dict[str, Fact]:
    try:
        return {
            "certificates": Available(_stored_certificates(a.value, a.collected_at), Source.LOCAL)
        }
    except _Unreadable as exc:
        return {"certificates": Unavailable(Reason.PROTOCOL_ERROR, f"unreadable certificate {exc}")}


# Win32_TSGeneralSetting.SSLCertificateSHA1HashType: who chose the certificate RDP-Tcp presents.
_RDP_HASH_SOURCE = {1: Source.DEFAULT, 2: Source.POLICY, 3: Source.LOCAL}


def _rdp_certificate(a: Answer) -> dict[str, Fact]:
    """RDP-Tcp's certificate: the hash configured on the listener, else the one the service
    reports, else the newest self-signed certificate of the Remote Desktop store."""
    configured, reported = a.value["configured_hash"], a.value.get("reported") or {}
    if configured.get("present") and configured.get("type") == "REG_BINARY":
        thumbprint = base64.b64decode(str(configured["data"]), validate=True).hex().upper()
        return {"rdp.certificate_thumbprint": Available(thumbprint, Source.LOCAL)}
    if reported.get("hash"):
        kind = reported.get("hash_type")
        source = _RDP_HASH_SOURCE.get(kind, Source.LOCAL) if isinstance(kind, int) else Source.LOCAL
        return {"rdp.certificate_thumbprint": Available(str(reported["hash"]).upper(), source)}
    stores = a.answered.get("certificates")
    try:
        stored = _stored_certificates(stores, a.collected_at) if stores is not None else None
    except _Unreadable as exc:
        stored, why = None, f"a certificate of the stores is unreadable: {exc}"
    else:
        why = "the certificate stores were not read"
    if stored is None:
        detail = f"RDP-Tcp names no certificate hash and {why}"
        return {"rdp.certificate_thumbprint": Unavailable(Reason.NOT_COLLECTED, detail)}
    own = [c for c in stored if c["store"] == "Remote Desktop" and c["self_signed"]]
    newest = max(own, key=lambda c: str(c["not_after"]), default=None)
    return {
        "rdp.certificate_thumbprint": Available(
            newest["thumbprint"] if newest else None, Source.DEFAULT
        )
    }


def _property(properties: Mapping[str, Any], name: str) -> Any:
    """A session configuration's property by name, as PowerShell finds it (without case)."""
    return next((v for k, v in properties.items() if k.lower() == name.lower()), None)


def _truth(value: Any, absent: bool) -> bool:
    """The plug-in XML's booleans arrive as text ("true", "False"), or as PowerShell bools."""
    if value is None or value == "":
        return absent
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false", "1", "0"):
        raise CollectorResponseError(f"{value!r} is not a boolean")
    return text in ("true", "1")


# What LanguageMode an endpoint has when its configuration sets none (New-PSSessionConfiguration
# File: the default follows SessionType); endpoints without a .pssc file have no SessionType.
_LANGUAGE_BY_SESSION_TYPE = {"restrictedremoteserver": "NoLanguage", "empty": "NoLanguage"}


def _session_configurations(raw: list[Any]) -> list[dict[str, Any]]:
    """Get-PSSessionConfiguration's raw properties; absent ones take WinRM's and PowerShell's
    defaults (Enabled true, RunAsVirtualAccount false, SessionType Default, LanguageMode by
    SessionType). Without SecurityDescriptorSddl the endpoint is governed by RootSDDL."""
    out = []
    for properties in raw:
        if _property(properties, "Name") is None:
            raise CollectorResponseError("a session configuration has no Name")
        name = str(_property(properties, "Name"))
        sddl = str(_property(properties, "SecurityDescriptorSddl") or "")
        session_type = str(_property(properties, "SessionType") or "Default")
        try:
            sids = allowed_sids(sddl) if sddl else []
            enabled = _truth(_property(properties, "Enabled"), absent=True)
            virtual = _truth(_property(properties, "RunAsVirtualAccount"), absent=False)
        except (SddlError, CollectorResponseError) as exc:
            raise CollectorResponseError(f"session configuration {name}: {exc}") from None
        out.append(
            {
                "name": name,
                "enabled": enabled,
                "permission": str(_property(properties, "Permission") or ""),
                "sddl": sddl,
                "uses_root_sddl": not sddl,
                "allowed_sids": sids,
                "run_as_virtual_account": virtual,
                "session_type": session_type,
                "language_mode": str(
                    _property(properties, "LanguageMode")
                    or _LANGUAGE_BY_SESSION_TYPE.get(session_type.lower(), "FullLanguage")
                ),
            }
        )
    return out


@dataclass(frozen=True)
class Answer:
    """One section's answer (its `ok`), with what a parser may need beside it."""

    value: Any
    answered: Mapping[str, Any]  # every section answered ok: os reads services for the roles
    collected_at: dt.datetime


def _os(a: Answer) -> dict[str, Any]:
    os_info = a.value
    return {
        "host.os": {
            "caption": str(os_info.get("caption", "")),
            "version": str(os_info["version"]),
            "build": int(os_info.get("build") or 0),
            "product_type": int(os_info["product_type"]),
        },
        "host.domain": {"name": os_info.get("domain"), "joined": bool(os_info.get("joined"))},
        "host.roles": _roles(os_info, a.answered.get("services")),
    }


# section -> its facts' values (a value, or a Fact when the parser knows its source or that
# it is unavailable); every `script:SECTION` of host-facts-1.json has one
# (tests/unit/collectors/test_collection_table.py).
SECTION_PARSERS: dict[str, Callable[[Answer], dict[str, Any]]] = {
    "os": _os,
    "local_groups": lambda a: {"local_groups": {str(k): list(v or []) for k, v in a.value.items()}},
    "certificates": _certificates,
    "rdp": _rdp_certificate,
    "iis": lambda a: {"iis.sites": iis_sites(a.value)},
    "ssh": lambda a: {"ssh.sshd_config": _sshd(a.value)},
    "session_configurations": lambda a: {
        "powershell.session_configurations": _session_configurations(list(a.value or []))
    },
    "winhttp_proxy": lambda a: {"winhttp.proxy": _winhttp_proxy(a.value)},
    "services": lambda a: {"services": dict(a.value or {})},
    "firewall_rules": lambda a: {"firewall.rules": list(a.value or [])},
    "credssp_delegation": lambda a: {"credssp.delegation": delegation(a.value)},
    # offline only: the XML WS-Man returns online, read by the same parsers
    "winrm_config": lambda a: config_from_xml(str(a.value["xml"])),
    "winrm_listeners": lambda a: {
        LISTENERS_FACT: listeners_from_xml([str(item) for item in a.value["items"]])
    },
}


def _not_json(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259); Python's parser would accept them."""
    raise CollectorResponseError(f"the collector's answer is not JSON: {name}")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: a number no fact can hold, nor a report print
        raise CollectorResponseError(
            f"the collector's answer has a number out of range: {text[:30]}"
        )
    return value


def parse_response(
    text: str, requested_sections: list[str]
) -> tuple[dict[str, Fact], dict[str, Fact]]:
    """(facts, registry facts) from the script JSON; unanswered sections are unavailable."""
    if len(text) > MAX_RESPONSE_BYTES:
        raise CollectorResponseError("the collector's answer is larger than 32 MiB")
    try:
        raw = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise CollectorResponseError(f"the collector's answer is not JSON: {exc.msg}") from None
    except RecursionError:
        raise CollectorResponseError("the collector's answer is nested too deeply") from None
    if not isinstance(raw, dict) or raw.get("version") != CONTRACT_VERSION:
        raise CollectorResponseError("the collector's answer is not contract version 1")
    sections, registry_raw = raw.get("sections"), raw.get("registry")
    if not isinstance(sections, dict) or not isinstance(registry_raw, dict):
        raise CollectorResponseError(
            "the collector's answer has no 'sections' or 'registry' object"
        )
    try:
        collected_at = dt.datetime.fromisoformat(
            str(raw.get("collected_at")).replace("Z", "+00:00")
        )
    except ValueError:
        collected_at = dt.datetime.now(dt.UTC)
    if collected_at.tzinfo is None:
        collected_at = collected_at.replace(tzinfo=dt.UTC)

    registry: dict[str, Fact] = {}
    for path, entry in registry_raw.items():
        if isinstance(entry, Mapping) and "present" in entry:
            registry[normalise_registry_path(path)] = Available(
                {
                    "present": bool(entry["present"]),
                    "type": entry.get("type"),
                    "data": entry.get("data"),
                }
            )
        else:
            registry[normalise_registry_path(path)] = _failure(entry, f"registry value {path}")

    facts: dict[str, Fact] = {}
    ok: dict[str, Any] = {}
    for name in requested_sections:
        entry = sections.get(name)
        if isinstance(entry, Mapping) and "ok" in entry:
            ok[name] = entry["ok"]
        else:
            missing = (
                _failure(entry, f"section {name}")
                if entry is not None
                else Unavailable(
                    Reason.PROTOCOL_ERROR, f"the collector did not answer section {name}"
                )
            )
            for fact in ANSWERED_FACTS[name]:
                facts[fact] = missing
    try:
        for name, answer in ok.items():
            found = SECTION_PARSERS[name](Answer(answer, ok, collected_at))
            facts.update(
                {
                    fact: value
                    if isinstance(value, Available | Unavailable)
                    else Available(value, Source.LOCAL)
                    for fact, value in found.items()
                }
            )
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as exc:
        raise CollectorResponseError(
            f"the collector's answer has an unexpected shape: {exc!r}"
        ) from None
    return facts, registry
