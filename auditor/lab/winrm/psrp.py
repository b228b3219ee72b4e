"""One PowerShell runspace pool on the server side: psrpcore state, pipelines run by the handler."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from dataclasses import dataclass, field

from psrpcore import (
    CreatePipelineEvent,
    EndOfPipelineInputEvent,
    GetAvailableRunspacesEvent,
    GetCommandMetadataEvent,
    PipelineInputEvent,
    PSRPCoreError,
    PSRPPayload,
    ResetRunspaceStateEvent,
    ServerPipeline,
    ServerRunspacePool,
    SetMaxRunspacesEvent,
    SetMinRunspacesEvent,
    StreamType,
)
from psrpcore.types import PipelineState, PSInvocationState, PSVersion

from auditor.lab.winrm.pipeline import (
    CommandFailed,
    PipelineCommand,
    PipelineHandler,
    PipelineRequest,
)

log = logging.getLogger(__name__)
_FRAGMENT_HEADER = 21
_MESSAGE_PID = slice(_FRAGMENT_HEADER + 24, _FRAGMENT_HEADER + 40)


class ProtocolError(ValueError):
    """PSRP data the runspace pool cannot take, such as a fragment out of order."""


def pipeline_id_of(fragments: bytes) -> uuid.UUID:
    """The pipeline id in the message header of the first fragment (MS-PSRP 2.2.1)."""
    if len(fragments) < _MESSAGE_PID.stop:
        raise ProtocolError("command arguments are shorter than a PSRP message header")
    return uuid.UUID(bytes_le=fragments[_MESSAGE_PID])


def _private_data(os_version: str) -> dict[str, object]:
    build = os_version.split(".")[2] if os_version.count(".") >= 2 else "0"
    ps_version = PSVersion(f"5.1.{build}.1")
    return {
        "PSVersionTable": {
            "PSVersion": ps_version,
            "PSEdition": "Desktop",
            "PSCompatibleVersions": [
                PSVersion(v) for v in ("1.0", "2.0", "3.0", "4.0", "5.0", str(ps_version))
            ],
            "CLRVersion": PSVersion("4.0.30319.42000"),
            "BuildVersion": PSVersion(f"{os_version}.1"),
            "WSManStackVersion": PSVersion("3.0"),
            "PSRemotingProtocolVersion": PSVersion("2.3"),
            "SerializationVersion": PSVersion("1.1.0.1"),
        }
    }


@dataclass
class RunningPipeline:
    """A pipeline of the pool, from CreatePipeline until the client terminates it."""

    command_id: str
    psrp: ServerPipeline
    no_input: bool = True
    input: list[object] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        return self.psrp.state in (
            PSInvocationState.Completed,
            PSInvocationState.Failed,
            PSInvocationState.Stopped,
        )


class RunspacePoolHost:
    """Drives a psrpcore ServerRunspacePool and queues its output per Receive target."""

    def __init__(
        self,
        hostname: str,
        user: str,
        os_version: str,
        handler: PipelineHandler,
        fragment_size: int,
    ) -> None:
        self.pool = ServerRunspacePool(application_private_data=_private_data(os_version))
        self.pipelines: dict[str, RunningPipeline] = {}
        self._hostname = hostname
        self._user = user
        self._handler = handler
        self._fragment_size = fragment_size
        self._outgoing: dict[uuid.UUID | None, deque[bytes]] = {}
        self._changed = asyncio.Condition()

    def feed(self, data: bytes, command_id: str | None = None) -> None:
        """Take PSRP fragments from Create, Command or Send and act on the events they complete."""
        pipeline = self.pipelines.get(command_id.upper()) if command_id else None
        target = pipeline.psrp.pipeline_id if pipeline else None
        try:
            self.pool.receive_data(PSRPPayload(data, StreamType.default, target))
            while (event := self.pool.next_event()) is not None:
                self._on_event(event)
        except PSRPCoreError as err:
            raise ProtocolError(str(err)) from err
        self._flush()

    def add_pipeline(self, command_id: str | None, fragments: bytes) -> RunningPipeline:
        """Register the pipeline a Command creates; its CreatePipeline message follows in `feed`.

        Without a CommandId from the client, the pipeline id becomes the command id.
        """
        pipeline_id = pipeline_id_of(fragments)
        command_id = (command_id or str(pipeline_id)).upper()
        pipeline = RunningPipeline(command_id, ServerPipeline(self.pool, pipeline_id))
        self.pipelines[command_id] = pipeline
        return pipeline

    def _on_event(self, event: object) -> None:
        if isinstance(event, (CreatePipelineEvent, GetCommandMetadataEvent)):
            pipeline = self._pipeline_by_id(event.pipeline_id)
            if isinstance(event, CreatePipelineEvent):
                pipeline.no_input = event.pipeline.no_input
            if pipeline.no_input or isinstance(event, GetCommandMetadataEvent):
                self._start(pipeline)
        elif isinstance(event, PipelineInputEvent):
            self._pipeline_by_id(event.pipeline_id).input.append(event.data)
        elif isinstance(event, EndOfPipelineInputEvent):
            self._start(self._pipeline_by_id(event.pipeline_id))
        elif isinstance(
            event, (SetMaxRunspacesEvent, SetMinRunspacesEvent, ResetRunspaceStateEvent)
        ):
            self.pool.runspace_availability_response(event.ci, True)
        elif isinstance(event, GetAvailableRunspacesEvent):
            busy = sum(1 for p in self.pipelines.values() if not p.finished)
            self.pool.runspace_availability_response(
                event.ci, max(self.pool.max_runspaces - busy, 0)
            )
        # Capability, pool init, key exchange and host responses are answered by psrpcore itself.

    def _pipeline_by_id(self, pipeline_id: uuid.UUID | None) -> RunningPipeline:
        for pipeline in self.pipelines.values():
            if pipeline.psrp.pipeline_id == pipeline_id:
                return pipeline
        raise ProtocolError(f"no pipeline {pipeline_id} in this runspace pool")

    def _start(self, pipeline: RunningPipeline) -> None:
        metadata = pipeline.psrp.metadata
        commands = tuple(
            PipelineCommand(
                name=str(c.command_text),
                is_script=bool(c.is_script),
                parameters={str(n): v for n, v in c.parameters if n is not None},
                arguments=tuple(v for n, v in c.parameters if n is None),
            )
            for c in getattr(metadata, "commands", [])
        )
        pipeline.psrp.start()
        request = PipelineRequest(self._hostname, self._user, commands, tuple(pipeline.input))
        pipeline.task = asyncio.get_running_loop().create_task(self._run(pipeline, request))

    async def _run(self, pipeline: RunningPipeline, request: PipelineRequest) -> None:
        output: list[object] = []
        failure: CommandFailed | None = None
        if request.commands:
            try:
                output = list(await asyncio.to_thread(self._handler, request))
            except CommandFailed as err:
                failure = err
            except Exception as err:
                # A handler bug must still end the pipeline, or the client waits forever.
                log.exception("pipeline handler of %s failed on %r", self._hostname, request)
                failure = CommandFailed(str(err), type(err).__name__, terminating=True)
        if pipeline.psrp.state != PSInvocationState.Running:
            return  # stopped or terminated while the handler ran
        try:
            for item in output:
                pipeline.psrp.write_output(item)
        except (TypeError, ValueError) as err:
            failure = CommandFailed(
                f"cannot serialise pipeline output: {err}", "SerializationError", terminating=True
            )
        command = request.commands[0] if request.commands else None
        self._finish(pipeline, failure, command.name if command and not command.is_script else "")
        self._flush()
        await self.notify()

    def _finish(
        self, pipeline: RunningPipeline, failure: CommandFailed | None, command: str
    ) -> None:
        if failure is None:
            pipeline.psrp.complete()
            return
        record = failure.to_error_record(command)
        if not failure.terminating:
            pipeline.psrp.write_error(
                record.Exception,
                record.CategoryInfo,
                record.TargetObject,
                record.FullyQualifiedErrorId,
            )
            pipeline.psrp.complete()
            return
        state = PipelineState(
            PipelineState=int(PSInvocationState.Failed), ExceptionAsErrorRecord=record
        )
        pipeline.psrp.prepare_message(state)
        pipeline.psrp.state = PSInvocationState.Failed

    def stop(self, pipeline: RunningPipeline) -> None:
        """Ctrl+C: a running pipeline ends Stopped with PipelineStoppedException."""
        if pipeline.psrp.state == PSInvocationState.Running:
            if pipeline.task is not None:
                pipeline.task.cancel()
            pipeline.psrp.stop()
            self._flush()

    def terminate(self, pipeline: RunningPipeline) -> None:
        """Signal Terminate: stop if needed and forget the pipeline."""
        self.stop(pipeline)
        pipeline.psrp.close()
        self.pipelines.pop(pipeline.command_id, None)
        self._outgoing.pop(pipeline.psrp.pipeline_id, None)

    def close(self) -> None:
        for pipeline in list(self.pipelines.values()):
            self.terminate(pipeline)

    def _flush(self) -> None:
        while (payload := self.pool.data_to_send(self._fragment_size)) is not None:
            self._outgoing.setdefault(payload.pipeline_id, deque()).append(payload.data)

    async def notify(self) -> None:
        """Wake waiting Receives after new output was queued."""
        async with self._changed:
            self._changed.notify_all()

    async def take(
        self, pipeline: RunningPipeline | None, budget: int, timeout: float
    ) -> tuple[list[bytes], bool]:
        """Wait up to `timeout` for output of the pool (or one pipeline) and take what fits.

        Returns the payloads and whether the pipeline is done and drained; raises
        TimeoutError when nothing arrived in time, as Windows answers w:TimedOut.
        """
        key = pipeline.psrp.pipeline_id if pipeline else None

        def ready() -> bool:
            return bool(self._outgoing.get(key)) or (pipeline is not None and pipeline.finished)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(ready), timeout)
        queue = self._outgoing.get(key, deque())
        taken: list[bytes] = []
        used = 0
        while queue and (not taken or used + len(queue[0]) <= budget):
            used += len(queue[0])
            taken.append(queue.popleft())
        done = pipeline is not None and pipeline.finished and not queue
        return taken, done
