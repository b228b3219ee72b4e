"""WS-Management faults with the codes, texts and layout a Windows host sends (HTTP 500)."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.lab.winrm.soap import Element, el, envelope

WSMAN_FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
ADDRESSING_FAULT_ACTION = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"
_FAULT_DETAIL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"
_FAULT_PREFIXES = ("s", "a", "x", "e", "n", "w", "p")
# ERROR_WSMAN_* values as the WSManFault Code attribute carries them.
CODE_OPERATION_TIMEOUT = 2150858793
CODE_INVALID_SELECTORS = 2150858843
CODE_INVALID_HEADER = 2150858767


@dataclass(frozen=True)
class ProviderFault:
    """The plug-in that raised a fault, as Windows names it inside f:Message."""

    provider: str
    path: str
    nested: bool


SHELL_PROVIDER = ProviderFault("Shell provider", "%systemroot%\\system32\\WsmSvc.dll", nested=True)


class WSManFault(Exception):
    """A fault to answer instead of the operation's response."""

    def __init__(
        self,
        code: int,
        subcode: str,
        reason: str,
        message: str | None = None,
        *,
        receiver: bool = False,
        detail: str | None = None,
        action: str = WSMAN_FAULT_ACTION,
        provider: ProviderFault | None = None,
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.subcode = subcode
        self.reason = reason
        self.message = message if message is not None else reason
        self.receiver = receiver
        self.detail = detail
        self.action = action
        self.provider = provider

    def to_envelope(self, machine: str, relates_to: str) -> bytes:
        """The s:Fault envelope, wsmanfault:WSManFault in the detail."""
        inner_message: Element | str = self.message
        if self.provider is not None:
            provider_content: Element | str = (
                _wsman_fault(self.code, machine, self.message)
                if self.provider.nested
                else self.message
            )
            inner_message = el(
                "f:ProviderFault",
                provider_content,
                provider=self.provider.provider,
                path=self.provider.path,
            )
        fault = el(
            "s:Fault",
            el(
                "s:Code",
                el("s:Value", "s:Receiver" if self.receiver else "s:Sender"),
                el("s:Subcode", el("s:Value", self.subcode)),
            ),
            el("s:Reason", el("s:Text", self.reason, xml_lang="en-US")),
            el(
                "s:Detail",
                el("w:FaultDetail", _FAULT_DETAIL + self.detail) if self.detail else None,
                _wsman_fault(self.code, machine, inner_message),
            ),
        )
        return envelope(_FAULT_PREFIXES, self.action, relates_to, [fault])


def _wsman_fault(code: int, machine: str, message: Element | str) -> Element:
    return el(
        "f:WSManFault",
        el("f:Message", message),
        xmlns_f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
        Code=str(code),
        Machine=machine,
    )


def access_denied() -> WSManFault:
    """RootSDDL (or the plug-in) does not grant the user the right the operation needs."""
    return WSManFault(5, "w:AccessDenied", "Access is denied. ")


def resource_not_found() -> WSManFault:
    """A resource URI the service does not serve (MS-WSMV 4.10)."""
    return WSManFault(
        2150858752,
        "a:DestinationUnreachable",
        "The WS-Management service cannot process the request. The service cannot find the "
        "resource identified by the resource URI and selectors. ",
        detail="InvalidResourceURI",
        action=ADDRESSING_FAULT_ACTION,
    )


def action_not_supported(action: str) -> WSManFault:
    """An action the resource does not implement."""
    return WSManFault(
        2150858771,
        "a:ActionNotSupported",
        "The WS-Management service cannot process the request because the action is not "
        f"supported for the resource: {action}. ",
        action=ADDRESSING_FAULT_ACTION,
    )


def invalid_header(message: str) -> WSManFault:
    """An invalid SOAP header, such as a negative OperationTimeout (recorded from Windows)."""
    return WSManFault(
        CODE_INVALID_HEADER,
        "a:InvalidMessageInformationHeader",
        "The WS-Management service cannot process the request. The request contains one or "
        "more invalid SOAP headers. ",
        message,
        action=ADDRESSING_FAULT_ACTION,
    )


def invalid_selectors(*, provider: ProviderFault | None = None) -> WSManFault:
    """Selectors that name no instance, e.g. a Get of a shell that does not exist."""
    reason = (
        "The WS-Management service cannot process the request because the request contained "
        "invalid selectors for the resource. "
    )
    return WSManFault(
        CODE_INVALID_SELECTORS,
        "w:InvalidSelectors",
        reason,
        detail="UnexpectedSelectors",
        provider=provider,
    )


def shell_not_found(shell_id: str) -> WSManFault:
    """A shell operation on a ShellId the server does not know."""
    return WSManFault(
        CODE_INVALID_SELECTORS,
        "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained "
        "invalid selectors for the resource. ",
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the "
        "shell was not found on the server. Possible causes are: the specified ShellId is "
        "incorrect or the shell no longer exists on the server. Provide the correct ShellId or "
        "create a new shell and retry the operation. ",
        detail="UnexpectedSelectors",
    )


def command_id_not_found() -> WSManFault:
    """A Receive/Signal/Send for a CommandId the shell does not know (recorded from Windows)."""
    return WSManFault(
        CODE_INVALID_SELECTORS,
        "w:InvalidSelectors",
        "The WS-Management service cannot process the request because the request contained "
        "invalid selectors for the resource. ",
        "The Windows Remote Shell received a request to perform an operation on a command "
        "identifier that does not exist. Either the command has completed execution or the "
        "client specified an invalid command identifier. ",
        detail="UnexpectedSelectors",
    )


def operation_timed_out() -> WSManFault:
    """A Receive with nothing to return within OperationTimeout (recorded from Windows)."""
    text = (
        "The WS-Management service cannot complete the operation within the time specified in "
        "OperationTimeout.  "
    )
    return WSManFault(CODE_OPERATION_TIMEOUT, "w:TimedOut", text, receiver=True)


def quota_limit(message: str) -> WSManFault:
    """A winrs or plug-in limit reached, such as MaxShellsPerUser (MS-WSMV 3.1.4.5.2.1)."""
    return WSManFault(2150859173, "w:QuotaLimit", message, receiver=True)


MAX_SHELLS_PER_USER_MESSAGE = (
    "The Windows Remote Shell cannot process the request. The server is already executing the "
    "maximum number of concurrent shells a user can remotely open on the same system. "
    "Retry later. "
)


def remote_shell_access_denied() -> WSManFault:
    """AllowRemoteShellAccess is false: new shells are refused with wsman:InternalError."""
    return WSManFault(
        2150859180,
        "w:InternalError",
        "The WS-Management service cannot process the request. This user is not allowed to "
        "open remote shells. ",
        receiver=True,
    )


def schema_validation_error() -> WSManFault:
    """A body that does not have the shape the operation requires."""
    return WSManFault(
        2150858817,
        "w:SchemaValidationError",
        "The SOAP XML in the message does not match the corresponding XML schema definition. "
        "Change the XML and retry. ",
    )


def invalid_enumeration_context() -> WSManFault:
    """A Pull with an EnumerationContext the server does not know (or that expired)."""
    return WSManFault(
        2150858789,
        "n:InvalidEnumerationContext",
        "The WS-Management service cannot process the request because the enumeration "
        "context supplied is not valid. ",
        receiver=True,
    )
