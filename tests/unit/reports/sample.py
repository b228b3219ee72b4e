"""Scan results built in code for report tests: every status, hostile strings, a large estate."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditor.facts.model import DocumentKind
from auditor.results.model import (
    Finding,
    RuleResult,
    ScanMetadata,
    ScanResult,
    TargetInfo,
    TargetStatus,
)
from auditor.results.vocabulary import Severity, Status
from auditor.rules.model import Remediation, Rule, Scope

# Markup that would run if a report passed it through unescaped: each leaves a trace the
# Chromium test looks for (a changed title, an element with id "xss-marker").
SCRIPT = "<script>document.title='pwned'</script>"
IMG = (
    "<img src=x onerror=\"document.body.appendChild(document.createElement('b')).id='xss-marker'\">"
)
QUOTES = "\"'"
FORMULA = "=cmd|' /C calc'!A0"
UNICODE = "Ünïcødé 管理"
MARKDOWN = "**bold** _it_ [link](http://evil.example) # | `tick` ~x~"


def rule(
    rule_id: str,
    severity: Severity,
    area: str,
    *,
    title: str = "",
    kind: DocumentKind = DocumentKind.HOST,
    remediation: Remediation | None = None,
    references: tuple[str, ...] = (),
    mappings: Mapping[str, tuple[str, ...]] | None = None,
    expected: str = "the setting is hardened",
) -> Rule:
    """A real Rule, so `metadata()` has exactly the shape scans produce."""
    return Rule(
        id=rule_id,
        title=title or f"{rule_id} is configured safely",
        severity=severity,
        area=area,
        scope=Scope(kind),
        description=f"What {rule_id} checks.",
        rationale="Why it matters.",
        impact="What changes when it is fixed.",
        remediation=remediation or Remediation(f"Fix {rule_id}."),
        references=references,
        facts=(),
        optional_facts=(),
        registry=(),
        parameters={},
        condition="true",
        expected=expected,
        evidence={},
        objects=None,
        fixtures=(),
        tags=(area,),
        path=Path(f"{rule_id}.yaml"),
        mappings=dict(mappings or {}),
    )


def target(
    name: str,
    kind: str = "host",
    status: TargetStatus = TargetStatus.COMPLETE,
    reason: str | None = None,
) -> TargetInfo:
    return TargetInfo(
        f"{kind}:{name.lower()}",
        kind,
        name,
        None if kind == "domain" else "10.0.0.1",
        ("member_server",) if kind == "host" else (),
        status,
        reason,
        None if status is TargetStatus.FAILED else "2024-05-01T10:00:00Z",
    )


DOMAIN = target("corp.example", "domain")
FS01 = target("fs01.corp.example")
DC01 = target("dc01.corp.example")
HOSTILE_HOST = target(f"ws-{UNICODE}-{SCRIPT}")
PARTIAL = target(
    "web01.corp.example", status=TargetStatus.PARTIAL, reason="some facts could not be gathered"
)
OFFLINE = target(
    "offline01.corp.example",
    status=TargetStatus.FAILED,
    reason=f"host_unreachable: connection refused {IMG}",
)
HOSTS = (FS01, DC01, HOSTILE_HOST, PARTIAL, OFFLINE)

DELEGATION = rule(
    "ad-unconstrained-delegation",
    Severity.HIGH,
    "delegation",
    kind=DocumentKind.DOMAIN,
    title="No account outside the domain controllers is trusted for unconstrained delegation",
    remediation=Remediation(
        "Remove unconstrained delegation.",
        powershell=f"Set-ADAccountControl -Identity '<account>' -TrustedForDelegation 0 {SCRIPT}",
        gpo="Not a Group Policy setting.",
    ),
    references=("https://attack.mitre.org/techniques/T1558/", "javascript:alert(1)"),
    mappings={"mitre": ("T1558",)},
    expected="no non-DC account has TRUSTED_FOR_DELEGATION",
)
BASIC = rule(
    "winrm-service-basic-auth",
    Severity.HIGH,
    "winrm",
    title="WinRM service refuses Basic authentication",
    remediation=Remediation(
        "Disable Basic on the WinRM service.",
        powershell="Set-Item -Path WSMan:\\localhost\\Service\\Auth\\Basic -Value $false",
        gpo="Computer Configuration > Administrative Templates > Windows Remote Management",
        registry="HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WinRM\\Service\\AllowBasic = 0",
    ),
    references=(
        "https://learn.microsoft.com/en-us/windows/win32/winrm/authentication-for-remote-connections",
    ),
    mappings={"mitre": ("T1021.006", "T1040")},
    expected="Basic = false in winrm/config/service/auth",
)
HTTP_LISTENER = rule(
    "winrm-http-listener",
    Severity.MEDIUM,
    "winrm",
    title=f"No WinRM listener accepts plain HTTP {QUOTES}",
    expected=f"no HTTP listener {MARKDOWN}",
)
SMB_SIGNING = rule("smb-signing-required", Severity.LOW, "smb")
RDP_NLA = rule("rdp-nla-required", Severity.CRITICAL, "rdp", expected="NLA required")
SPOOLER = rule("dc-print-spooler-disabled", Severity.INFO, "services")
RULES = (DELEGATION, BASIC, HTTP_LISTENER, SMB_SIGNING, RDP_NLA, SPOOLER)

OFFLINE_REASON = "target unavailable (host_unreachable: connection refused)"


def _host_results(host: TargetInfo) -> list[RuleResult]:
    """The host rules on one host; what each host fails is chosen to cover every status."""
    tid = host.id
    if host is OFFLINE:
        return [
            RuleResult(r.id, tid, Status.ERROR, r.severity, reason=OFFLINE_REASON)
            for r in RULES
            if r.scope.target is DocumentKind.HOST
        ]
    basic_on = {"configured": True, "offered_on_http": host is FS01, "offered_on_https": False}
    basic = (
        RuleResult(
            BASIC.id,
            tid,
            Status.FAIL,
            Severity.HIGH,
            evidence=basic_on,
            sources={"winrm.service.auth.basic": "policy"},
            findings=(Finding(None, None, Severity.HIGH, basic_on),),
        )
        if host in (FS01, HOSTILE_HOST)
        else RuleResult(
            BASIC.id,
            tid,
            Status.PASS,
            Severity.HIGH,
            evidence={"configured": False},
            sources={"winrm.service.auth.basic": "default"},
        )
    )
    listener_evidence = {"listeners": [f"http/* {FORMULA}"], "note": f"{SCRIPT} {QUOTES} {UNICODE}"}
    listener = (
        RuleResult(
            HTTP_LISTENER.id,
            tid,
            Status.FAIL,
            Severity.MEDIUM,
            evidence=listener_evidence,
            sources={"winrm.listeners": "local"},
            findings=(
                Finding(
                    FORMULA,
                    IMG,
                    Severity.MEDIUM,
                    {"port": 5985, "hostname": f"{UNICODE} {MARKDOWN}"},
                ),
            ),
        )
        if host is HOSTILE_HOST
        else RuleResult(HTTP_LISTENER.id, tid, Status.PASS, Severity.MEDIUM)
    )
    rdp = (
        RuleResult(
            RDP_NLA.id,
            tid,
            Status.ERROR,
            Severity.CRITICAL,
            reason=f"reg.nla unavailable (access_denied: {SCRIPT})",
        )
        if host is PARTIAL
        else RuleResult(
            RDP_NLA.id,
            tid,
            Status.FAIL,
            Severity.CRITICAL,
            evidence={"UserAuthentication": 0},
            sources={"reg.nla": "local"},
            findings=(Finding(None, None, Severity.CRITICAL, {"UserAuthentication": 0}),),
        )
        if host is FS01
        else RuleResult(
            RDP_NLA.id,
            tid,
            Status.PASS,
            Severity.CRITICAL,
            evidence={"UserAuthentication": 1},
            sources={"reg.nla": "policy"},
        )
    )
    smb = RuleResult(
        SMB_SIGNING.id,
        tid,
        Status.PASS,
        Severity.LOW,
        evidence={"RequireSecuritySignature": 1},
        sources={"reg.server": "default"},
    )
    spooler = RuleResult(
        SPOOLER.id, tid, Status.NOT_APPLICABLE, Severity.INFO, reason="outside the rule's scope"
    )
    return [basic, listener, smb, rdp, spooler]


def _delegation() -> RuleResult:
    """An object-list failure: one finding per account, one escalated to critical."""
    findings = (
        Finding(
            f"CN={SCRIPT},OU=Servers,DC=corp",
            IMG,
            Severity.HIGH,
            {"account": FORMULA, "enabled": True, "flags": ["TRUSTED_FOR_DELEGATION"]},
        ),
        Finding(
            f"CN={UNICODE},OU=Servers,DC=corp",
            f"{UNICODE}$",
            Severity.CRITICAL,
            {"account": f"{UNICODE}$", "enabled": True, "flags": [QUOTES]},
        ),
    )
    return RuleResult(
        DELEGATION.id,
        DOMAIN.id,
        Status.FAIL,
        Severity.CRITICAL,
        sources={"accounts": "directory"},
        findings=findings,
    )


def make_result() -> ScanResult:
    """Six rules on a domain and five hosts: every status, a failed target, hostile strings."""
    results = [_delegation()]
    for host in HOSTS:
        results.extend(_host_results(host))
    return ScanResult(
        metadata=ScanMetadata(
            "0.1.0",
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:02:00Z",
            f"auditor scan --insecure --targets hosts.txt {QUOTES}",
            {"insecure": True, "targets": [h.name for h in HOSTS], "note": SCRIPT},
            (f"--insecure: TLS certificates were not verified {SCRIPT}",),
        ),
        targets=(DOMAIN, *HOSTS),
        rules={r.id: r.metadata() for r in RULES},
        results=tuple(results),
    )


_SEVERITIES = list(Severity)
_AREAS = ("winrm", "rdp", "smb", "kerberos", "ntlm", "tls", "delegation", "services")


def make_large_result(hosts: int = 1000, rules: int = 60, seed: int = 7) -> ScanResult:
    """A plausible estate: ~15% failing, ~3% undecided, 2% unreachable hosts, some object lists."""
    rng = random.Random(seed)
    rule_list = [
        rule(
            f"rule-{i:02d}",
            _SEVERITIES[i % 5],
            _AREAS[i % len(_AREAS)],
            title=f"Setting {i} of {_AREAS[i % len(_AREAS)]} is hardened",
        )
        for i in range(rules)
    ]
    targets: list[TargetInfo] = []
    results: list[RuleResult] = []
    for h in range(hosts):
        failed = rng.random() < 0.02
        info = target(
            f"host-{h:04d}.corp.example",
            status=TargetStatus.FAILED if failed else TargetStatus.COMPLETE,
            reason="host_unreachable: timed out" if failed else None,
        )
        targets.append(info)
        for i, r in enumerate(rule_list):
            results.append(_large_result(rng, r, info.id, failed, object_list=i % 6 == 0))
    return ScanResult(
        metadata=ScanMetadata(
            "0.1.0",
            "2024-05-01T10:00:00Z",
            "2024-05-01T11:00:00Z",
            "auditor scan --targets estate.txt",
            {},
            (),
        ),
        targets=tuple(targets),
        rules={r.id: r.metadata() for r in rule_list},
        results=tuple(results),
    )


def _large_result(
    rng: random.Random, r: Rule, tid: str, failed: bool, object_list: bool
) -> RuleResult:
    roll = rng.random()
    if failed or roll < 0.03:
        return RuleResult(
            r.id,
            tid,
            Status.ERROR,
            r.severity,
            reason="winrm.service unavailable (access_denied: WinRM refused the query)",
        )
    if roll < 0.18:
        evidence: dict[str, Any] = {"configured": rng.choice([0, 1, 2]), "expected": 1}
        findings = (
            tuple(
                Finding(
                    f"C:\\Shares\\share{k}",
                    f"share{k}",
                    r.severity,
                    {"everyone": "FullControl", "path": f"C:\\Shares\\share{k}"},
                )
                for k in range(rng.randint(1, 4))
            )
            if object_list
            else (Finding(None, None, r.severity, evidence),)
        )
        return RuleResult(
            r.id,
            tid,
            Status.FAIL,
            r.severity,
            evidence={} if object_list else evidence,
            sources={"reg.setting": rng.choice(["policy", "local", "default"])},
            findings=findings,
        )
    if roll < 0.22:
        return RuleResult(
            r.id, tid, Status.NOT_APPLICABLE, r.severity, reason="outside the rule's scope"
        )
    return RuleResult(
        r.id,
        tid,
        Status.PASS,
        r.severity,
        evidence={"configured": 1},
        sources={"reg.setting": "policy"},
    )
