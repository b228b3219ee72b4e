"""The IIS configuration parser (auditor/collectors/iis/) on the real Exchange 2019 files of
tests/data/windows/iis/: IIS's precedence, section locks, <identity>, what makes the fact
unavailable, and the lab's files read back as a real host's."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from auditor.collectors.iis.sites import iis_sites
from auditor.facts.model import Available, Reason, Unavailable
from auditor.lab.definition import load_definition
from auditor.lab.iis import iis_answer
from tests.integration.hostile.conftest import _web_host

DATA = Path(__file__).resolve().parents[2] / "data" / "windows" / "iis"
EXCHANGE = (DATA / "exchange2019-extended-protection-applicationHost.config").read_text("utf-8")
SITE_WEB_CONFIG = (DATA / "exchange-DefaultWebSite-web.config").read_text("utf-8")
DWS = "Default Web Site"


def _file(text: str | None) -> dict[str, Any]:
    if text is None:
        return {"path": "p", "present": False, "size": None, "text": None}
    return {"path": "p", "present": True, "size": len(text.encode()), "text": text}


def answer(apphost: str, web_configs: dict[tuple[str, str], Any] | None = None) -> dict[str, Any]:
    """collect.ps1's answer: one web_configs entry per application with a root directory."""
    entries = []
    for site in ET.fromstring(apphost).iter("site"):
        for app in site.findall("application"):
            key = (site.get("name", ""), app.get("path", ""))
            given = (web_configs or {}).get(key)
            entry = given if isinstance(given, dict) else _file(given)
            entries.append(entry | {"site": key[0], "application": key[1]})
    return {"application_host": _file(apphost), "redirection": _file(None), "web_configs": entries}


