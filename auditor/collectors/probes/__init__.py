"""Credential-free network probes: what a listener reveals to anyone who connects."""

from auditor.collectors.probes.rdp import RDPFacts, probe_rdp
from auditor.collectors.probes.tls import CertificateFacts, TLSFacts, TLSProbeError, probe_tls
from auditor.collectors.probes.winrm import IdentifyFacts, WinRMFacts, probe_winrm

__all__ = [
    "CertificateFacts",
    "IdentifyFacts",
    "RDPFacts",
    "TLSFacts",
    "TLSProbeError",
    "WinRMFacts",
    "probe_rdp",
    "probe_tls",
    "probe_winrm",
]
