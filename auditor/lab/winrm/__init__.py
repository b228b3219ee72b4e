"""Emulated Windows hosts that speak WS-Management and PSRP well enough to fool pypsrp.

Part of the lab: it imports the lab's connection tracker and `auditor.wire`, nothing else."""

from auditor.lab.winrm.config import (
    POLICY_SETTING_NAMES,
    ClientAuth,
    ClientSettings,
    Faults,
    HostConfigError,
    Listener,
    ServiceAuth,
    ServiceSettings,
    WinRMHostConfig,
    WinrsSettings,
)
from auditor.lab.winrm.pipeline import (
    CommandFailed,
    PipelineCommand,
    PipelineHandler,
    PipelineRequest,
    default_pipeline_handler,
)
from auditor.lab.winrm.server import WinRMHostServer

__all__ = [
    "POLICY_SETTING_NAMES",
    "ClientAuth",
    "ClientSettings",
    "CommandFailed",
    "Faults",
    "HostConfigError",
    "Listener",
    "PipelineCommand",
    "PipelineHandler",
    "PipelineRequest",
    "ServiceAuth",
    "ServiceSettings",
    "WinRMHostConfig",
    "WinRMHostServer",
    "WinrsSettings",
    "default_pipeline_handler",
]
