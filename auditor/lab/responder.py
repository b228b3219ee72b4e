"""The lab host's answer to the collector script, from data (no PowerShell runs here).

Each section is answered, first that applies: "access denied" when the profile lists it as
unreadable; the profile's own answer (`sections:` in its YAML); what the lab derives from the
material it generated or from the profile's settings (`_derived` below); a default Windows
Server 2022's answer (default_answers.yaml). So a new section needs data, not code here.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from auditor.collectors.winrm.request import collector_script
from auditor.facts.model import normalise_registry_path, registry_key
from auditor.facts.schema import OFFLINE_SECTIONS, Gatherer
from auditor.lab.hosts import HostProfile
from auditor.lab.iis import iis_answer
from auditor.lab.pki import CertKind, IssuedCert
from auditor.lab.winrm import configxml
from auditor.lab.winrm.config import WinRMHostConfig
from auditor.lab.winrm.pipeline import PipelineRequest, default_pipeline_handler
from auditor.lab.winrm.soap import render
from auditor.resources import package_path
from auditor.yamlio import load_text

_WINHTTP = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\Connections\\WinHttpSettings"


@dataclass(frozen=True)
class HostMaterial:
    """What the lab generated for a host: its certificates and the domain it belongs to."""

    realm: str
    netbios: str
    domain_sid: str
    https_cert: IssuedCert | None
    rdp_cert: IssuedCert | None


_TS = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server"
_CREDSSP = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\CredentialsDelegation"
_RDP_TCP = _TS + "\\WinStations\\RDP-Tcp"


def derived_registry(profile: HostProfile) -> dict[str, Any]:
    """Values a Windows host has that must agree with what its listeners do on the wire."""
    rdp = profile.rdp
    legacy = bool(rdp.accepted & {"rdp", "ssl"})
    values: dict[str, Any] = {_TS + "\\fDenyTSConnections": 0 if rdp.enabled else 1}
    if rdp.enabled:
        values |= {
            _RDP_TCP + "\\UserAuthentication": 0 if legacy else 1,
            _RDP_TCP + "\\SecurityLayer": 0 if "rdp" in rdp.accepted else 2,
            _RDP_TCP + "\\MinEncryptionLevel": 2,
            _RDP_TCP + "\\PortNumber": rdp.port,
            _TS + "\\Wds\\rdpwd\\Tds\\tcp\\PortNumber": rdp.port,
        }
    return values


@cache
def default_answers() -> Mapping[str, Any]:
    """Section -> a default Windows Server 2022's answer (default_answers.yaml)."""
    data = load_text(package_path("lab", "default_answers.yaml").read_text("utf-8"))
    answers: Mapping[str, Any] = data["sections"]
    return answers


def _denied(section: str) -> dict[str, Any]:
    return {"error": {"reason": "access_denied", "detail": f"Access is denied ({section})"}}


