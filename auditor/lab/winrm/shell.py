"""The WinRM remote shell operations (Create, Command, Send, Receive, Signal, Delete) for PSRP."""

from __future__ import annotations

import base64
import binascii
import itertools
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from auditor.lab.winrm import faults
from auditor.lab.winrm.config import WinRMHostConfig
from auditor.lab.winrm.psrp import ProtocolError, RunningPipeline, RunspacePoolHost
from auditor.lab.winrm.soap import NS, Element, WSManRequest, el, void

POWERSHELL_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
_COMMAND_STATE_DONE = SHELL_URI + "/CommandState/Done"
_SIGNAL_TERMINATE = SHELL_URI + "/signal/Terminate"
_STOP_SIGNALS = (
    SHELL_URI + "/signal/ctrl_c",
    "powershell/signal/ctrl_c",
    "powershell/signal/crtl_c",
)
_process_ids = itertools.count(1868, 4)


def _rsp(local: str) -> str:
    return f"{{{NS['rsp']}}}{local}"


def _duration(ms: int) -> str:
    return f"PT{ms // 1000}.{ms % 1000:03d}S"


@dataclass
class Shell:
    """A PowerShell shell: a runspace pool, whose it is, and what Windows reports about it."""

    shell_id: str
    owner: str
    owner_key: str
    client_ip: str
    process_id: int
    input_streams: str
    output_streams: str
    pool: RunspacePoolHost

    def describe(self, config: WinRMHostConfig, *, usage: bool) -> Element:
        """rsp:Shell as in CreateResponse (and, with usage figures, GetResponse)."""
        return el(
            "rsp:Shell",
            el("rsp:ShellId", self.shell_id),
            el("rsp:ResourceUri", POWERSHELL_URI),
            el("rsp:Owner", self.owner),
            el("rsp:ClientIP", self.client_ip),
            el("rsp:ProcessId", str(self.process_id)),
            el("rsp:IdleTimeOut", _duration(config.winrs.idle_timeout_ms)),
            el("rsp:InputStreams", self.input_streams),
            el("rsp:OutputStreams", self.output_streams),
            el("rsp:MaxIdleTimeOut", "PT2147483.647S"),
            el("rsp:Locale", "en-US"),
            el("rsp:DataLocale", "en-US"),
            el("rsp:CompressionMode", "NoCompression"),
            el("rsp:ProfileLoaded", "Yes"),
            el("rsp:Encoding", "UTF8"),
            el("rsp:BufferMode", "Block"),
            el("rsp:State", "Connected"),
            el("rsp:ShellRunTime", "P0DT0H0M0S"),
            el("rsp:ShellInactivity", "P0DT0H0M0S"),
            el("rsp:MemoryUsed", "59MB") if usage else None,
            el("rsp:ChildProcesses", "0") if usage else None,
            xmlns_rsp=NS["rsp"],
        )


