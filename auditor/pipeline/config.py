"""The scan configuration file: strict like rules, every problem reported as path:line."""

from __future__ import annotations

import difflib
import fnmatch
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.collectors.winrm.client import AUTH_METHODS
from auditor.credentials import REFERENCE_PREFIXES
from auditor.errors import InputError
from auditor.facts.io import MAX_NAME_LENGTH
from auditor.reports.formats import OutputFormat
from auditor.strict import Node, Problems, check_schema, shown
from auditor.yamlio import LineDict, YamlProblem, load_file

if TYPE_CHECKING:
    from auditor.rules.model import Rule

_STR = {"type": "string", "minLength": 1}
# Host names and domain names: a DNS name has at most 253 characters.
_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}
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
            "properties": {"name": _NAME, "dc": _NAME},
        },
        "names": {
            "type": "object",
            "propertyNames": {"maxLength": MAX_NAME_LENGTH},
            "additionalProperties": {
                "type": "string",
                "maxLength": 45,  # the longest textual IPv6 address
                "pattern": r"^[0-9a-fA-F:.]+$",
            },
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
                "auth": {"enum": list(AUTH_METHODS)},
                "ca_bundle": _STR,
                "insecure": {"type": "boolean"},
                "connect_timeout": _NUM,
                "operation_timeout": {"type": "integer", "minimum": 1},
                "read_timeout": _NUM,
                "retries": {"type": "integer", "minimum": 0, "maximum": 10},
                "proxy": _STR,
                "certificate_pem": _STR,
                "certificate_key_pem": _STR,
                "max_answer_mb": {"type": "integer", "minimum": 1, "maximum": 1024},
            },
        },
        "probes": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"enabled": {"type": "boolean"}, "timeout": _NUM},
        },
        "hosts": {"type": "array", "items": _NAME},
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
                "properties": {
                    "hosts": {"type": "array", "items": _NAME},
                    "roles": _STRS,
                    "parameters": {"type": "object", "additionalProperties": {"type": "object"}},
                },
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


def _format_problems(root: Node) -> None:
    """Unknown report formats, found now rather than after an hour of collection."""
    known = {f.value for f in OutputFormat}
    for item in root["output"]["formats"].items():
        if item.value.lower() not in known:
            root.problems.add(
                item.line,
                f"unknown format {shown(item.value)} "
                f"(known: {', '.join(f.value for f in OutputFormat)})",
                "output.formats",
            )


def _password_beside(reference: str, origin: Path) -> str:
    """A relative `file:` or `keytab:` reference is relative to the configuration's folder, like
    every path."""
    kind, _, name = reference.partition(":")
    if (
        kind not in ("file", "keytab")
        or not name
        or name.startswith("~")
        or Path(name).is_absolute()
    ):
        return reference
    return f"{kind}:{origin.parent / name}"


def parse_config(data: Any, origin: Path | None) -> ScanConfig:
    problems = Problems(str(origin) if origin else "<config>")
    if data is None:
        data = LineDict()
    if not isinstance(data, dict):
        problems.add(1, "a scan configuration is a YAML mapping")
        problems.check()
    root = problems.root(data)
    # Any schema problem with the password is said in these words: none repeats its value.
    hidden = "must be text: a reference such as env:VAR (the value is not shown)"
    check_schema(root, SCHEMA, secrets={"credentials.password": hidden})
    if not problems:
        _format_problems(root)
    credentials = data.get("credentials") or {}
    password = credentials.get("password") if isinstance(credentials, dict) else None
    literal = isinstance(password, str) and not password.startswith(REFERENCE_PREFIXES)
    if literal and not credentials.get("allow_literal_password"):
        root["credentials"]["password"].fail(
            "must be a reference (env:VAR, file:PATH, keyring:SERVICE, prompt, ticket-cache, "
            "keytab:PATH); "
            "a literal password needs allow_literal_password: true"
        )
    problems.check()
    if origin is not None and isinstance(password, str):
        credentials["password"] = _password_beside(password, origin)
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


def _problems_of(config: ScanConfig) -> Node:
    """The configuration as read, to locate problems found after loading it."""
    return Problems(str(config.path) if config.path else "<config>").root(config.raw)


# The local files each section names, read only once hosts are being collected.
_LOCAL_FILES = {
    "ldap": ("ca_bundle",),
    "winrm": ("ca_bundle", "certificate_pem", "certificate_key_pem"),
}


def _file_problem(path: Path, ca_bundle: bool) -> str | None:
    if not path.is_file():
        return f"{path} is not a file" if path.exists() else f"{path} does not exist"
    try:
        if ca_bundle:
            ssl.create_default_context(cafile=str(path))
        else:
            path.open("rb").close()
    except ssl.SSLError as exc:
        return f"{path} holds no usable PEM CA certificate ({exc.reason or exc})"
    except OSError as exc:
        return f"{path}: cannot read it: {exc.strerror}"
    return None


def check_local_files(config: ScanConfig, sections: Iterable[str] = tuple(_LOCAL_FILES)) -> None:
    """The CA bundles and certificates the configuration names can be read, checked before any
    host is contacted: one configuration error, not the same failure on every host."""
    root = _problems_of(config)
    for section in sections:
        for key in _LOCAL_FILES[section]:
            path = config.path_value(section, key)
            problem = None if path is None else _file_problem(path.absolute(), key == "ca_bundle")
            if problem is not None:
                root[section][key].fail(problem)
    root.problems.check()


def _suggest(value: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(value[:100], sorted(known), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def check_rule_references(config: ScanConfig, rules: Sequence[Rule]) -> None:
    """Rule ids, areas, tags and parameter names in the configuration must exist: a typo would
    silently keep a rule on, off, or at its default threshold."""
    root = _problems_of(config)
    by_id = {r.id: r for r in rules}
    section = config.section("rules")

    def add(path: list[Any], message: str) -> None:
        root.problems.add(root.find(path).line, message, ".".join(str(p) for p in path))

    for key in ("ids", "exclude_ids"):
        for i, pattern in enumerate(section.get(key, [])):
            if not any(fnmatch.fnmatch(rule_id, pattern) for rule_id in by_id):
                add(
                    ["rules", key, i],
                    f"no rule matches {pattern[:100]!r}{_suggest(pattern, by_id)}",
                )
    for key, known in (
        ("areas", {r.area for r in rules}),
        ("tags", {t for r in rules for t in r.tags}),
    ):
        for i, value in enumerate(section.get(key, [])):
            if value not in known:
                add(
                    ["rules", key, i],
                    f"no rule has {key[:-1]} {value[:100]!r}{_suggest(value, known)}",
                )
    parameter_sets: list[tuple[list[Any], Mapping[str, Any]]] = [
        (["rules", "parameters"], section.get("parameters", {})),
        *((["host_groups", g.name, "parameters"], g.parameters) for g in config.host_groups),
    ]
    for path, parameters in parameter_sets:
        for rule_id, values in parameters.items():
            rule = by_id.get(rule_id)
            if rule is None:
                add([*path, rule_id], f"no rule {rule_id[:100]!r}{_suggest(rule_id, by_id)}")
                continue
            for name in values:
                if name not in rule.parameters:
                    add(
                        [*path, rule_id, name],
                        f"rule {rule_id} has no parameter {str(name)[:100]!r}"
                        f" (its parameters: {', '.join(sorted(rule.parameters)) or 'none'})",
                    )
    root.problems.check()