def _registry_entry(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {"present": True, "type": value.get("type"), "data": value.get("data")}
    if isinstance(value, bool):
        return {"present": True, "type": "REG_DWORD", "data": int(value)}
    if isinstance(value, int):
        return {"present": True, "type": "REG_DWORD", "data": value}
    if isinstance(value, list):
        return {"present": True, "type": "REG_MULTI_SZ", "data": [str(v) for v in value]}
    return {"present": True, "type": "REG_SZ", "data": str(value)}


def _stored(issued: IssuedCert, store: str) -> dict[str, Any]:
    """A certificate as collect.ps1 returns it from a store: DER, thumbprint, key present."""
    return {
        "store": store,
        "thumbprint": issued.thumbprint,
        "has_private_key": True,
        "der": base64.b64encode(issued.der()).decode(),
    }


def _winhttp(proxy: Mapping[str, str] | None) -> dict[str, Any]:
    if proxy is None:
        return {"present": False, "type": None, "data": None}
    server, bypass = proxy.get("proxy_server", ""), proxy.get("bypass", "")
    blob = struct.pack("<IIII", 0x28, 1, 3, len(server)) + server.encode("ascii")
    blob += struct.pack("<I", len(bypass)) + bypass.encode("ascii")
    return {"present": True, "type": "REG_BINARY", "data": base64.b64encode(blob).decode()}


class CollectorResponder:
    """A pipeline handler: the collector script gets its JSON, anything else fails as on Windows."""

    def __init__(
        self, profile: HostProfile, material: HostMaterial, winrm: WinRMHostConfig | None = None
    ) -> None:
        self.profile = profile
        self.material = material
        self.winrm = winrm  # the host's WS-Man side, for an offline request's winrm_* sections
        self.script = collector_script()

    def __call__(self, request: PipelineRequest) -> Sequence[object]:
        commands = request.commands
        if (
            len(commands) == 1
            and commands[0].is_script
            and commands[0].name.strip() == self.script.strip()
            and isinstance(commands[0].parameters.get("RequestJson"), str)
        ):
            return [self.respond(json.loads(commands[0].parameters["RequestJson"]))]
        return default_pipeline_handler(request)

    def respond(self, request: Mapping[str, Any]) -> str:
        p = self.profile
        registry: dict[str, Any] = {}
        wanted = self._registry()
        for path in request.get("registry", []):
            if "registry" in p.unreadable:
                registry[path] = _denied(path)
            elif registry_key(path) in wanted:
                registry[path] = _registry_entry(wanted[registry_key(path)][1])
            else:
                registry[path] = {"present": False, "type": None, "data": None}
        derived = self._derived(request)
        defaults = default_answers()
        sections: dict[str, Any] = {}
        for name in request.get("sections", []):
            if name in p.unreadable:
                sections[name] = _denied(name)
            elif name in p.sections:
                sections[name] = {"ok": p.sections[name]}
            elif name in derived:
                sections[name] = {"ok": derived[name]()}
            elif name in defaults:
                sections[name] = {"ok": defaults[name]}
            # a section the lab has no answer for stays unanswered, as from an older script
        return json.dumps(
            {
                "version": 1,
                "collected_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
                "registry": registry,
                "sections": sections,
            }
        )

    def _derived(self, request: Mapping[str, Any]) -> dict[str, Callable[[], Any]]:
        """Sections whose answer follows from what the lab generated (certificates, the domain,
        the host's name), from the listeners and roles it runs, or from the profile's shorthand
        keys (iis_sites, sshd_config, session_configurations, winhttp_proxy, ...)."""
        p = self.profile
        return {
            "os": self._os,
            "local_groups": lambda: self._local_groups(request),
            "certificates": self._certificates,
            "rdp": self._rdp,
            "iis": lambda: iis_answer(p.iis_sites if "iis" in p.roles else None),
            "ssh": self._ssh,
            "session_configurations": self._sessions,
            "winhttp_proxy": lambda: _winhttp(p.winhttp_proxy),
            "services": lambda: self._services(request),
            "firewall_rules": lambda: self._firewall(request),
            "credssp_delegation": lambda: self._key_values(_CREDSSP, 1),
            **self._offline(),
        }

    def _registry(self) -> dict[str, tuple[str, Any]]:
        """Every registry value the host has, by case-blind path, with the path as spelt: the
        profile's own values win over the ones derived from its listeners."""
        p = self.profile
        return {
            registry_key(k): (normalise_registry_path(k), v)
            for k, v in {**derived_registry(p), **p.registry}.items()
        }

    def _key_values(self, key: str, depth: int) -> dict[str, Any]:
        """A key's values and its subkeys', as collect.ps1's Get-RegistryKeyValues returns them."""
        prefix = len(normalise_registry_path(key)) + 1
        below = [
            (path[prefix:].split("\\"), value)
            for lowered, (path, value) in self._registry().items()
            if lowered.startswith(registry_key(key) + "\\")
        ]
        if not below:
            return {"present": False, "values": {}, "subkeys": {}}
        subkeys = sorted({names[0] for names, _ in below if len(names) > 1}) if depth > 0 else []
        return {
            "present": True,
            "values": {names[0]: _registry_entry(v) for names, v in below if len(names) == 1},
            "subkeys": {name: self._key_values(f"{key}\\{name}", depth - 1) for name in subkeys},
        }

    def _offline(self) -> dict[str, Callable[[], Any]]:
        """What collect.ps1 reads through the WS-Man scripting API for an offline request: the
        same XML the lab's WS-Man service returns."""
        config = self.winrm
        if config is None:
            return {}
        return {
            OFFLINE_SECTIONS[Gatherer.WSMAN_CONFIG]: lambda: {
                "xml": render(configxml.whole_config(config))
            },
            OFFLINE_SECTIONS[Gatherer.WSMAN_LISTENERS]: lambda: {
                "items": [
                    render(configxml.listener_element(config, listener))
                    for listener in config.effective_listeners
                ]
            },
        }

    def _os(self) -> dict[str, Any]:
        p = self.profile
        return {
            "caption": p.os_caption,
            "version": p.os_version,
            "build": int(p.os_version.split(".")[-1]),
            "product_type": p.product_type,
            "domain": self.material.realm,
            "joined": True,
            "hostname": p.name,
        }

    def _local_groups(self, request: Mapping[str, Any]) -> dict[str, Any]:
        p, m = self.profile, self.material
        defaults = {
            "S-1-5-32-544": [
                {
                    "sid": f"S-1-5-21-{zlib.crc32(p.name.encode())}-1000-2000-500",
                    "name": f"{p.name}\\Administrator",
                    "class": "User",
                    "domain": "Local",
                },
                {
                    "sid": f"{m.domain_sid}-512",
                    "name": f"{m.netbios}\\Domain Admins",
                    "class": "Group",
                    "domain": "ActiveDirectory",
                },
            ],
        }
        return {
            sid: p.local_groups.get(sid, defaults.get(sid, []))
            for sid in request.get("local_groups", [])
        }

    def _rdp_self_signed(self) -> bool:
        """Windows' own RDP certificate: self-signed, in the Remote Desktop store, named by no
        configured hash; any other was put in My and configured on RDP-Tcp."""
        return self.profile.rdp.certificate is CertKind.SELF_SIGNED

    def _certificates(self) -> dict[str, Any]:
        m = self.material
        stored = [_stored(m.https_cert, "My")] if m.https_cert else []
        if m.rdp_cert:
            stored.append(
                _stored(m.rdp_cert, "Remote Desktop" if self._rdp_self_signed() else "My")
            )
        return {
            "host_name": self.profile.name,
            "dns_suffix": m.realm.lower(),
            "certificates": stored,
        }

    def _rdp(self) -> dict[str, Any]:
        cert, absent = self.material.rdp_cert, {"present": False, "type": None, "data": None}
        if cert is None:  # Remote Desktop off: the service reports no certificate
            return {"configured_hash": absent, "reported": {"hash": "", "hash_type": 0}}
        if self._rdp_self_signed():
            return {
                "configured_hash": absent,
                "reported": {"hash": cert.thumbprint, "hash_type": 1},
            }
        binary = base64.b64encode(bytes.fromhex(cert.thumbprint)).decode()
        return {
            "configured_hash": {"present": True, "type": "REG_BINARY", "data": binary},
            "reported": {"hash": cert.thumbprint, "hash_type": 3},
        }

    def _ssh(self) -> dict[str, Any]:
        """The profile's sshd_config lines as the file's text, saved by Notepad (CRLF)."""
        path = "C:\\ProgramData\\ssh\\sshd_config"
        if self.profile.sshd_config is None:
            return {"present": False, "path": path}
        return {
            "present": True,
            "path": path,
            "files": [
                {"path": path, "text": "".join(f"{x}\r\n" for x in self.profile.sshd_config)}
            ],
            "includes": {},
            "administrators_authorized_keys": {"present": False, "sddl": None},
        }

    def _sessions(self) -> list[Any]:
        return [*default_answers()["session_configurations"], *self.profile.session_configurations]

    def _services(self, request: Mapping[str, Any]) -> dict[str, Any]:
        p = self.profile
        running = {"WinRM": "Running"}
        if p.rdp.enabled:
            running["TermService"] = "Running"
        if "iis" in p.roles:
            running["W3SVC"] = "Running"
        if p.sshd_config is not None:
            running["sshd"] = "Running"
        running.update(p.services)
        return {
            name: {"state": running[name], "start_mode": "Automatic"}
            for name in request.get("services", [])
            if name in running
        }

    def _firewall(self, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        p = self.profile
        rules = {r["id"]: r for r in p.firewall_rules}
        defaults = [
            ("WINRM-HTTP-In-TCP", p.winrm.http),
            ("RemoteDesktop-UserMode-In-TCP", p.rdp.enabled),
        ]
        for rule_id, enabled in defaults:
            rules.setdefault(
                rule_id,
                {
                    "id": rule_id,
                    "enabled": enabled,
                    "direction": "Inbound",
                    "action": "Allow",
                    "profiles": "Domain, Private",
                },
            )
        return [rules[i] for i in request.get("firewall_rules", []) if i in rules]