def sites(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    fact = iis_sites(raw)
    assert isinstance(fact, Available), fact
    return {
        f"{site['name']}{'' if app['path'] == '/' else app['path']}": app
        for site in fact.value
        for app in site["applications"]
    }


def unavailable(raw: dict[str, Any]) -> Unavailable:
    fact = iis_sites(raw)
    assert isinstance(fact, Unavailable), fact
    return fact


def with_location(apphost: str, location: str) -> str:
    return apphost.replace("\n</configuration>", f"\n{location}\n</configuration>")


def test_real_exchange_file_read_as_iis_reads_it() -> None:
    apps = sites(answer(EXCHANGE, {(DWS, "/"): SITE_WEB_CONFIG}))
    root, calendar = apps[DWS], apps[f"{DWS}/owa/Calendar"]
    assert root["ssl_flags"] == ["Ssl", "Ssl128"]  # <location path="Default Web Site">
    assert root["auth"]["anonymous"] == {"enabled": True, "user": "IUSR"}  # server level
    assert calendar["ssl_flags"] == []  # its own location says None
    # not set in its location: inherited from <location path="Default Web Site/owa">
    assert calendar["auth"]["windows"]["extended_protection"]["token_checking"] == "Require"
    mapi = apps[f"{DWS}/mapi"]["auth"]["windows"]
    assert mapi["providers"] == ["Negotiate", "NTLM"]  # the server-level collection
    assert mapi["use_kernel_mode"] is False
    assert "providers" not in apps[f"{DWS}/owa"]["auth"]["windows"]  # <clear /> and nothing
    assert apps[f"{DWS}/PowerShell"]["auth"]["windows"]["providers"] == ["Negotiate"]
    assert apps["Exchange Back End/PowerShell"]["ssl_flags"] == [
        "Ssl",
        "SslNegotiateCert",
        "Ssl128",
    ]
    assert root["impersonation"] == {
        "enabled": False,
        "user": None,
        "password_present": False,
        "password_encrypted": False,
    }


def test_real_bindings() -> None:
    fact = iis_sites(answer(EXCHANGE))
    assert isinstance(fact, Available)
    default_site = fact.value[0]
    assert (default_site["id"], default_site["app_pool"]) == (1, "MSExchangeOWAAppPool")
    assert default_site["bindings"][:2] == [
        {"protocol": "http", "port": 80, "host": "", "address": "*"},
        {"protocol": "net.tcp", "port": 0, "host": "", "address": ""},  # "808:*"
    ]
    assert default_site["bindings"][5] == {
        "protocol": "https",
        "port": 443,
        "host": "",
        "address": "*",
    }
    assert fact.value[1]["app_pool"] == "DefaultAppPool"  # <applicationDefaults>


BASIC_IN_WEB_CONFIG = """<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <system.webServer>
    <security>
      <authentication>
        <basicAuthentication enabled="true" />
      </authentication>
    </security>
  </system.webServer>
</configuration>
"""
# What `appcmd unlock config "Default Web Site" -section:basicAuthentication` writes.
UNLOCK_BASIC = """    <location path="Default Web Site" overrideMode="Allow">
        <system.webServer>
            <security>
                <authentication>
                    <basicAuthentication />
                </authentication>
            </security>
        </system.webServer>
    </location>"""


def test_a_locked_section_in_a_web_config_is_not_applied() -> None:
    """basicAuthentication is overrideModeDefault="Deny": IIS refuses the web.config's copy."""
    apps = sites(answer(EXCHANGE, {(DWS, "/"): BASIC_IN_WEB_CONFIG}))
    assert apps[DWS]["auth"]["basic"]["enabled"] is False


def test_an_unlocked_section_in_a_web_config_applies_below_the_deeper_locations() -> None:
    """Unlocked at the site, the site's web.config turns Basic on for "/" and for applications
    whose own location says nothing; <location path="Default Web Site/EWS"> (a deeper path)
    still wins over the site's web.config."""
    apphost = with_location(EXCHANGE, UNLOCK_BASIC)
    apps = sites(answer(apphost, {(DWS, "/"): BASIC_IN_WEB_CONFIG}))
    assert apps[DWS]["auth"]["basic"]["enabled"] is True
    assert apps[f"{DWS}/EWS"]["auth"]["basic"]["enabled"] is False


def identity(attributes: str, location: str = "") -> str:
    element = f"<system.web><identity {attributes} /></system.web>"
    if location:
        element = f"<location {location}>{element}</location>"
    return f'<?xml version="1.0" encoding="utf-8"?><configuration>{element}</configuration>'


def test_impersonation_with_a_password_is_inherited_by_child_applications() -> None:
    web = identity('impersonate="true" userName="CORP\\svc" password="[redacted]"')
    apps = sites(answer(EXCHANGE, {(DWS, "/"): web}))
    expected = {
        "enabled": True,
        "user": "CORP\\svc",
        "password_present": True,
        "password_encrypted": False,
    }
    assert apps[DWS]["impersonation"] == expected
    assert apps[f"{DWS}/owa"]["impersonation"] == expected
    assert apps["Exchange Back End"]["impersonation"]["password_present"] is False


def test_inherit_in_child_applications_false_keeps_impersonation_at_its_application() -> None:
    web = identity(
        'impersonate="true" userName="CORP\\svc" password="[redacted]"',
        'path="." inheritInChildApplications="false"',
    )
    apps = sites(answer(EXCHANGE, {(DWS, "/"): web}))
    assert apps[DWS]["impersonation"]["password_present"] is True
    assert apps[f"{DWS}/owa"]["impersonation"]["password_present"] is False


def test_a_registry_password_is_protected() -> None:
    """aspnet_setreg keeps the credentials DPAPI-encrypted in the registry (the identity
    element's documented `registry:` syntax)."""
    web = identity(
        'impersonate="true" userName="registry:HKLM\\Software\\AspNetProcess,Name" '
        'password="registry:HKLM\\Software\\AspNetProcess,Pwd"'
    )
    found = sites(answer(EXCHANGE, {(DWS, "/"): web}))[DWS]["impersonation"]
    assert (found["password_present"], found["password_encrypted"]) == (True, True)


def test_an_encrypted_identity_section_hides_everything_but_that_it_is_protected() -> None:
    """No real encrypted web.config was found under a compatible licence: this is the shape
    aspnet_regiis -pe writes (configProtectionProvider on the section, EncryptedData inside)."""
    web = (
        '<configuration><system.web><identity configProtectionProvider="RsaProtectedConfigurationProvider">'
        '<EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#"><CipherData><CipherValue>AA==</CipherValue>'
        "</CipherData></EncryptedData></identity></system.web></configuration>"
    )
    found = sites(answer(EXCHANGE, {(DWS, "/"): web}))[DWS]["impersonation"]
    assert found == {
        "enabled": None,
        "user": None,
        "password_present": False,
        "password_encrypted": True,
    }


def test_shared_configuration_is_not_the_local_file() -> None:
    raw = answer(EXCHANGE)
    raw["redirection"] = _file(
        '<configuration><configurationRedirection enabled="true" path="\\\\fs\\iis" /></configuration>'
    )
    fact = unavailable(raw)
    assert fact.reason is Reason.NOT_SUPPORTED and "\\\\fs\\iis" in fact.detail


def test_no_application_host_config_means_no_sites() -> None:
    assert iis_sites(iis_answer(None)) == Available([], iis_sites(iis_answer(None)).source)


@pytest.mark.parametrize(
    ("change", "reason", "words"),
    [
        (lambda raw: raw["application_host"].update(text=None), Reason.NOT_COLLECTED, "bytes"),
        (
            lambda raw: raw["application_host"].update(text=EXCHANGE[:5000]),
            Reason.COLLECTOR_ERROR,
            "not well-formed",
        ),
        (
            lambda raw: raw["application_host"].update(
                text='<!DOCTYPE configuration [<!ENTITY x "y">]><configuration>&x;</configuration>'
            ),
            Reason.COLLECTOR_ERROR,
            "declares a DTD",
        ),
        (
            lambda raw: raw["application_host"].update(
                text=EXCHANGE.replace("<sites>", '<sites configSource="sites.config">', 1)
            ),
            Reason.COLLECTOR_ERROR,
            "<sites> in another file",
        ),
        (
            lambda raw: raw["web_configs"][0].update(
                present=True, error={"reason": "access_denied", "detail": "Access is denied"}
            ),
            Reason.ACCESS_DENIED,
            "the web.config of Default Web Site: Access is denied",
        ),
        (lambda raw: raw["web_configs"].pop(0), Reason.COLLECTOR_ERROR, "did not report"),
        (
            lambda raw: raw["web_configs"][0].update(present=True, size=999_999, text=None),
            Reason.NOT_COLLECTED,
            "999999 bytes",
        ),
    ],
    ids=["too-large", "truncated", "dtd", "config-source", "denied", "missing", "web-too-large"],
)
def test_what_the_fact_cannot_be_decided_from(change: Any, reason: Reason, words: str) -> None:
    raw = answer(EXCHANGE)
    change(raw)
    fact = unavailable(raw)
    assert fact.reason is reason and words in fact.detail, fact


def _expected(app: dict[str, Any]) -> dict[str, Any]:
    """What a profile's application must read back as (the keys the profile sets)."""
    auth = app.get("auth", {})
    out: dict[str, Any] = {"path": app["path"], "ssl_flags": app.get("ssl_flags", [])}
    for key in ("anonymous", "basic", "digest"):
        if key in auth:
            out[key] = auth[key]["enabled"]
    if "windows" in auth:
        windows = auth["windows"]
        out["windows"] = windows["enabled"]
        if windows.get("providers"):
            out["providers"] = windows["providers"]
        if "extended_protection" in windows:
            out["token_checking"] = windows["extended_protection"]["token_checking"]
    if "impersonation" in app:
        out["impersonation"] = {
            "enabled": app["impersonation"].get("enabled", False),
            "user": app["impersonation"].get("user"),
            "password_present": app["impersonation"].get("password_present", False),
        }
    return out


def _read_back(app: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    auth = app["auth"]
    out: dict[str, Any] = {"path": app["path"], "ssl_flags": app["ssl_flags"]}
    for key in ("anonymous", "basic", "digest", "windows"):
        if key in like:
            out[key] = auth[key]["enabled"]
    if "providers" in like:
        out["providers"] = auth["windows"]["providers"]
    if "token_checking" in like:
        out["token_checking"] = auth["windows"]["extended_protection"]["token_checking"]
    if "impersonation" in like:
        out["impersonation"] = {k: app["impersonation"][k] for k in like["impersonation"]}
    return out


PROFILES = [h for h in load_definition(None).hosts if h.iis_sites] + [None]


@pytest.mark.parametrize("profile", PROFILES, ids=[p.name if p else "hostile" for p in PROFILES])
def test_the_labs_files_read_back_as_its_profile(profile: Any) -> None:
    """The lab answers with applicationHost.config and web.config text it writes from each
    profile; the scanner's parser reads back what the profile says (hostile strings too)."""
    profile_sites = profile.iis_sites if profile else _web_host()["iis_sites"]
    fact = iis_sites(iis_answer(profile_sites))
    assert isinstance(fact, Available), fact
    assert [s["name"] for s in fact.value] == [s["name"] for s in profile_sites]
    for site, wanted in zip(fact.value, profile_sites, strict=True):
        assert site["bindings"] == wanted["bindings"]
        expected = [_expected(app) for app in wanted["applications"]]
        got = [_read_back(a, e) for a, e in zip(site["applications"], expected, strict=True)]
        assert got == expected
