"""Credential safety on a real scan of the lab: no artefact holds the password, its NT hash or an
authentication token; Basic is refused over HTTP before any packet; certificate failures stop
the host unless --insecure, and --insecure is written into the report."""

from __future__ import annotations

import base64
import http.client
import re
import select
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.reports.htmltree import parse

from .conftest import (
    PASSWORD,
    PREFIX,
    REALM,
    WRONG_PASSWORD,
    HostileLab,
    ScanRun,
    auditor,
    load_json,
    nt_hash,
    run_scan,
    secret_forms,
)

pytestmark = pytest.mark.samba
# An NTLM AUTHENTICATE message, raw or base64 (with the server's CHALLENGE: crackable offline).
NTLM_AUTHENTICATE = (b"NTLMSSP\x00\x03\x00\x00\x00", b"TlRMTVNTUAADAAAA")


def leaks(paths: list[Path], *passwords: str) -> list[str]:
    found = []
    for path in paths:
        data = path.read_bytes()
        for password in passwords:
            found += [
                f"{path}: {what}" for what, form in secret_forms(password).items() if form in data
            ]
        found += [
            f"{path}: NTLM AUTHENTICATE token" for token in NTLM_AUTHENTICATE if token in data
        ]
    return found


def test_the_leak_detector_finds_every_spelling(tmp_path: Path) -> None:
    """Control for `leaks`: a Basic header, the hash in capitals, UTF-16 text are all caught."""
    header = base64.b64encode(f"HOSTILE\\svc_auditor:{PASSWORD}".encode()).decode()
    samples = {
        "basic.txt": f"Authorization: Basic {header}\n".encode(),
        "hash.txt": f"hash={nt_hash(PASSWORD).upper()}".encode(),
        "utf16.bin": f"x{PASSWORD}x".encode("utf-16-le"),
        "token.log": b"NTLM step output: TlRMTVNTUAADAAAAGAAYAFgAAAA=",
    }
    for name, data in samples.items():
        (tmp_path / name).write_bytes(data)
        assert leaks([tmp_path / name], PASSWORD), name
    (tmp_path / "clean.txt").write_text(f"{PASSWORD[:-1]} {WRONG_PASSWORD}")
    assert leaks([tmp_path / "clean.txt"], PASSWORD) == []


def test_no_artefact_of_a_scan_holds_a_secret(domain_scan: ScanRun, host_scan: ScanRun) -> None:
    """Reports in every format, journal, debug log, console, saved facts: nothing of the password."""
    artefacts = domain_scan.artefacts() + host_scan.artefacts()
    names = {p.name for p in artefacts}
    assert {"report.json", "report.html", "report.md", "report.csv"} <= names
    assert {
        "report.junit.xml",
        "report.sarif",
        "journal.jsonl",
        "debug.log",
        "console.txt",
    } <= names
    assert any(p.parent.name == "facts" for p in artefacts)  # --save-facts documents
    debug = domain_scan.log.read_text("utf-8")
    assert " DEBUG " in debug and "ntlm" in debug.lower()  # the log did see the logons
    assert leaks(artefacts, PASSWORD) == []


def scan_config(lab: HostileLab, folder: Path, **changes: Any) -> Path:
    """The lab's scan.yaml with some sections replaced."""
    config = yaml.safe_load(lab.scan_config.read_text("utf-8"))
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            config[section] = {**config.get(section, {}), name: value}
        else:
            config[section] = value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scan.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    return path


