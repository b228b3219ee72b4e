"""A lab host's IIS configuration files, written from its profile's `iis_sites` as IIS writes them.

applicationHost.config carries the server-wide defaults of a fresh Windows Server (anonymous as
IUSR, Windows authentication off with Negotiate and NTLM) and one `<location>` per application
with what the profile sets; an application's impersonation goes into its own web.config. The
collector answers with these texts, so a lab scan runs the parser a real host runs
(auditor/collectors/iis/). Passwords are written as the collector sends them: blanked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

_CONFIG_DIR = "C:\\Windows\\System32\\inetsrv\\config"
_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n<configuration>\n'
_SECTIONS = """\
    <configSections>
        <sectionGroup name="system.applicationHost">
            <section name="sites" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
        </sectionGroup>
        <sectionGroup name="system.webServer">
            <sectionGroup name="security">
                <section name="access" overrideModeDefault="Deny" />
                <sectionGroup name="authentication">
                    <section name="anonymousAuthentication" overrideModeDefault="Deny" />
                    <section name="basicAuthentication" overrideModeDefault="Deny" />
                    <section name="digestAuthentication" overrideModeDefault="Deny" />
                    <section name="windowsAuthentication" overrideModeDefault="Deny" />
                </sectionGroup>
            </sectionGroup>
        </sectionGroup>
    </configSections>
"""
_SERVER_DEFAULTS = """\
    <system.webServer>
        <security>
            <access sslFlags="None" />
            <authentication>
                <anonymousAuthentication enabled="true" userName="IUSR" />
                <basicAuthentication enabled="false" />
                <digestAuthentication enabled="false" />
                <windowsAuthentication enabled="false">
                    <providers>
                        <add value="Negotiate" />
                        <add value="NTLM" />
                    </providers>
                </windowsAuthentication>
            </authentication>
        </security>
    </system.webServer>
"""
_ENCRYPTED_IDENTITY = """\
    <identity configProtectionProvider="RsaProtectedConfigurationProvider">
      <EncryptedData Type="http://www.w3.org/2001/04/xmlenc#Element" xmlns="http://www.w3.org/2001/04/xmlenc#">
        <EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#tripledes-cbc" />
        <CipherData>
          <CipherValue>bGFiIGNpcGhlcnRleHQ=</CipherValue>
        </CipherData>
      </EncryptedData>
    </identity>
