"""What an emulated host runs for a PowerShell pipeline: the handler protocol and its errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psrpcore.types import ErrorCategory, ErrorCategoryInfo, ErrorRecord, NETException

_RUNTIME_EXCEPTION_TYPES = (
    "System.Management.Automation.RuntimeException",
    "System.SystemException",
    "System.Exception",
    "System.Object",
)
# Every PowerShell error derived from RuntimeException carries this HResult (COR_E_SYSTEM).
_RUNTIME_HRESULT = -2146233087


@dataclass(frozen=True)
class PipelineCommand:
    """One command of a pipeline as the client sent it.

    `name` is the script text when `is_script`, else the command name. Named
    parameters land in `parameters` (a switch is `True`), positional ones in
    `arguments`, both as psrpcore deserialised them.
    """

    name: str
    is_script: bool
    parameters: Mapping[str, Any] = field(default_factory=dict, hash=False)
    arguments: tuple[Any, ...] = ()


@dataclass(frozen=True)
class PipelineRequest:
    """A pipeline the client asked the host to run, with who asked and what they piped in."""

    hostname: str
    user: str
    commands: tuple[PipelineCommand, ...]
    input: tuple[Any, ...] = ()


class CommandFailed(Exception):
    """Raised by a pipeline handler to fail the pipeline the way PowerShell does.

    A non-terminating error (the default, what `Write-Error` or a script that
    calls an unknown command produce) becomes an ErrorRecord on the error stream
    and the pipeline still completes; a terminating one fails the pipeline and
    travels in its PipelineState message, as a cmdlet that throws does.
    """

    def __init__(
        self,
        message: str,
        error_id: str,
        category: str = "NotSpecified",
        *,
        target_object: str | None = None,
        exception_type: str = "System.Management.Automation.RuntimeException",
        terminating: bool = False,
        activity: str | None = None,
    ) -> None:
        if category not in ErrorCategory.__members__:
            raise ValueError(f"CommandFailed: unknown ErrorCategory {category!r}")
        super().__init__(message)
        self.message = message
        self.error_id = error_id
        self.category = category
        self.target_object = target_object
        self.exception_type = exception_type
        self.terminating = terminating
        self.activity = activity

    def to_error_record(self, command: str) -> ErrorRecord:
        """The ErrorRecord a Windows host would serialise for this failure of `command`.

        The category's activity is the failing command unless the error says
        otherwise (an unknown command has none).
        """
        exception = NETException(Message=self.message, HResult=_RUNTIME_HRESULT)
        type_names = [self.exception_type]
        type_names.extend(t for t in _RUNTIME_EXCEPTION_TYPES if t != self.exception_type)
        exception.PSObject.type_names = type_names
        reason = self.exception_type.rsplit(".", 1)[-1]
        return ErrorRecord(
            Exception=exception,
            CategoryInfo=ErrorCategoryInfo(
                Category=ErrorCategory[self.category],
                Activity=command if self.activity is None else self.activity,
                Reason=reason,
                TargetName=self.target_object or "",
                TargetType="String" if self.target_object is not None else "",
            ),
            TargetObject=self.target_object,
            FullyQualifiedErrorId=self.error_id,
        )


PipelineHandler = Callable[[PipelineRequest], Sequence[object]]


def command_not_found(name: str, *, terminating: bool) -> CommandFailed:
    """The error PowerShell raises for a name that is no cmdlet, function, script or program."""
    return CommandFailed(
        f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, "
        "or operable program. Check the spelling of the name, or if a path was included, "
        "verify that the path is correct and try again.",
        "CommandNotFoundException",
        "ObjectNotFound",
        target_object=name,
        exception_type="System.Management.Automation.CommandNotFoundException",
        terminating=terminating,
        activity="",
    )


def default_pipeline_handler(request: PipelineRequest) -> Sequence[object]:
    """Know no command at all: answer as Windows does for an unknown command.

    Run through `add_cmd`, the unknown command is a terminating error; inside a
    script, PowerShell reports it on the error stream and goes on.
    """
    first = request.commands[0]
    if first.is_script:
        words = first.name.split()
        raise command_not_found(words[0] if words else first.name, terminating=False)
    raise command_not_found(first.name, terminating=True)
