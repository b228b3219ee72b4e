"""Credential-free network probes: what a listener reveals to anyone who connects.

They keep the probing logic; the protocol bytes come from `auditor.wire`, and what a
certificate says from `collectors/certificate.py`, which the host's stores are read with too."""

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
