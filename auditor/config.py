"""The scan configuration file: strict like rules, every problem reported as path:line."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from auditor.credentials import REFERENCE_PREFIXES
from auditor.errors import InputError
from auditor.yamlio import LineDict, YamlProblem, line_of, load_file

_STR = {"type": "string", "minLength": 1}
_NUM = {"type": "number", "exclusiveMinimum": 0}
_STRS = {"type": "array", "items": _STR}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "domain": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {"name": _STR, "dc": _STR},
        },
        "names": {
            "type": "object",
            "additionalProperties": {"type": "string", "pattern": r"^[0-9a-fA-F:.]+$"},
        },
        "credentials": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "username": _STR,
                "password": _STR,
                "allow_literal_password": {"type": "boolean"},
            },
        },
        "ldap": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "mode": {"enum": ["ldaps", "starttls", "plain"]},
                "bind": {"enum": ["simple", "kerberos", "ntlm"]},
                "ca_bundle": _STR,
                "page_size": {"type": "integer", "minimum": 1, "maximum": 10000},
                "timeout": _NUM,
            },
        },
        "winrm": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "transport": {"enum": ["https", "http", "auto"]},
                "auth": {
                    "enum": ["negotiate", "ntlm", "kerberos", "certificate", "credssp", "basic"]
                },
                "ca_bundle": _STR,
                "insecure": {"type": "boolean"},
                "connect_timeout": _NUM,
                "operation_timeout": {"type": "integer", "minimum": 1},
                "read_timeout": _NUM,
                "retries": {"type": "integer", "minimum": 0, "maximum": 10},
                "proxy": _STR,
                "certificate_pem": _STR,
                "certificate_key_pem": _STR,
            },
        },
        "probes": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"enabled": {"type": "boolean"}, "timeout": _NUM},
        },
        "hosts": _STRS,
        "inventory": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled_only": {"type": "boolean"},
                "os": _STRS,
                "ou": _STRS,
                "include": _STRS,
                "exclude": _STRS,
                "last_logon_days": {"type": "integer", "minimum": 1},
                "from_domain": {"type": "boolean"},
            },
        },
        "rules": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "paths": _STRS,
                "areas": _STRS,
                "tags": _STRS,
                "ids": _STRS,
                "exclude_ids": _STRS,
                "severities": {
                    "type": "array",
                    "items": {"enum": ["info", "low", "medium", "high", "critical"]},
                },
                "parameters": {"type": "object", "additionalProperties": {"type": "object"}},
            },
        },
        "host_groups": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["hosts"],
                "properties": {"hosts": _STRS, "roles": _STRS, "parameters": {"type": "object"}},
            },
        },
        "output": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"directory": _STR, "formats": _STRS},
        },
        "concurrency": {"type": "integer", "minimum": 1, "maximum": 1000},
        "host_deadline": _NUM,
        "fail_on": {"enum": ["info", "low", "medium", "high", "critical"]},
    },
}


@dataclass(frozen=True)
class HostGroup:
    name: str
    patterns: tuple[str, ...]
    roles: tuple[str, ...]
    parameters: Mapping[str, Mapping[str, Any]]

    def matches(self, host: str) -> bool:
        return any(fnmatch.fnmatch(host.lower(), p.lower()) for p in self.patterns)


@dataclass(frozen=True)
class ScanConfig:
    """A validated configuration; paths are absolute (relative ones are from the file's folder)."""

    raw: Mapping[str, Any]
    path: Path | None
    host_groups: tuple[HostGroup, ...] = field(default=())

    def section(self, name: str) -> Mapping[str, Any]:
        value = self.raw.get(name) or {}
        return value if isinstance(value, Mapping) else {}

    def path_value(self, section: str, key: str) -> Path | None:
        value = self.section(section).get(key)
        if value is None:
            return None
        path = Path(str(value)).expanduser()
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path

    @property
    def names(self) -> dict[str, str]:
        return {str(k).lower(): str(v) for k, v in (self.raw.get("names") or {}).items()}


def _line_for(data: Any, path: list[Any]) -> int:
    node, line = data, getattr(data, "line", 0)
    for part in path:
        if isinstance(node, LineDict) and part in node:
            line = line_of(node, part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            line = getattr(node, "line", line)
        else:
            break
    return line


def parse_config(data: Any, origin: Path | None) -> ScanConfig:
    where = str(origin) if origin else "<config>"
    if data is None:
        data = LineDict()
    if not isinstance(data, dict):
        raise InputError(f"{where}:1: a scan configuration is a YAML mapping")
    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        dotted = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        message = error.message
        if error.validator == "additionalProperties":
            message = f"unknown key: {message.split('(')[-1].rstrip(')')}"
        problems.append(
            f"{where}:{_line_for(data, list(error.absolute_path))}: {dotted}: {message}"
        )
    credentials = data.get("credentials") or {}
    password = credentials.get("password") if isinstance(credentials, dict) else None
    literal = isinstance(password, str) and not password.startswith(REFERENCE_PREFIXES)
    if literal and not credentials.get("allow_literal_password"):
        problems.append(
            f"{where}:{_line_for(data, ['credentials', 'password'])}: credentials.password must be "
            "a reference (env:VAR, file:PATH, keyring:SERVICE, prompt, ticket-cache); a literal "
            "password needs allow_literal_password: true"
        )
    if problems:
        raise InputError("\n".join(problems))
    groups = tuple(
        HostGroup(
            name, tuple(g.get("hosts", ())), tuple(g.get("roles", ())), g.get("parameters", {})
        )
        for name, g in (data.get("host_groups") or {}).items()
    )
    return ScanConfig(data, origin, groups)


def load_config(path: Path | None) -> ScanConfig:
    """The file at `path`, or an empty configuration (every default) when None."""
    if path is None:
        return parse_config(None, None)
    try:
        return parse_config(load_file(path), path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such configuration file") from None
    except YamlProblem as exc:
        raise InputError(f"{path}:{exc.line}: {exc.message}") from None
