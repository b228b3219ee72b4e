"""The IIS rules on applicationHost.config files real Exchange 2019 servers wrote (tests/data/
windows/iis/README.md), answered as collect.ps1 answers its `iis` section and parsed by the
scanner's own response parser: sslFlags "Ssl, Ssl128" is SSL required, tokenChecking "Require"
is Extended Protection required, in every form IIS accepts."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from auditor.collectors.winrm.response import parse_response
from auditor.engine.evaluate import evaluate
from auditor.facts.model import DocumentKind, FactDocument, Target
from auditor.results.model import RuleResult
from auditor.results.vocabulary import Status
from auditor.rules.pack import load_pack

DATA = Path(__file__).resolve().parents[2] / "data" / "windows" / "iis"
NOT_CONFIGURED = (DATA / "exchange2019-applicationHost.config").read_text("utf-8")
EXTENDED_PROTECTION = (DATA / "exchange2019-extended-protection-applicationHost.config").read_text(
    "utf-8"
)
SITE_WEB_CONFIG = (DATA / "exchange-DefaultWebSite-web.config").read_text("utf-8")
RULES = {rule.id: rule for rule in load_pack() if rule.id.startswith("iis-")}
DWS, BACK_END = "Default Web Site", "Exchange Back End"


def _file(path: str, text: str | None) -> dict[str, Any]:
    if text is None:
        return {"path": path, "present": False, "size": None, "text": None}
    return {"path": path, "present": True, "size": len(text.encode()), "text": text}


def iis_answer(apphost: str) -> dict[str, Any]:
    """What collect.ps1 sends for this applicationHost.config: the Default Web Site's root
    web.config is Exchange's own; the other applications have none."""
    web_configs = []
    for site in ET.fromstring(apphost).iter("site"):
        for app in site.findall("application"):
            root = site.get("name") == DWS and app.get("path") == "/"
            entry = _file("C:\\inetpub\\wwwroot\\web.config", SITE_WEB_CONFIG if root else None)
            web_configs.append(entry | {"site": site.get("name"), "application": app.get("path")})
    return {
        "application_host": _file(
            "C:\\Windows\\System32\\inetsrv\\config\\applicationHost.config", apphost
        ),
        "redirection": _file("C:\\Windows\\System32\\inetsrv\\config\\redirection.config", None),
        "web_configs": web_configs,
    }


def host(apphost: str) -> FactDocument:
    answer = {
        "version": 1,
        "collected_at": "2026-01-01T00:00:00Z",
        "registry": {},
        "sections": {
            "os": {
                "ok": {
                    "caption": "Windows Server 2019",
                    "version": "10.0.17763",
                    "build": 17763,
                    "product_type": 3,
                }
            },
            "services": {"ok": {"W3SVC": {"state": "Running", "start_mode": "Automatic"}}},
            "iis": {"ok": iis_answer(apphost)},
        },
    }
    facts, registry = parse_response(json.dumps(answer), ["os", "services", "iis"])
    return FactDocument(
        Target(DocumentKind.HOST, "exch01", roles=("member_server", "iis")),
        facts,
        "2026-01-01T00:00:00Z",
        registry=registry,
    )


def run(rule_id: str, apphost: str) -> RuleResult:
    return evaluate(RULES[rule_id], host(apphost))


def offenders(result: RuleResult) -> dict[str, Any]:
    assert result.status is Status.FAIL, result
    return {finding.object: finding.evidence["paths"] for finding in result.findings}


def https_only(apphost: str) -> str:
    """The same servers with their plain-http bindings removed."""
    lines = apphost.splitlines(keepends=True)
    return "".join(line for line in lines if 'protocol="http" ' not in line)


def test_extended_protection_configured_exchange_fails_only_where_it_is_not_required() -> None:
    """Exchange's Extended Protection script leaves EWS on Allow and Autodiscover on None."""
    found = offenders(run("iis-extended-protection", EXTENDED_PROTECTION))
    assert {site: [p["path"] for p in paths] for site, paths in found.items()} == {
        DWS: ["/EWS", "/Autodiscover"],
        BACK_END: ["/Autodiscover"],
    }
    assert [p["token_checking"] for p in found[DWS]] == ["Allow", "None"]


