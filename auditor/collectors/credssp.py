"""CredSSP delegation policy (HKLM\\...\\CredentialsDelegation) read from the key's raw values:
which credentials each list delegates to which SPN patterns, and which patterns reach any host.

The names are CredSsp.admx's (Microsoft's Policy CSP documentation, vendored under
tests/data/windows/credssp/): each policy is a REG_DWORD under the key (1 enabled, 0 disabled)
and a subkey of the same name holding its SPN list, one REG_SZ value per entry, whatever the
value names and however many there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KEY = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\CredentialsDelegation"


@dataclass(frozen=True)
class Policy:
    credentials: str  # default (the logon's), fresh (prompted for) or saved (Credential Manager)
    ntlm_only: bool  # applies when the server was authenticated by NTLM only
    deny: bool
    concatenate: str  # the DWORD that adds the OS defaults to the list


POLICIES: dict[str, Policy] = {
    "AllowDefaultCredentials": Policy("default", False, False, "ConcatenateDefaults_AllowDefault"),
    "AllowDefCredentialsWhenNTLMOnly": Policy(
        "default", True, False, "ConcatenateDefaults_AllowDefNTLMOnly"
    ),
    "AllowFreshCredentials": Policy("fresh", False, False, "ConcatenateDefaults_AllowFresh"),
    "AllowFreshCredentialsWhenNTLMOnly": Policy(
        "fresh", True, False, "ConcatenateDefaults_AllowFreshNTLMOnly"
    ),
    "AllowSavedCredentials": Policy("saved", False, False, "ConcatenateDefaults_AllowSaved"),
    "AllowSavedCredentialsWhenNTLMOnly": Policy(
        "saved", True, False, "ConcatenateDefaults_AllowSavedNTLMOnly"
    ),
    "DenyDefaultCredentials": Policy("default", False, True, "ConcatenateDefaults_DenyDefault"),
    "DenyFreshCredentials": Policy("fresh", False, True, "ConcatenateDefaults_DenyFresh"),
    "DenySavedCredentials": Policy("saved", False, True, "ConcatenateDefaults_DenySaved"),
}
_STRINGS = ("REG_SZ", "REG_EXPAND_SZ")


def reach(pattern: str) -> str:
    """How many hosts an SPN pattern (`service/host`, one `*` allowed) covers: `*`, `*/*` and
    `service/*` reach any host; `service/*.domain` and other wildcards some; a name one."""
    _, _, host = pattern.strip().rpartition("/")
    if host == "*":
        return "any_host"
    return "some_hosts" if "*" in host else "one_host"


def _covers(deny: str, allowed: str) -> bool:
    """Does a deny entry take back everything an any-host allow entry gives?"""
    deny_service, _, deny_host = deny.strip().lower().rpartition("/")
    allowed_service = allowed.strip().lower().rpartition("/")[0]
    if deny_host != "*":
        return False
    return deny_service in ("", "*") or deny_service == allowed_service not in ("", "*")


def _values(tree: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Present values by name, case-blind as the registry is."""
    values = tree.get("values") or {}
    return {str(name).lower(): entry for name, entry in values.items() if entry.get("present")}


def _state(entry: Mapping[str, Any] | None) -> str:
    if entry is None:
        return "not_configured"
    return "enabled" if entry.get("type") == "REG_DWORD" and entry.get("data") == 1 else "disabled"


def _entries(subkey: Mapping[str, Any] | None) -> list[str]:
    """The list's SPNs in value-name order (1, 2, ... 10, then any other names)."""
    if subkey is None:
        return []
    values = subkey.get("values") or {}
    names = sorted(values, key=lambda n: (0, int(n), "") if str(n).isdigit() else (1, 0, str(n)))
    found = [
        values[n]["data"].strip()
        for n in names
        if values[n].get("type") in _STRINGS and isinstance(values[n].get("data"), str)
    ]
    return [spn for spn in found if spn]  # an empty value delegates to nothing


def delegation(tree: Mapping[str, Any]) -> dict[str, Any]:
    """The `credssp.delegation` fact from the key's values and its subkeys' values: each
    policy's state and list, and each SPN an enabled Allow list delegates to (a Deny list of
    the same credentials taking back an any-host entry is named in `denied_by`)."""
    top = _values(tree) if tree.get("present") else {}
    subkeys = {str(k).lower(): v for k, v in (tree.get("subkeys") or {}).items()}
    states = {name: _state(top.get(name.lower())) for name in POLICIES}
    lists = {
        name: _entries(subkeys.get(name.lower())) if states[name] == "enabled" else []
        for name in POLICIES
    }
    policies = [
        {
            "policy": name,
            "credentials": policy.credentials,
            "ntlm_only": policy.ntlm_only,
            "deny": policy.deny,
            "state": states[name],
            "concatenate_defaults": _state(top.get(policy.concatenate.lower())) == "enabled",
            "entries": lists[name],
        }
        for name, policy in POLICIES.items()
    ]
    delegations = []
    for name, policy in POLICIES.items():
        for pattern in [] if policy.deny else lists[name]:
            taken_back = [
                f"{deny}: {entry}"
                for deny, other in POLICIES.items()
                if other.deny and other.credentials == policy.credentials
                for entry in lists[deny]
                if reach(pattern) == "any_host" and _covers(entry, pattern)
            ]
            delegations.append(
                {
                    "policy": name,
                    "credentials": policy.credentials,
                    "ntlm_only": policy.ntlm_only,
                    "pattern": pattern,
                    "reach": reach(pattern),
                    "denied_by": taken_back[0] if taken_back else None,
                }
            )
    return {"policies": policies, "delegations": delegations}
