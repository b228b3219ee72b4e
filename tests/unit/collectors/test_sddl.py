"""What a DACL grants each SID: the RootSDDL reading behind winrm-root-sddl."""

from __future__ import annotations

from auditor.collectors.sddl import Grant, allowed_sids, grants
from auditor.engine.evaluate import evaluate
from auditor.facts.model import Available, DocumentKind, FactDocument, Target
from auditor.results.vocabulary import Severity, Status
from auditor.rules.pack import load_pack

# Windows' defaults: Server 2012 R2 to 2025 (pypsrp's recordings, test_wsman_config.py) and
# Server 2008 R2 (quoted in zenoss/microsoft.tools issue #36 and MicrosoftDocs/win32 PR #2194).
DEFAULT_2012R2 = "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)"
DEFAULT_2008R2 = "O:NSG:BAD:P(A;;GA;;;BA)S:P(AU;FA;GA;;;WD)(AU;SA;GWGX;;;WD)"


def root_sddl_findings(sddl: str) -> tuple[Status, dict[str, Severity]]:
    (rule,) = [r for r in load_pack() if r.id == "winrm-root-sddl"]
    given = [{"sid": g.sid, "rights": list(g.rights)} for g in grants(sddl)]
    fact = Available({"sddl": sddl, "grants": given})
    doc = FactDocument(Target(DocumentKind.HOST, "srv01"), {"winrm.service.root_sddl": fact}, "now")
    result = evaluate(rule, doc)
    return result.status, {str(f.object): f.severity for f in result.findings}


def test_windows_defaults_grant_administrators_all_and_interactive_read() -> None:
    assert grants(DEFAULT_2012R2) == [Grant("S-1-5-32-544", ("GA",)), Grant("S-1-5-4", ("GR",))]
    assert grants(DEFAULT_2008R2) == [Grant("S-1-5-32-544", ("GA",))]
    assert root_sddl_findings(DEFAULT_2012R2) == (Status.PASS, {})
    assert root_sddl_findings(DEFAULT_2008R2) == (Status.PASS, {})


def test_a_read_grant_to_authenticated_users_is_a_finding() -> None:
    """The old reading kept only rights beyond read, so (A;;GR;;;AU) passed."""
    sddl = DEFAULT_2012R2.replace("S:P", "(A;;GR;;;AU)S:P")
    assert Grant("S-1-5-11", ("GR",)) in grants(sddl)
    assert root_sddl_findings(sddl) == (Status.FAIL, {"S-1-5-11": Severity.MEDIUM})


def test_broad_groups_beyond_read_escalate_and_masks_count_as_letters() -> None:
    sddl = "O:NSG:BAD:P(A;;GA;;;BA)(A;;0xA0000000;;;WD)(A;;GXGR;;;S-1-5-21-1-2-3-513)S:P"
    assert grants(sddl)[1:] == [
        Grant("S-1-1-0", ("GR", "GX")),
        Grant("S-1-5-21-1-2-3-513", ("GR", "GX")),
    ]
    assert root_sddl_findings(sddl) == (
        Status.FAIL,
        {"S-1-1-0": Severity.HIGH, "S-1-5-21-1-2-3-513": Severity.HIGH},
    )


def test_interactive_beyond_read_is_reported() -> None:
    sddl = "O:NSG:BAD:P(A;;GA;;;BA)(A;;GXGR;;;IU)"
    assert root_sddl_findings(sddl) == (Status.FAIL, {"S-1-5-4": Severity.MEDIUM})


def test_deny_entries_before_an_allow_and_inherit_only_entries() -> None:
    sddl = "D:(D;;GX;;;AU)(A;;GXGR;;;AU)(D;;GA;;;BU)(A;;GA;;;BU)(A;OICIIO;GA;;;CO)(A;;0x10001;;;NU)"
    assert grants(sddl) == [Grant("S-1-5-11", ("GR",)), Grant("S-1-5-2", ("0x10001",))]


def test_session_configuration_reading_still_ignores_read_only_grants() -> None:
    """A plug-in's users need execute (Invoke) to open a session: read alone does not let in."""
    assert allowed_sids("O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;AU)") == ["S-1-5-32-544"]
