"""WS-Management operations of one emulated host: routing, authorisation and response envelopes."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from auditor.lab.winrm import configxml, faults
from auditor.lab.winrm.access import (
    Right,
    is_granted,
    network_logon_sids,
    parse_dacl,
)
from auditor.lab.winrm.accounts import Account
from auditor.lab.winrm.config import WinRMHostConfig
from auditor.lab.winrm.shell import POWERSHELL_URI, SHELL_URI, ShellTable
from auditor.lab.winrm.soap import NS, Element, WSManRequest, el, envelope, void

_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
_ENUMERATION = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
_SHELL_ACTION = SHELL_URI + "/"
# The Microsoft.PowerShell session configuration's default SDDL (Windows Server 2016+).
POWERSHELL_SDDL = (
    "O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;IU)(A;;GA;;;RM)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)"
)
_READ_ACTIONS = {
    _TRANSFER + "Get",
    _ENUMERATION + "Enumerate",
    _ENUMERATION + "Pull",
    _ENUMERATION + "Release",
}
_WRITE_ACTIONS = {_TRANSFER + "Put", _TRANSFER + "Create", _TRANSFER + "Delete"}
_PREFIXES = {
    "transfer": ("s", "a", "x", "w", "p"),
    "enumeration": ("s", "a", "n", "w", "p"),
    "shell": ("s", "a", "x", "w", "rsp", "p"),
    "receive": ("s", "a", "w", "rsp", "p"),
    "delete": ("s", "a", "w", "p"),
}


def _wsen(local: str) -> str:
    return f"{{{NS['n']}}}{local}"


def _wsman(local: str) -> str:
    return f"{{{NS['w']}}}{local}"


@dataclass
class _Enumeration:
    """Items an Enumerate produced that Pulls have not yet returned, and whose they are."""

    owner: str
    items: list[Element]


class WSManService:
    """Answers the WS-Man operations of one host for an authenticated account."""

    def __init__(self, config: WinRMHostConfig, shells: ShellTable) -> None:
        self._config = config
        self._shells = shells
        self._root_dacl = parse_dacl(config.service.root_sddl)
        self._powershell_dacl = parse_dacl(POWERSHELL_SDDL)
        self._enumerations: dict[str, _Enumeration] = {}
        admins = config.administrators
        self._admins = {a.lower() for a in (config.users if admins is None else admins)}
        self._rm_users = {a.lower() for a in config.remote_management_users}

    async def handle(
        self, request: WSManRequest, account: Account, client_ip: str, owner: str
    ) -> bytes:
        """The response envelope; raises WSManFault for what Windows answers with a fault."""
        self._authorise(request, account)
        action = request.action
        uri = request.resource_uri
        if uri.lower() == POWERSHELL_URI.lower():
            return await self._shell_operation(request, account, client_ip, owner)
        if action == _TRANSFER + "Get":
            return self._reply(request, "transfer", self._get(request))
        if action == _ENUMERATION + "Enumerate":
            return self._reply(request, "enumeration", self._enumerate(request, account))
        if action == _ENUMERATION + "Pull":
            return self._reply(request, "enumeration", self._pull(request, account))
        if action == _ENUMERATION + "Release":
            self._enumerations.pop(_context_of(request), None)
            return self._reply(request, "enumeration", [])
        if _known_resource(uri):
            raise faults.action_not_supported(action)
        raise faults.resource_not_found()

    def _authorise(self, request: WSManRequest, account: Account) -> None:
        is_shell = request.resource_uri.lower().startswith(
            (SHELL_URI.lower(), POWERSHELL_URI.lower())
        )
        if is_shell:
            needed = Right.GX
        elif request.action in _READ_ACTIONS:
            needed = Right.GR
        elif request.action in _WRITE_ACTIONS:
            needed = Right.GW
        else:
            needed = Right.GX
        sids = network_logon_sids(
            account.key.lower() in self._admins, account.key.lower() in self._rm_users
        )
        dacl = (
            self._powershell_dacl
            if request.resource_uri.lower() == POWERSHELL_URI.lower()
            else self._root_dacl
        )
        if not is_granted(dacl, sids, needed):
            raise faults.access_denied()

    def _reply(self, request: WSManRequest, kind: str, body: list[Element]) -> bytes:
        action = request.action + "Response"
        return envelope(_PREFIXES[kind], action, request.message_id, body)

    def _get(self, request: WSManRequest) -> list[Element]:
        uri = request.resource_uri
        if uri.lower() == configxml.LISTENER_URI.lower():
            return [self._listener_by_selectors(request)]
        if uri.lower() == SHELL_URI.lower():
            return self._shells.get(request)
        resource = configxml.config_resource(self._config, uri)
        if resource is None:
            raise faults.resource_not_found()
        return [resource]

    def _listener_by_selectors(self, request: WSManRequest) -> Element:
        address, transport = request.selector("Address"), request.selector("Transport")
        for listener in self._config.effective_listeners:
            if (address or "").lower() == listener.address.lower() and (
                transport or ""
            ).upper() == listener.transport:
                return configxml.listener_element(self._config, listener)
        raise faults.invalid_selectors()

    def _enumerate(self, request: WSManRequest, account: Account) -> list[Element]:
        body = request.body
        if body is None or body.tag != _wsen("Enumerate"):
            raise faults.schema_validation_error()
        uri = request.resource_uri.lower()
        if uri == configxml.LISTENER_URI.lower():
            items = [
                configxml.listener_element(self._config, li)
                for li in self._config.effective_listeners
            ]
        elif uri == SHELL_URI.lower():
            items = self._shells.enumerate(account.key)
        else:
            raise faults.resource_not_found()
        context = f"uuid:{str(uuid.uuid4()).upper()}"
        if body.find(_wsman("OptimizeEnumeration")) is None:
            self._enumerations[context] = _Enumeration(account.key, items)
            return [el("n:EnumerateResponse", el("n:EnumerationContext", context))]
        batch = _max_elements(
            body.find(_wsman("MaxElements")), self._config.service.max_batch_items
        )
        first, rest = items[:batch], items[batch:]
        if rest:
            self._enumerations[context] = _Enumeration(account.key, rest)
        return [
            el(
                "n:EnumerateResponse",
                el("n:EnumerationContext", context if rest else ""),
                el("w:Items", *first),
                None if rest else void("w:EndOfSequence"),
            )
        ]

    def _pull(self, request: WSManRequest, account: Account) -> list[Element]:
        body = request.body
        if body is None or body.tag != _wsen("Pull"):
            raise faults.schema_validation_error()
        context = _context_of(request)
        enumeration = self._enumerations.get(context)
        if enumeration is None or enumeration.owner != account.key:
            raise faults.invalid_enumeration_context()
        batch = _max_elements(body.find(_wsen("MaxElements")), 1)
        batch = min(batch, self._config.service.max_batch_items)
        first, enumeration.items = enumeration.items[:batch], enumeration.items[batch:]
        if enumeration.items:
            return [
                el("n:PullResponse", el("n:EnumerationContext", context), el("n:Items", *first))
            ]
        del self._enumerations[context]
        return [el("n:PullResponse", el("n:Items", *first), void("n:EndOfSequence"))]

    async def _shell_operation(
        self, request: WSManRequest, account: Account, client_ip: str, owner: str
    ) -> bytes:
        action = request.action
        shells = self._shells
        if action == _TRANSFER + "Create":
            body = shells.create(request, owner, account.key, client_ip)
            return self._reply(request, "shell", body)
        shell = shells.find(request)
        if action == _TRANSFER + "Delete":
            return self._reply(request, "delete", shells.delete(shell))
        if action == _SHELL_ACTION + "Command":
            return self._reply(request, "shell", await shells.command(shell, request))
        if action == _SHELL_ACTION + "Send":
            return self._reply(request, "shell", await shells.send(shell, request))
        if action == _SHELL_ACTION + "Receive":
            return self._reply(request, "receive", await shells.receive(shell, request))
        if action == _SHELL_ACTION + "Signal":
            return self._reply(request, "shell", await shells.signal(shell, request))
        raise faults.action_not_supported(action)

    def close(self) -> None:
        self._shells.close_all()
        self._enumerations.clear()


def _known_resource(uri: str) -> bool:
    lowered = uri.lower()
    return lowered.startswith((configxml.CONFIG_URI.lower(), SHELL_URI.lower()))


def _context_of(request: WSManRequest) -> str:
    node = request.body.find(_wsen("EnumerationContext")) if request.body is not None else None
    return (node.text or "").strip() if node is not None else ""


def _max_elements(node: ET.Element | None, default: int) -> int:
    if node is None or not (node.text or "").strip().isdigit():
        return default
    return max(int((node.text or "").strip()), 1)
