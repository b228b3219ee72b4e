"""A lab whose directory and hosts carry hostile data, brought up once with a known password."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from Crypto.Hash import MD4

# Not 127.10-127.18: the hand-made lab and the other lab tests live there.
PREFIX = "127.19."
REALM = "hostile.auditor.test"
# Distinctive, so that finding it anywhere can only mean it leaked.
PASSWORD = "Canary-Pw-7fQ2x-Zebra!"
WRONG_PASSWORD = "Wrong-Canary-Pw-3kR9-Yak!"

# HTML/JS payloads: each would leave a trace (title, element id, console line) if it ran.
SCRIPT = "<script>document.title='PWNED-S1';console.log('PWNED-S1')</script>"
IMG = "<img src=x id=pwned-i2 onerror=\"document.title='PWNED-I2';console.log('PWNED-I2')\">"
SVG = '"><svg id=pwned-v3 onload="console.log(\'PWNED-V3\')">'
JS_URL = "javascript:console.log('PWNED-J4')"
IFRAME = "'><iframe id=pwned-f5 srcdoc=\"<script>parent.console.log('PWNED-F5')</script>\">"
PAYLOADS = (SCRIPT, IMG, SVG, JS_URL, IFRAME)
HTML_PAYLOAD = " ".join(PAYLOADS)
# Spreadsheet formulas, Markdown table breakers, terminal escapes, direction and width tricks.
FORMULA = '=HYPERLINK("http://x.invalid","PWNED-XL")'
MARKDOWN = "a | b\n| PWNED-MD | c |\r\n# heading <b>x</b> `tick` [l](javascript:x) ![i](x)"
CONTROL = "ctl\x01\x07\x1b[31mred\x1b]0;PWNED-TERM\x07\x0b\x0cend"
# More for a terminal: clear screen, an OSC 8 hyperlink, DEL, 8-bit CSI/OSC/ST, CR, LF.
TERMINAL = (
    CONTROL + "\x1b[2J\x1b]8;;http://pwned.invalid/\x1b\\link\x1b]8;;\x1b\\"
    "\x7f\x9b2J\x9d0;PWNED-C1\x9c\rback\nFORGED line"
)
UNICODE = "\u202egnp.exe 管理者 😀 «Ünïcødé» \u200b"
# Names that start like formulas; they become finding objects, the first cell of a row.
FORMULA_NAMES = (FORMULA, "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "-2+3")
LONG = "L" * 4000 + "<script>console.log('PWNED-LONG')</script>" + "Q" * 6000  # > 10k
# Samba enforces the schema's rangeUpper: description holds at most 1024 characters.
LONG_DESCRIPTION = LONG[3500:4524]


def nt_hash(password: str) -> str:
    """The NT hash: MD4 of the UTF-16LE password (what NTLM proves knowledge of)."""
    return MD4.new(password.encode("utf-16-le")).hexdigest()  # noqa: S303 - NTLM is MD4


def base64_forms(secret: str) -> set[str]:
    """The secret's base64 at each of the three byte alignments it can have inside a larger
    encoded value (a Basic header is base64 of `user:password`)."""
    forms = set()
    raw = secret.encode("utf-8")
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii")
        start = 4 if shift else 0  # the first quantum mixes in the prefix
        end = 4 * ((shift + len(raw)) // 3)  # the last full quantum
        forms.add(encoded[start:end])
    return {f for f in forms if len(f) >= 8}


def secret_forms(password: str) -> dict[str, bytes]:
    """Every spelling of a password, or of its NT hash, that an artefact must never contain."""
    digest = nt_hash(password)
    forms = {
        "password": password.encode("utf-8"),
        "password (UTF-16LE)": password.encode("utf-16-le"),
        "NT hash (hex)": digest.encode("ascii"),
        "NT hash (HEX)": digest.upper().encode("ascii"),
        "NT hash (base64)": base64.b64encode(bytes.fromhex(digest)).rstrip(b"="),
    }
    for i, form in enumerate(sorted(base64_forms(password))):
        forms[f"password (base64, alignment {i})"] = form.encode("ascii")
    return forms


def _domain() -> dict[str, Any]:
    """Where AD takes any text (cn, description, SPN, OU) it gets payloads; sAMAccountName
    refuses "/\\[]:;|=,+*?<>@ (Samba: "sAMAccountName contains invalid character"), so user
    names carry what is left: quotes, parentheses, a leading '-', RTL override, CJK, emoji."""
    return {
        "realm": REALM,
        "netbios": "HOSTILE",
        "dc": {"name": "DC1", "address": PREFIX + "0.1"},
        "users": [
            {
                "name": "'-alert(1)-'",
                "description": HTML_PAYLOAD,
                "flags": ["DONT_REQ_PREAUTH"],
            },
            {
                "name": "-formula",
                "description": FORMULA,
                "flags": ["DONT_REQ_PREAUTH"],
            },
            {
                "name": "\u202egnp.exe",
                "description": MARKDOWN,
                "flags": ["DONT_REQ_PREAUTH"],
            },
            {
                "name": "管理者😀",
                "description": CONTROL,
                "flags": ["DONT_REQ_PREAUTH"],
                # Samba splits an SPN on "/" (3 parts at most) and the spec refuses whitespace.
                "spns": [
                    "HTTP/\"><svg/onload=console.log('PWNED-SPN')>",
                    "MSSQLSvc/'-alert(1)-':1433",
                ],
            },
            {
                "name": "svc_long",
                "description": LONG_DESCRIPTION,
                "flags": ["DONT_REQ_PREAUTH"],
                "spns": ["HTTP/long.hostile.auditor.test", "HTTP/" + "s" * 5000],
                "allowed_to_delegate_to": [
                    "HTTP/<script>console.log('PWNED-DELEG')</script>",
                    f"cifs/{FORMULA.replace(' ', '')}",
                ],
            },
            {"name": "o'brien", "description": UNICODE, "flags": ["PASSWD_NOTREQD"]},
        ],
        "computers": [
            {
                "name": "EVIL-WEB",
                "description": HTML_PAYLOAD,
                "operating_system": f"Windows {SCRIPT}",
                "operating_system_version": "10.0 (20348)",
                "flags": ["TRUSTED_FOR_DELEGATION"],
                "ou": "\"><svg onload=console.log('PWNED-OU')> 管理",
            },
            {
                "name": "EVIL-TLS",
                "description": CONTROL,
                "operating_system": "Windows Server 2022 Standard",
                "operating_system_version": "10.0 (20348)",
            },
        ],
        "groups": [
            {
                "name": "\"><svg onload=console.log('PWNED-G')> 管理者",
                "description": MARKDOWN,
                "members": ["'-alert(1)-'", "管理者😀", "-formula"],
            },
        ],
        "remote_desktop_users": ["\"><svg onload=console.log('PWNED-G')> 管理者"],
        "remote_management_users": ["o'brien"],
    }


_CREDSSP = (
    "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\CredentialsDelegation\\AllowFreshCredentials"
)


def _web_host() -> dict[str, Any]:
    """Every host-side string the lab lets a profile choose, hostile."""
    site = {
        "name": f"Intranet {SCRIPT} {UNICODE}",
        "id": 1,
        "app_pool": IMG,
        "bindings": [{"protocol": "http", "port": 80, "host": SVG, "address": "*"}],
        "applications": [
            {
                "path": f"/{IMG}",
                "ssl_flags": [],
                "auth": {
                    "anonymous": {"enabled": True, "user": FORMULA},
                    "basic": {"enabled": True},
                    "digest": {"enabled": True},
                    "windows": {
                        "enabled": True,
                        "providers": ["Negotiate", SCRIPT],
                        "extended_protection": {"token_checking": "None", "flags": "None"},
                    },
                },
                "impersonation": {
                    "enabled": True,
                    "user": f"HOSTILE\\{MARKDOWN}",
                    "password_present": True,
                    "password_encrypted": False,
                },
            },
            {
                "path": f"/{LONG}",
                "ssl_flags": [],
                "auth": {
                    "anonymous": {"enabled": False, "user": "IUSR"},
                    "basic": {"enabled": True},
                    "digest": {"enabled": False},
                    "windows": {"enabled": False, "providers": []},
                },
                "impersonation": {"enabled": False, "user": None},
            },
        ],
    }
    return {
        "name": "EVIL-WEB",
        "address": PREFIX + "1.11",
        "roles": ["member_server", "iis"],
        "os": {
            "caption": f"Microsoft Windows Server 2022 {IMG} {UNICODE}",
            "version": "10.0.20348",
        },
        "winrm": {
            "http": True,
            "https": False,
            "service": {"basic": True, "allow_unencrypted": True},
            "client": {"credssp": True, "trusted_hosts": f"*,{SCRIPT},{FORMULA}"},
        },
        "iis_sites": [site],
        "winhttp_proxy": {
            "proxy_server": "proxy:8080\"><img src=x onerror=console.log('PWNED-P')>",
            "bypass": "<local>;=cmd|' /C calc'!A0",
        },
        "registry": {
            _CREDSSP: 1,
            _CREDSSP + "\\1": "WSMAN/*",
            _CREDSSP + "\\2": HTML_PAYLOAD,
            _CREDSSP + "\\3": LONG,
            _CREDSSP + "\\4": CONTROL,
            _CREDSSP + "\\5": FORMULA,
            _CREDSSP + "\\6": MARKDOWN,
            _CREDSSP + "\\7": UNICODE,
            "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa\\LmCompatibilityLevel": SCRIPT,
        },
        "local_groups": {
            "S-1-5-32-544": [
                {
                    "sid": "S-1-5-21-1-2-3-1105",
                    "name": f"HOSTILE\\{IMG}",
                    "class": "User",
                    "domain": "ActiveDirectory",
                },
                {
                    "sid": "S-1-5-21-1-2-3-1106",
                    "name": f"HOSTILE\\{FORMULA}",
                    "class": "User",
                    "domain": "ActiveDirectory",
                },
                {
                    "sid": "S-1-5-21-1-2-3-1107",
                    "name": f"HOSTILE\\{CONTROL}{UNICODE}",
                    "class": "User",
                    "domain": "ActiveDirectory",
                },
            ],
            "S-1-5-32-580": [
                {
                    "sid": "S-1-5-21-1-2-3-1108",
                    "name": f"HOSTILE\\{MARKDOWN}",
                    "class": "Group",
                    "domain": "ActiveDirectory",
                },
            ],
        },
        "session_configurations": [
            {
                "Name": f"Helpdesk {SCRIPT} {UNICODE}",
                "Enabled": "True",
                "Permission": f"HOSTILE\\Domain Users AccessAllowed {IMG}",
                "SecurityDescriptorSddl": "O:NSG:BAD:P(A;;GA;;;BA)(A;;GX;;;DU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)",
                "RunAsVirtualAccount": "True",
                "SessionType": "Default",
                "LanguageMode": "FullLanguage",
            },
            *(
                {
                    "Name": name,
                    "Enabled": "True",
                    "Permission": MARKDOWN,
                    "SecurityDescriptorSddl": "O:NSG:BAD:P(A;;GA;;;BA)(A;;GX;;;AU)",
                    "RunAsVirtualAccount": "False",
                    "SessionType": "Default",
                    "LanguageMode": "FullLanguage",
                }
                for name in (*FORMULA_NAMES, f"Ops {TERMINAL}")
            ),
        ],
        "sshd_config": [
            f"# {SCRIPT}",
            "PasswordAuthentication yes",
            f"Banner {IMG}",
            "Subsystem powershell c:/progra~1/powershell/7/pwsh.exe -sshs -NoLogo",
        ],
        "firewall_rules": [
            {
                "id": "RemoteDesktop-UserMode-In-TCP",
                "enabled": False,
                "direction": "Inbound",
                "action": "Allow",
                "profiles": IMG,
            },
        ],
    }


def definition() -> dict[str, Any]:
    return {
        "domain": _domain(),
        "hosts": [
            {
                "name": "DC1",
                "address": PREFIX + "0.1",
                "roles": ["domain_controller"],
                "winrm": {"http": True, "https": False},
            },
            _web_host(),
            # HTTPS only, with an expired certificate: a validation failure unless --insecure.
            {
                "name": "EVIL-TLS",
                "address": PREFIX + "1.12",
                "roles": ["member_server"],
                "winrm": {"http": False, "https": True, "certificate": "expired"},
                "rdp": {"enabled": False},
            },
        ],
    }


def auditor(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


@dataclasses.dataclass(frozen=True)
class HostileLab:
    directory: Path
    scan_config: Path

    @property
    def web(self) -> str:
        return f"evil-web.{REALM}"

    @property
    def tls(self) -> str:
        return f"evil-tls.{REALM}"


@pytest.fixture(scope="package")
def hostile_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileLab]:
    """`auditor lab up` with the hostile definition; the scan password is ours, set beforehand."""
    base = tmp_path_factory.mktemp("hostile")
    path = base / "hostile-lab.yaml"
    path.write_text(yaml.safe_dump(definition(), allow_unicode=True, width=10_000), "utf-8")
    directory = base / "lab"
    secrets = directory / "secrets"
    secrets.mkdir(parents=True, mode=0o700)
    (secrets / "scan-password").write_text(PASSWORD + "\n", "utf-8")
    (secrets / "scan-password").chmod(0o600)
    up = auditor("lab", "up", "--dir", str(directory), "--definition", str(path))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield HostileLab(directory, directory / "scan.yaml")
    finally:
        down = auditor("lab", "down", "--dir", str(directory))
        assert down.returncode == 0, down.stderr


FORMATS = ("json", "html", "md", "csv", "junit", "sarif")


@dataclasses.dataclass(frozen=True)
class ScanRun:
    """One scan command and everything it wrote."""

    run: subprocess.CompletedProcess[str]
    output: Path  # reports and journal.jsonl
    log: Path  # --log-file at debug level
    console: Path  # what the command printed
    facts: Path | None  # --save-facts folder

    def artefacts(self) -> list[Path]:
        folders = [self.output, *([self.facts] if self.facts else [])]
        found = [
            p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()
        ]
        return [*found, self.log, self.console]


def run_scan(
    base: Path, *command: str, env: dict[str, str] | None = None, save_facts: bool = False
) -> ScanRun:
    """`auditor --log-level debug --log-file LOG <command> -o OUT -f <every format>`."""
    base.mkdir(parents=True, exist_ok=True)
    output, log, console = base / "out", base / "debug.log", base / "console.txt"
    facts = base / "facts" if save_facts else None
    args = ["--log-level", "debug", "--log-file", str(log), *command, "-o", str(output)]
    args += [x for f in FORMATS for x in ("-f", f)]
    args += ["--save-facts", str(facts)] if facts else []
    done = auditor(*args, env=env)
    console.write_text(done.stdout + done.stderr, "utf-8")
    return ScanRun(done, output, log, console, facts)


@pytest.fixture(scope="package")
def domain_scan(hostile_lab: HostileLab, tmp_path_factory: pytest.TempPathFactory) -> ScanRun:
    """The whole lab, directory and hosts, at debug level, every format, console output kept."""
    base = tmp_path_factory.mktemp("domain-scan")
    scan = run_scan(base, "scan", "domain", "--config", str(hostile_lab.scan_config))
    assert scan.run.returncode == 3, scan.run.stderr[-3000:]  # EVIL-TLS fails certificate checks
    return scan


@pytest.fixture(scope="package")
def host_scan(hostile_lab: HostileLab, tmp_path_factory: pytest.TempPathFactory) -> ScanRun:
    """The hosts alone, with --save-facts."""
    base = tmp_path_factory.mktemp("host-scan")
    scan = run_scan(base, "scan", "host", "--config", str(hostile_lab.scan_config), save_facts=True)
    assert scan.run.returncode == 3, scan.run.stderr[-3000:]
    return scan


def load_json(path: Path) -> Any:
    """Strict RFC 8259: NaN and Infinity are refused."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{path}: {name} is not JSON")

    return json.loads(path.read_text("utf-8"), parse_constant=refuse)