def test_extended_protection_not_configured_exchange_fails_everywhere_windows_auth_is_on() -> None:
    found = offenders(run("iis-extended-protection", NOT_CONFIGURED))
    assert [p["path"] for p in found[DWS]] == [
        "/owa/Integrated", "/EWS", "/API", "/Autodiscover", "/OAB", "/mapi", "/Rpc",
    ]  # fmt: skip
    assert [p["path"] for p in found[BACK_END]] == [
        "/PowerShell", "/mapi/emsmdb", "/mapi/nspi", "/API", "/owa", "/OAB", "/ecp",
        "/Autodiscover", "/EWS", "/Rpc", "/RpcWithCert", "/PushNotifications",
    ]  # fmt: skip


def test_basic_behind_required_ssl_fails_only_for_the_http_bindings() -> None:
    found = offenders(run("iis-basic-auth-without-tls", NOT_CONFIGURED))
    assert found == {
        DWS: [
            "/owa (SSL required)",
            "/owa/oma (SSL required)",
            "/ecp (SSL required)",
            "/Autodiscover (SSL required)",
            "/Microsoft-Server-ActiveSync (SSL required)",
            "/Rpc (SSL not required)",
        ],
        BACK_END: ["/Microsoft-Server-ActiveSync (SSL required)"],
    }


def test_ssl_ssl128_counts_as_ssl_required() -> None:
    """Without the http bindings only /Rpc (sslFlags None) is left: "Ssl, Ssl128" passes."""
    found = offenders(run("iis-basic-auth-without-tls", https_only(NOT_CONFIGURED)))
    assert found == {DWS: ["/Rpc (SSL not required)"]}


ACTIVESYNC_SSL = '<access sslFlags="Ssl, Ssl128" />\n            </security>\n        </system.webServer>\n    </location>\n    <location path="Default Web Site/Microsoft-Server-ActiveSync/Proxy">'


# IIS writes names ("Ssl, Ssl128"); it also reads comma lists without spaces, any case and the
# numbers (Ssl=8, SslNegotiateCert=32, Ssl128=256). No real file with numbers was found: these
# change the real file's ActiveSync value.
@pytest.mark.parametrize(
    ("value", "required"),
    [
        ("Ssl", True),
        ("ssl", True),
        ("Ssl,Ssl128", True),
        ("Ssl, SslNegotiateCert, SslRequireCert", True),
        ("8", True),
        ("264", True),
        ("40", True),
        ("None", False),
        ("0", False),
        ("Ssl128", False),
        ("256", False),
        ("SslNegotiateCert", False),
    ],
)
def test_ssl_flags_in_every_form(value: str, required: bool) -> None:
    assert https_only(NOT_CONFIGURED).count(ACTIVESYNC_SSL) == 1
    apphost = https_only(NOT_CONFIGURED).replace(
        ACTIVESYNC_SSL, ACTIVESYNC_SSL.replace('"Ssl, Ssl128"', f'"{value}"')
    )
    found = offenders(run("iis-basic-auth-without-tls", apphost))
    expected = ["/Rpc (SSL not required)"]
    if not required:
        expected.insert(0, "/Microsoft-Server-ActiveSync (SSL not required)")
    assert found == {DWS: expected}


EWS_ALLOW = 'tokenChecking="Allow" flags="None"'


@pytest.mark.parametrize(
    ("value", "required"),
    [
        ("Require", True),
        ("require", True),
        ("2", True),
        ("Allow", False),
        ("1", False),
        ("0", False),
    ],
)
def test_token_checking_in_every_form(value: str, required: bool) -> None:
    assert EXTENDED_PROTECTION.count(EWS_ALLOW) == 1
    apphost = EXTENDED_PROTECTION.replace(EWS_ALLOW, f'tokenChecking="{value}" flags="None"')
    found = offenders(run("iis-extended-protection", apphost))
    expected = ["/Autodiscover"] if required else ["/EWS", "/Autodiscover"]
    assert [p["path"] for p in found[DWS]] == expected


@pytest.mark.parametrize("value", ["Sssl", "512", "", "Ssl,,Ssl128"])
def test_a_value_iis_would_refuse_is_an_error_never_a_pass(value: str) -> None:
    apphost = NOT_CONFIGURED.replace(
        ACTIVESYNC_SSL, ACTIVESYNC_SSL.replace('"Ssl, Ssl128"', f'"{value}"')
    )
    result = run("iis-basic-auth-without-tls", apphost)
    assert result.status is Status.ERROR
    assert "sslFlags" in (result.reason or "")