FAILURES = {
    # name: (command, config changes, expected exit code, words of the message)
    "wrong password, directory": (
        "domain",
        {},
        2,
        ("simple bind", "refused", "invalidCredentials"),
    ),
    "wrong password, hosts": ("host", {}, 3, ("auth_failed",)),
    "domain controller unreachable": (
        "domain",
        {
            "domain__dc": "gone.hostile.auditor.test",
            "names__gone.hostile.auditor.test": PREFIX + "9.9",
        },
        2,
        ("gone.hostile.auditor.test", "connection refused"),
    ),
    "directory certificate not trusted": (
        "domain",
        {"ldap__ca_bundle": "WINRM_CA"},
        2,
        ("certificate not trusted", "CA bundle"),
    ),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_a_failed_scan_leaks_nothing(hostile_lab: HostileLab, tmp_path: Path, case: str) -> None:
    """Refused logon (with a wrong password that is as secret as the right one), unreachable DC,
    untrusted certificate: a clear message, the right exit code, and no secret anywhere."""
    command, changes, code, words = FAILURES[case]
    winrm_ca = str(hostile_lab.directory / "pki" / "lab-ca.pem")
    changes = {k: winrm_ca if v == "WINRM_CA" else v for k, v in changes.items()}
    config = scan_config(hostile_lab, tmp_path, **changes)
    env, extra = {}, []
    if case.startswith("wrong password"):
        env, extra = (
            {"AUDITOR_TEST_PASSWORD": WRONG_PASSWORD},
            ["--password-env", "AUDITOR_TEST_PASSWORD"],
        )
    scan = run_scan(tmp_path / "run", "scan", command, "--config", str(config), *extra, env=env)
    printed = scan.run.stdout + scan.run.stderr
    assert scan.run.returncode == code, printed[-3000:]
    assert "Traceback" not in printed
    message = printed
    if scan.output.joinpath("report.json").exists():
        report = load_json(scan.output / "report.json")
        message += " ".join(f"{t['status']} {t.get('reason')}" for t in report["targets"])
    for word in words:
        assert word.lower() in message.lower(), (word, printed[-2000:])
    assert leaks([*scan.artefacts()], PASSWORD, WRONG_PASSWORD) == []


@pytest.fixture(scope="module")
def keytab(hostile_lab: HostileLab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """svc_auditor's keys, exported from the lab DC's database as an administrator would."""
    path = tmp_path_factory.mktemp("keytab") / "svc_auditor.keytab"
    smb_conf = hostile_lab.directory / "dc" / "etc" / "smb.conf"
    subprocess.run(
        [
            *("samba-tool", "domain", "exportkeytab", str(path), "-s", str(smb_conf)),
            f"--principal=svc_auditor@{REALM.upper()}",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    path.chmod(0o600)
    return path


def keytab_keys(path: Path) -> list[bytes]:
    """The key of each entry of an MIT keytab (format 0x0502, big-endian)."""
    data, keys, at = path.read_bytes(), [], 2
    assert data[:2] == b"\x05\x02"
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big", signed=True)
        entry, at = data[at + 4 : at + 4 + abs(size)], at + 4 + abs(size)
        if size <= 0:  # a hole left by a removed entry
            continue
        components, pos = int.from_bytes(entry[:2], "big"), 2
        for _ in range(components + 1):  # the realm, then each component
            pos += 2 + int.from_bytes(entry[pos : pos + 2], "big")
        pos += 4 + 4 + 1 + 2  # name type, timestamp, 8-bit kvno, enctype
        length = int.from_bytes(entry[pos : pos + 2], "big")
        keys.append(entry[pos + 2 : pos + 2 + length])
    return keys


def kerberos_scan(
    lab: HostileLab, folder: Path, password: str, env: dict[str, str] | None = None
) -> tuple[ScanRun, Path]:
    """`scan domain --no-hosts` with `bind: kerberos`, the lab's KDC, and KRB5CCNAME pointing
    to a cache that must not appear."""
    config = scan_config(lab, folder, ldap__bind="kerberos", credentials__password=password)
    cache = folder / "ccache"
    env = {
        **(env or {}),
        "KRB5_CONFIG": str(lab.directory / "dc" / "etc" / "krb5.conf"),
        "KRB5CCNAME": f"FILE:{cache}",
    }
    command = ("scan", "domain", "--no-hosts", "--config", str(config))
    return run_scan(folder / "run", *command, env=env), cache


def assert_directory_collected(scan: ScanRun) -> None:
    printed = scan.run.stdout + scan.run.stderr
    # 3: without hosts, the DC's user rights are not collected; the directory itself was
    assert scan.run.returncode == 3, printed[-3000:]
    results = load_json(scan.output / "report.json")["results"]
    assert "ad-kerberoastable-users" in {r["rule_id"] for r in results if r["status"] == "fail"}


@pytest.mark.parametrize("wrong", [False, True], ids=["right password", "wrong password"])
def test_a_kerberos_bind_from_a_password_leaks_nothing(
    hostile_lab: HostileLab, tmp_path: Path, wrong: bool
) -> None:
    """`bind: kerberos` with a password: the TGT stays in memory (no cache written where
    KRB5CCNAME points), and neither password nor ticket reaches an artefact."""
    env = {"AUDITOR_TEST_PASSWORD": WRONG_PASSWORD if wrong else PASSWORD}
    scan, cache = kerberos_scan(hostile_lab, tmp_path, "env:AUDITOR_TEST_PASSWORD", env)
    printed = scan.run.stdout + scan.run.stderr
    assert "Traceback" not in printed
    if wrong:
        assert scan.run.returncode == 2, printed[-3000:]
        assert "Kerberos bind as svc_auditor@HOSTILE.AUDITOR.TEST refused" in printed
        assert "Preauthentication failed" in printed
    else:
        assert_directory_collected(scan)
    assert not cache.exists()
    assert leaks([*scan.artefacts()], PASSWORD, WRONG_PASSWORD) == []


def test_a_kerberos_bind_from_a_keytab(
    hostile_lab: HostileLab, keytab: Path, tmp_path: Path
) -> None:
    """A scheduled service account's keytab: no password anywhere, no cache file written, and
    none of the keytab's bytes copied into an artefact."""
    scan, cache = kerberos_scan(hostile_lab, tmp_path, f"keytab:{keytab}")
    assert_directory_collected(scan)
    assert not cache.exists()
    keys = keytab_keys(keytab)
    assert len(keys) >= 2  # the AES keys at least
    for artefact in scan.artefacts():
        data = artefact.read_bytes()
        assert not [k for k in keys if k in data or k.hex().encode() in data.lower()], artefact
    assert leaks([*scan.artefacts()], PASSWORD) == []


def test_a_keytab_others_can_read_is_refused(
    hostile_lab: HostileLab, keytab: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared.keytab"
    shared.write_bytes(keytab.read_bytes())
    shared.chmod(0o640)
    scan, _ = kerberos_scan(hostile_lab, tmp_path, f"keytab:{shared}")
    printed = scan.run.stdout + scan.run.stderr
    assert scan.run.returncode == 2, printed[-3000:]
    assert (
        f"credential reference 'keytab:{shared}': {shared} is readable by others (mode 640); "
        "chmod 600 it"
    ) in printed
    assert "Traceback" not in printed


# --- Basic over HTTP: refused before any packet --------------------------------------------


class _Forward(socketserver.BaseRequestHandler):
    """One connection to the proxy, counted and relayed to the real host."""

    server: CountingProxy

    def handle(self) -> None:
        self.server.owner.connections += 1
        target = (self.server.owner.upstream, self.server.server_address[1])
        with socket.create_connection(target, timeout=10) as upstream:
            ends = [self.request, upstream]
            while True:
                ready, _, _ = select.select(ends, [], [], 10)
                if not ready:
                    return
                for end in ready:
                    data = end.recv(65536)
                    if not data:
                        return
                    (upstream if end is self.request else self.request).sendall(data)


class CountingProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: Relay, port: int) -> None:
        self.owner = owner
        super().__init__((owner.address, port), _Forward)


class Relay:
    """Stands between the scanner and a lab host on every port the scanner could use, so that
    "no connection" is observed at the socket, not inferred from the exit code."""

    def __init__(self, address: str, upstream: str, ports: tuple[int, ...]) -> None:
        self.address, self.upstream, self.connections = address, upstream, 0
        self.servers = [CountingProxy(self, port) for port in ports]
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def relay(hostile_lab: HostileLab) -> Iterator[Relay]:
    upstream = yaml.safe_load(hostile_lab.scan_config.read_text("utf-8"))["names"][hostile_lab.web]
    proxy = Relay(PREFIX + "9.1", upstream, (5985, 5986, 3389))
    try:
        yield proxy
    finally:
        proxy.close()


def test_basic_over_http_is_refused_before_any_connection(
    hostile_lab: HostileLab, relay: Relay, tmp_path: Path
) -> None:
    # Control: through the relay, the host offers Basic over plain HTTP, and the relay counts it.
    probe = http.client.HTTPConnection(relay.address, 5985, timeout=10)
    probe.request("POST", "/wsman", b"", {"Content-Type": "application/soap+xml;charset=UTF-8"})
    answer = probe.getresponse()
    offered = answer.getheader("WWW-Authenticate") or ""
    probe.close()
    assert answer.status == 401 and re.search(r"\bBasic\b", offered), (answer.status, offered)
    assert relay.connections == 1
    config = scan_config(hostile_lab, tmp_path, **{f"names__{hostile_lab.web}": relay.address})
    done = auditor(
        "scan", "host", hostile_lab.web, "--config", str(config), "--auth", "basic",
        "--transport", "http", "-o", str(tmp_path / "out"),
    )  # fmt: skip
    time.sleep(0.3)  # a connection the scanner made would have been accepted by now
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refusing Basic authentication over HTTP" in done.stderr
    assert "Traceback" not in done.stderr
    assert relay.connections == 1, "the scanner connected to the host"


# --- Certificate validation and --insecure ---------------------------------------------------


def test_a_certificate_failure_stops_the_host(hostile_lab: HostileLab, tmp_path: Path) -> None:
    done = auditor(
        "scan", "host", hostile_lab.tls, "--config", str(hostile_lab.scan_config),
        "-o", str(tmp_path), "-f", "json", "--quiet",
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    (target,) = load_json(tmp_path / "report.json")["targets"]
    assert target["status"] == "failed"
    reason = target["reason"]
    assert reason.startswith("tls_error") and "CERTIFICATE_VERIFY_FAILED" in reason, reason
    assert "CA bundle" in reason and "--insecure" in reason, reason


def test_insecure_is_written_into_the_report(hostile_lab: HostileLab, tmp_path: Path) -> None:
    done = auditor(
        "scan", "host", hostile_lab.tls, "--config", str(hostile_lab.scan_config), "--insecure",
        "-o", str(tmp_path), "-f", "json", "-f", "html", "--quiet",
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    report = load_json(tmp_path / "report.json")
    (target,) = report["targets"]
    assert target["status"] == "complete"
    warning = "TLS certificate validation was turned off (--insecure)"
    assert report["metadata"]["options"]["insecure"] is True
    assert warning in report["metadata"]["warnings"]
    html = parse((tmp_path / "report.html").read_text("utf-8"))
    assert warning in html.by_id("warnings").text()
    (details,) = html.find_all(lambda e: e.tag == "details" and "options" in e.classes())
    options = details.text()
    assert re.search(r"insecure\s*true", options), options