class ShellTable:
    """The shells of one host and the operations on them; methods return SOAP body elements."""

    def __init__(
        self, config: WinRMHostConfig, pool_factory: Callable[[str, int], RunspacePoolHost]
    ) -> None:
        self._config = config
        self._pool_factory = pool_factory
        self._shells: dict[str, Shell] = {}

    def create(
        self, request: WSManRequest, owner: str, owner_key: str, client_ip: str
    ) -> list[Element]:
        if not self._config.winrs.allow_remote_shell_access:
            raise faults.remote_shell_access_denied()
        body = request.body
        if body is None or body.tag != _rsp("Shell"):
            raise faults.schema_validation_error()
        mine = sum(1 for s in self._shells.values() if s.owner_key == owner_key)
        if mine >= self._config.winrs.max_shells_per_user:
            raise faults.quota_limit(faults.MAX_SHELLS_PER_USER_MESSAGE)
        creation = body.find(f"{{{NS['pwsh']}}}creationXml")
        shell_id = (body.get("ShellId") or str(uuid.uuid4())).upper()
        budget = _payload_budget(request.max_envelope_size, self._config)
        shell = Shell(
            shell_id=shell_id,
            owner=owner,
            owner_key=owner_key,
            client_ip=client_ip,
            process_id=next(_process_ids),
            input_streams=_text(body, "InputStreams") or "stdin pr",
            output_streams=_text(body, "OutputStreams") or "stdout",
            pool=self._pool_factory(owner, budget),
        )
        if creation is not None and creation.text:
            _feed(shell.pool, _b64(creation.text), None)
        self._shells[shell_id] = shell
        created = el(
            "x:ResourceCreated",
            el("a:Address", request.to),
            el(
                "a:ReferenceParameters",
                el("w:ResourceURI", POWERSHELL_URI),
                el("w:SelectorSet", el("w:Selector", shell_id, Name="ShellId")),
            ),
        )
        return [created, shell.describe(self._config, usage=False)]

    def find(self, request: WSManRequest) -> Shell:
        shell_id = request.selector("ShellId") or ""
        shell = self._shells.get(shell_id.upper())
        if shell is None:
            raise faults.shell_not_found(shell_id)
        return shell

    def get(self, request: WSManRequest) -> list[Element]:
        shell = self._shells.get((request.selector("ShellId") or "").upper())
        if shell is None:
            raise faults.invalid_selectors(provider=faults.SHELL_PROVIDER)
        return [shell.describe(self._config, usage=True)]

    def enumerate(self, owner_key: str) -> list[Element]:
        return [
            s.describe(self._config, usage=True)
            for s in self._shells.values()
            if s.owner_key == owner_key
        ]

    async def command(self, shell: Shell, request: WSManRequest) -> list[Element]:
        body = request.body
        if body is None or body.tag != _rsp("CommandLine"):
            raise faults.schema_validation_error()
        arguments = _b64("".join(a.text or "" for a in body.iter(_rsp("Arguments"))))
        try:
            pipeline = shell.pool.add_pipeline(body.get("CommandId"), arguments)
        except ProtocolError as err:
            raise faults.schema_validation_error() from err
        _feed(shell.pool, arguments, pipeline.command_id)
        await shell.pool.notify()
        return [el("rsp:CommandResponse", el("rsp:CommandId", pipeline.command_id))]

    async def send(self, shell: Shell, request: WSManRequest) -> list[Element]:
        body = request.body
        if body is None or body.tag != _rsp("Send"):
            raise faults.schema_validation_error()
        for stream in body.iter(_rsp("Stream")):
            command_id = stream.get("CommandId")
            if command_id:
                _pipeline(shell, command_id)
            _feed(shell.pool, _b64(stream.text or ""), command_id)
        await shell.pool.notify()
        return [void("rsp:SendResponse")]

    async def receive(self, shell: Shell, request: WSManRequest) -> list[Element]:
        body = request.body
        desired = body.find(_rsp("DesiredStream")) if body is not None else None
        if body is None or body.tag != _rsp("Receive") or desired is None:
            raise faults.schema_validation_error()
        command_id = desired.get("CommandId")
        pipeline = _pipeline(shell, command_id) if command_id else None
        budget = _payload_budget(request.max_envelope_size, self._config)
        try:
            payloads, done = await shell.pool.take(pipeline, budget, request.operation_timeout)
        except TimeoutError as err:
            raise faults.operation_timed_out() from err
        attrs = {"CommandId": command_id.upper()} if command_id else {}
        streams: list[Element | None] = [
            el("rsp:Stream", base64.b64encode(p).decode(), Name="stdout", **attrs) for p in payloads
        ]
        if done and command_id:
            streams.append(
                el(
                    "rsp:CommandState",
                    el("rsp:ExitCode", "0"),
                    CommandId=command_id.upper(),
                    State=_COMMAND_STATE_DONE,
                )
            )
        return [el("rsp:ReceiveResponse", *streams)]

    async def signal(self, shell: Shell, request: WSManRequest) -> list[Element]:
        body = request.body
        if body is None or body.tag != _rsp("Signal"):
            raise faults.schema_validation_error()
        pipeline = _pipeline(shell, body.get("CommandId") or "")
        code = _text(body, "Code")
        if code == _SIGNAL_TERMINATE:
            shell.pool.terminate(pipeline)
        elif code in _STOP_SIGNALS:
            shell.pool.stop(pipeline)
        else:
            raise faults.schema_validation_error()
        await shell.pool.notify()
        return [void("rsp:SignalResponse")]

    def delete(self, shell: Shell) -> list[Element]:
        shell.pool.close()
        self._shells.pop(shell.shell_id, None)
        return []

    def close_all(self) -> None:
        for shell in list(self._shells.values()):
            self.delete(shell)


def _text(parent: ET.Element, local: str) -> str:
    node = parent.find(_rsp(local))
    return (node.text or "").strip() if node is not None else ""


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except binascii.Error as err:
        raise faults.schema_validation_error() from err


def _feed(pool: RunspacePoolHost, data: bytes, command_id: str | None) -> None:
    try:
        pool.feed(data, command_id)
    except ProtocolError as err:
        raise faults.schema_validation_error() from err


def _pipeline(shell: Shell, command_id: str) -> RunningPipeline:
    pipeline = shell.pool.pipelines.get(command_id.upper())
    if pipeline is None:
        raise faults.command_id_not_found()
    return pipeline


def _payload_budget(max_envelope_size: int, config: WinRMHostConfig) -> int:
    """PSRP bytes per response: the envelope limit less SOAP overhead, before base64's 4/3."""
    limit = min(max_envelope_size, config.service.max_envelope_size_kb * 1024)
    return max((limit - 2048) * 3 // 4, 1024)
