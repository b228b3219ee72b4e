"""What a scan can know before collecting, it checks before collecting (issue 13, item 8).

Each case runs the real command line against a host whose every port (WinRM, RDP, LDAP) is a
real listener on loopback that counts connections: the configuration error must end the
command with exit 2 and one message naming the file or option, and no host may be contacted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from auditor.store import Store
from tests.cli import auditor as run_auditor

# helper E's loopback range (tests binding fixed ports use their own addresses).
ADDRESS = "127.35.0.1"
PORTS = (5985, 5986, 3389, 636, 389)


class CountingHost:
    """Accepts on every port a scan would use, counts the connections and hangs up."""

    def __init__(self) -> None:
        self.connections = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        for port in PORTS:
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((ADDRESS, port))
            server.listen(16)
            server.settimeout(0.2)
            self._sockets.append(server)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._serve, args=(s,), daemon=True) for s in self._sockets
        ]
        for thread in self._threads:
            thread.start()

    def _serve(self, server: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with self._lock:
                self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for server in self._sockets:
            server.close()


@pytest.fixture
def host() -> Iterator[CountingHost]:
    counting = CountingHost()
    try:
        yield counting
    finally:
        counting.close()


def auditor(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    root = str(Path(__file__).resolve().parents[2])
    return run_auditor(
        *args, cwd=cwd, env={"AUDITOR_TEST_PASSWORD": "not-used-9", "PYTHONPATH": root}
    )


def write_config(folder: Path, extra: str = "", winrm: str = "") -> Path:
    """A configuration for one host and its DC, both at the counting listener's address."""
    path = folder / "scan.yaml"
    path.write_text(
        "domain: {name: corp.test, dc: dc.corp.test}\n"
        f"names: {{web01.corp.test: {ADDRESS}, dc.corp.test: {ADDRESS}}}\n"
        "credentials: {username: 'CORP\\auditor', password: 'env:AUDITOR_TEST_PASSWORD'}\n"
        "hosts: [web01.corp.test]\n"
        "probes: {timeout: 2}\n"
        f"winrm: {{{winrm}transport: https, connect_timeout: 2, read_timeout: 5, operation_timeout: 4,"
        " retries: 0}\n"
        "inventory: {from_domain: false}\n" + extra,
        encoding="utf-8",
    )
    return path


def assert_refused_before_collecting(
    done: subprocess.CompletedProcess[str], host: CountingHost, *expected: str
) -> None:
    assert done.returncode == 2, done.stderr
    first = done.stderr.splitlines()[0]
    for part in expected:
        assert part in first, done.stderr
    assert "Traceback" not in done.stderr
    assert host.connections == 0, "a host was contacted before the configuration error"


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Unwritable even for root: the immutable flag there, file mode otherwise."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    flagged = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if flagged.returncode != 0:
        pytest.skip("running as root where chattr +i is unavailable: cannot make a read-only file")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


SCAN_HOST = ("scan", "host", "--probe-only", "--config", "scan.yaml", "-q")


def test_unknown_format_in_the_configuration(tmp_path: Path, host: CountingHost) -> None:
    write_config(tmp_path, "output: {formats: [html, pdf]}\n")
    done = auditor(*SCAN_HOST, cwd=tmp_path)
    assert_refused_before_collecting(
        done, host, "scan.yaml:8: output.formats: unknown format 'pdf'", "known: json, html"
    )


def test_unknown_format_on_the_command_line(tmp_path: Path, host: CountingHost) -> None:
    write_config(tmp_path)
    done = auditor(*SCAN_HOST, "-f", "json", "-f", "docx", cwd=tmp_path)
    assert_refused_before_collecting(done, host, "--format: unknown format", "docx")


def test_unknown_format_ends_a_domain_scan_before_the_directory_is_read(
    tmp_path: Path, host: CountingHost
) -> None:
    write_config(tmp_path)
    done = auditor("scan", "domain", "--config", "scan.yaml", "-f", "pdf", "-q", cwd=tmp_path)
    assert_refused_before_collecting(done, host, "--format: unknown format")


def test_missing_ca_bundle(tmp_path: Path, host: CountingHost) -> None:
    """It used to fail every host's TLS probe, exit 3, with the same reason once per host."""
    write_config(tmp_path, winrm="ca_bundle: pki/corp-ca.pem, ")
    done = auditor(*SCAN_HOST, cwd=tmp_path)
    assert_refused_before_collecting(
        done,
        host,
        "scan.yaml:6: winrm.ca_bundle:",
        f"{tmp_path / 'pki' / 'corp-ca.pem'}",
        "does not exist",
    )


def test_ca_bundle_that_holds_no_certificate(tmp_path: Path, host: CountingHost) -> None:
    write_config(tmp_path, winrm="ca_bundle: ca.pem, ")
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    done = auditor(*SCAN_HOST, cwd=tmp_path)
    assert_refused_before_collecting(done, host, "winrm.ca_bundle:", "no usable PEM CA certificate")


def test_read_only_store(tmp_path: Path, host: CountingHost) -> None:
    write_config(tmp_path)
    store = tmp_path / "history.db"
    Store(store).close()
    with read_only(store):
        done = auditor(*SCAN_HOST, "--store", store, cwd=tmp_path)
    assert_refused_before_collecting(done, host, f"{store}: cannot record scans in this store")


def test_read_only_store_loses_no_offline_result(tmp_path: Path) -> None:
    """`scan facts` used to evaluate everything, fail to record, and write no report at all."""
    store = tmp_path / "history.db"
    Store(store).close()
    facts = Path(__file__).resolve().parents[2] / "examples" / "hosts" / "web01-iis.json"
    with read_only(store):
        done = auditor("scan", "facts", facts, "--store", store, "-o", "out", "-q", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {store}: cannot record scans in this store"), done.stderr


def test_output_folder_that_is_a_file(tmp_path: Path, host: CountingHost) -> None:
    write_config(tmp_path, "output: {directory: reports}\n")
    (tmp_path / "reports").write_text("a file, not a folder\n")
    done = auditor(*SCAN_HOST, cwd=tmp_path)
    assert_refused_before_collecting(done, host, "reports: the output folder:", "is not a folder")


def test_the_same_configuration_without_errors_does_contact_the_host(
    tmp_path: Path, host: CountingHost
) -> None:
    """The control: the listener does count a scan's connections."""
    write_config(tmp_path)
    done = auditor(*SCAN_HOST, "-o", "out", "-f", "json", cwd=tmp_path)
    assert done.returncode in (0, 1, 3), done.stderr
    assert host.connections > 0
