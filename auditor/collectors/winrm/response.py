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

from auditor.collectors.iis.sites import iis_sites
from auditor.collectors.sddl import SddlError, allowed_sids
from auditor.collectors.winrm.request import CONTRACT_VERSION, SECTION_FACTS
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


def _sshd(raw: Mapping[str, Any]) -> dict[str, Any]:
    """PasswordAuthentication defaults to yes in OpenSSH: absent means on."""
    if not raw.get("present"):
        return {
            "present": False,
            "path": str(raw.get("path", "")),
            "password_authentication": None,
            "powershell_subsystem": False,
        }
    password, subsystem = True, False
    for line in raw.get("lines", []):
        words = str(line).split("#", 1)[0].split()
        if len(words) >= 2 and words[0].lower() == "passwordauthentication":
            password = words[1].lower() == "yes"
        if len(words) >= 3 and words[0].lower() == "subsystem" and words[1].lower() == "powershell":
            subsystem = True
    return {
        "present": True,
        "path": str(raw.get("path", "")),
        "password_authentication": password,
        "powershell_subsystem": subsystem,
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


def _certificates(raw: list[Any], collected_at: dt.datetime) -> list[dict[str, Any]]:
    out = []
    for cert in raw:
        item = dict(cert)
        try:
            not_after = dt.datetime.fromisoformat(str(item["not_after"]).replace("Z", "+00:00"))
            if not_after.tzinfo is None:
                not_after = not_after.replace(tzinfo=dt.UTC)
            item["days_left"] = round((not_after - collected_at).total_seconds() / 86400, 1)
        except (KeyError, ValueError):
            item["days_left"] = None
        item["sans"] = [str(s) for s in item.get("sans") or []]
        out.append(item)
    return out


def _session_configurations(raw: list[Any]) -> list[dict[str, Any]]:
    out = []
    for item in raw:
        sddl = str(item.get("sddl", ""))
        try:
            sids = allowed_sids(sddl)
        except SddlError as exc:
            raise CollectorResponseError(
                f"session configuration {item.get('name')}: {exc}"
            ) from None
        out.append(
            {
                "name": str(item.get("name", "")),
                "enabled": bool(item.get("enabled")),
                "permission": str(item.get("permission", "")),
                "allowed_sids": sids,
                "run_as_virtual_account": bool(item.get("run_as_virtual_account")),
                "session_type": str(item.get("session_type", "")),
                "language_mode": str(item.get("language_mode", "")),
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


# section -> its facts' values (or the fact itself, when the artifact it read makes it
# unavailable); every `script:SECTION` of host-facts-1.json has one
# (tests/unit/collectors/test_collection_table.py).
SECTION_PARSERS: dict[str, Callable[[Answer], dict[str, Any]]] = {
    "os": _os,
    "local_groups": lambda a: {"local_groups": {str(k): list(v or []) for k, v in a.value.items()}},
    "certificates": lambda a: {"certificates": _certificates(list(a.value or []), a.collected_at)},
    "rdp": lambda a: {
        "rdp.certificate_thumbprint": str(a.value.get("certificate_thumbprint") or "").upper()
        or None
    },
    "iis": lambda a: {"iis.sites": iis_sites(a.value)},
    "ssh": lambda a: {"ssh.sshd_config": _sshd(a.value)},
    "session_configurations": lambda a: {
        "powershell.session_configurations": _session_configurations(list(a.value or []))
    },
    "winhttp_proxy": lambda a: {"winhttp.proxy": _winhttp_proxy(a.value)},
    "services": lambda a: {"services": dict(a.value or {})},
    "firewall_rules": lambda a: {"firewall.rules": list(a.value or [])},
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
            for fact in SECTION_FACTS[name]:
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