"""


def _attrs(values: Mapping[str, Any]) -> str:
    return "".join(f" {name}={quoteattr(str(value))}" for name, value in values.items())


def _bool(value: Any) -> str:
    return "true" if value else "false"


def _physical(site: Mapping[str, Any], index: int) -> str:
    root = f"%SystemDrive%\\inetpub\\sites\\{site.get('id', 1)}"
    return root if index == 0 else f"{root}\\app{index}"


def _binding(binding: Mapping[str, Any]) -> str:
    address = binding.get("address", "*")
    information = f"{address}:{binding.get('port', 80)}:{binding.get('host', '')}"
    values = {"protocol": binding.get("protocol", "http"), "bindingInformation": information}
    return f"                    <binding{_attrs(values)} />\n"


def _site(site: Mapping[str, Any]) -> str:
    pool = {"applicationPool": site["app_pool"]} if "app_pool" in site else {}
    lines = [f"            <site{_attrs({'name': site['name'], 'id': site.get('id', 1)})}>\n"]
    for index, app in enumerate(site.get("applications", [])):
        lines += [
            f"                <application{_attrs({'path': app['path'], **pool})}>\n",
            f'                    <virtualDirectory path="/"{_attrs({"physicalPath": _physical(site, index)})} />\n',
            "                </application>\n",
        ]
    lines.append("                <bindings>\n")
    lines += [_binding(binding) for binding in site.get("bindings", [])]
    lines.append("                </bindings>\n            </site>\n")
    return "".join(lines)


def _windows(windows: Mapping[str, Any]) -> list[str]:
    values = {"enabled": _bool(windows.get("enabled"))}
    if "use_kernel_mode" in windows:
        values["useKernelMode"] = _bool(windows["use_kernel_mode"])
    if "use_app_pool_credentials" in windows:
        values["useAppPoolCredentials"] = _bool(windows["use_app_pool_credentials"])
    inner = []
    if "providers" in windows:
        inner += [
            "                        <providers>\n",
            "                            <clear />\n",
        ]
        inner += [
            f"                            <add{_attrs({'value': p})} />\n"
            for p in windows["providers"]
        ]
        inner.append("                        </providers>\n")
    protection = windows.get("extended_protection") or {}
    if protection:
        names = {"token_checking": "tokenChecking", "flags": "flags"}
        written = {names[k]: v for k, v in protection.items() if k in names}
        inner.append(f"                        <extendedProtection{_attrs(written)} />\n")
    if not inner:
        return [f"                    <windowsAuthentication{_attrs(values)} />\n"]
    return [
        f"                    <windowsAuthentication{_attrs(values)}>\n",
        *inner,
        "                    </windowsAuthentication>\n",
    ]


def _location(site: str, app: Mapping[str, Any]) -> str:
    path = site if app["path"] == "/" else site + app["path"]
    auth = app.get("auth", {})
    lines = [f"    <location{_attrs({'path': path})}>\n", "        <system.webServer>\n"]
    lines.append("            <security>\n")
    if "ssl_flags" in app:
        flags = ", ".join(app["ssl_flags"]) or "None"
        lines.append(f"                <access{_attrs({'sslFlags': flags})} />\n")
    lines.append("                <authentication>\n")
    if "anonymous" in auth:
        values = {"enabled": _bool(auth["anonymous"].get("enabled"))}
        if "user" in auth["anonymous"]:
            values["userName"] = auth["anonymous"]["user"]
        lines.append(f"                    <anonymousAuthentication{_attrs(values)} />\n")
    for key, section in (("basic", "basicAuthentication"), ("digest", "digestAuthentication")):
        if key in auth:
            enabled = _bool(auth[key].get("enabled"))
            lines.append(f"                    <{section}{_attrs({'enabled': enabled})} />\n")
    if "windows" in auth:
        lines += _windows(auth["windows"])
    lines += [
        "                </authentication>\n",
        "            </security>\n",
        "        </system.webServer>\n",
        "    </location>\n",
    ]
    return "".join(lines)


def application_host(sites: Sequence[Mapping[str, Any]]) -> str:
    """The applicationHost.config text of the profile's sites."""
    parts = [_HEADER, _SECTIONS, "    <system.applicationHost>\n        <sites>\n"]
    parts += [_site(site) for site in sites]
    parts.append('            <applicationDefaults applicationPool="DefaultAppPool" />\n')
    parts += ["        </sites>\n    </system.applicationHost>\n", _SERVER_DEFAULTS]
    parts += [_location(site["name"], app) for site in sites for app in site["applications"]]
    parts.append("</configuration>\n")
    return "".join(parts)


def web_config(impersonation: Mapping[str, Any]) -> str:
    """An application's web.config: its <identity>, every attribute written so that nothing
    is inherited from the web.config of the application above it."""
    if impersonation.get("password_encrypted") and impersonation.get("password_present"):
        identity = _ENCRYPTED_IDENTITY
    else:
        values = {
            "impersonate": _bool(impersonation.get("enabled")),
            "userName": impersonation.get("user") or "",
            "password": "[redacted]" if impersonation.get("password_present") else "",
        }
        identity = f"    <identity{_attrs(values)} />\n"
    return f"{_HEADER}  <system.web>\n{identity}  </system.web>\n</configuration>\n"


def _file(path: str, text: str | None) -> dict[str, Any]:
    if text is None:
        return {"path": path, "present": False, "size": None, "text": None}
    return {"path": path, "present": True, "size": len(text.encode()), "text": text}


def iis_answer(sites: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """collect.ps1's `iis` answer for a host with these sites (None: IIS is not installed)."""
    answer: dict[str, Any] = {
        "application_host": _file(f"{_CONFIG_DIR}\\applicationHost.config", None),
        "redirection": _file(f"{_CONFIG_DIR}\\redirection.config", None),
        "web_configs": [],
    }
    if sites is None:
        return answer
    answer["application_host"] = _file(answer["application_host"]["path"], application_host(sites))
    for site in sites:
        apps = site.get("applications", [])
        configured = any(app.get("impersonation") for app in apps)
        for index, app in enumerate(apps):
            physical = _physical(site, index)
            path = physical.replace("%SystemDrive%", "C:") + "\\web.config"
            text = web_config(app.get("impersonation") or {}) if configured else None
            entry = _file(path, text)
            entry |= {"site": site["name"], "application": app["path"], "physical_path": physical}
            answer["web_configs"].append(entry)
    return answer
