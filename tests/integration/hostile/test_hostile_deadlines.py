"""`host_deadline` bounds a host's wall time whatever its peer does (trickled headers, a trickled
body, a half-open connection): the scan ends on time, the host is recorded as timed out (in the
journal too, so --resume does not wait for it again) and a healthy host in the same run completes.

The slow peers are real listeners on loopback that hold every connection for LIFETIME seconds;
the scans must end long before that.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from auditor.clock import utc_now
from auditor.collectors.cutoff import HostConnections, HostCutOff
from auditor.collectors.host import HostTarget
from auditor.facts.model import DocumentKind, FactDocument, Reason, Target
from auditor.lab.definition import load_definition
from auditor.pipeline.fleet import collect_all
from auditor.pipeline.journal import read_journal
from tests.integration.lab.conftest import Lab, relocated, start_lab

PREFIX = "127.32."  # this file's loopback range
DEADLINE = 3  # host_deadline of the scans below
LIFETIME = 120  # how long a slow peer holds a connection (a host with two retries: 3x this)
BOUND = 30  # a scan must end within this; the slow peers alone would hold it for minutes
BEHAVIOURS = ("headers", "body", "silent")
_UNAUTHORIZED = (
    b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n"
    b"Content-Length: 0\r\n\r\n"
)


class SlowPeer(socketserver.ThreadingTCPServer):
    """A WinRM listener on ADDRESS:5985 that starts answering and never finishes.

    "headers" trickles a header line one byte a second, "body" sends complete headers and then
    one body byte a second, "silent" accepts and never answers. Unauthenticated requests get a
    quick 401 unless `trap_all`, so a full scan gets past its probes and is held in the WinRM
    exchange itself. A held connection ends after LIFETIME seconds, or when the peer closes.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: str, behaviour: str, trap_all: bool) -> None:
        self.behaviour = behaviour
        self.trap_all = trap_all
        self.stopping = threading.Event()
        self.held = 0  # requests held so far
        super().__init__((address, 5985), _SlowHandler)
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()

    @property
    def name(self) -> str:
        return f"slow-{self.behaviour}.hostile.test"

    @property
    def address(self) -> str:
        return str(self.server_address[0])

    def close(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join(10)


class _SlowHandler(socketserver.BaseRequestHandler):
    server: SlowPeer
    request: socket.socket

    def handle(self) -> None:
        end = time.monotonic() + LIFETIME
        self.request.settimeout(1)
        pending = b""
        while True:
            head, pending = self._read_request(pending, end)
            if head is None:
                return
            if self.server.trap_all or b"\r\nauthorization:" in head.lower():
                self.server.held += 1
                self._hold(end)
                return
            self.request.sendall(_UNAUTHORIZED)
            if b"\r\nconnection: close" in head.lower():
                return

    def _alive(self, end: float) -> bool:
        return not self.server.stopping.is_set() and time.monotonic() < end

    def _read_request(self, pending: bytes, end: float) -> tuple[bytes | None, bytes]:
        """One request's head, its body skipped; None when the client left or time is up."""
        while b"\r\n\r\n" not in pending:
            chunk = self._receive(end)
            if not chunk:
                return None, b""
            pending += chunk
        head, _, rest = pending.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ),
            0,
        )
        while len(rest) < length:
            chunk = self._receive(end)
            if not chunk:
                return None, b""
            rest += chunk
        return head, rest[length:]

    def _receive(self, end: float) -> bytes:
        while self._alive(end):
            try:
                return self.request.recv(65536)
            except TimeoutError:
                continue
        return b""

    def _hold(self, end: float) -> None:
        if self.server.behaviour == "headers":
            self.request.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        elif self.server.behaviour == "body":
            self.request.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n"
                b"Content-Length: 4000\r\n\r\n<"  # an ordinary size: no limit refuses it
            )
        while not self.server.stopping.wait(1) and time.monotonic() < end:
            try:
                if self.server.behaviour != "silent":
                    self.request.sendall(b"x")
            except OSError:  # the scanner hung up: what a deadline should do
                return


@contextmanager
def slow_peers(trap_all: bool) -> Iterator[list[SlowPeer]]:
    peers = [SlowPeer(f"{PREFIX}9.{i + 1}", b, trap_all) for i, b in enumerate(BEHAVIOURS)]
    try:
        yield peers
    finally:
        for peer in peers:
            peer.close()


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The default lab's FS01 on this file's range: a WinRM host that answers promptly."""
    base = relocated(load_definition(None), PREFIX)
    only = tuple(h for h in base.hosts if h.name == "FS01")
    yield from start_lab(
        tmp_path_factory.mktemp("deadline-lab"), dataclasses.replace(base, hosts=only)
    )


@dataclasses.dataclass(frozen=True)
class Scan:
    run: subprocess.CompletedProcess[str]
    seconds: float
    report: dict[str, Any]
    journal: Path

    def target(self, name: str) -> dict[str, Any]:
        return next(t for t in self.report["targets"] if t["name"] == name)


def scan_command(lab: Lab, peers: list[SlowPeer], base: Path, **settings: Any) -> list[str]:
    """`auditor scan host` on the healthy host and the slow peers, with every per-read timeout
    far beyond the deadline: only the deadline can end the slow hosts in time."""
    raw = dict(lab.config.raw)
    config = {
        **raw,
        "names": {**raw["names"], **{p.name: p.address for p in peers}},
        "hosts": [*raw["hosts"], *(p.name for p in peers)],
        "concurrency": 8,
        "winrm": {**raw["winrm"], "operation_timeout": 30, "read_timeout": 60, "retries": 2},
        "probes": {"timeout": 30},
        **settings,
    }
    path = base / "scan.yaml"
    path.write_text(json.dumps(config))
    return [sys.executable, "-m", "auditor", "scan", "host", "--config", str(path)]


def scan(lab: Lab, peers: list[SlowPeer], base: Path, *extra: str) -> Scan:
    command = scan_command(lab, peers, base, host_deadline=DEADLINE)
    out = base / "out"
    began = time.monotonic()
    try:
        run = subprocess.run(
            [*command, "-o", str(out), "-f", "json", "--quiet", *extra],
            capture_output=True,
            text=True,
            timeout=2 * BOUND,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the scan was still running {2 * BOUND} s in: the deadline did not end it")
    seconds = time.monotonic() - began
    report = json.loads((out / "report.json").read_text("utf-8"))
    return Scan(run, seconds, report, out / "journal.jsonl")


def assert_timed_out(result: Scan, peers: list[SlowPeer]) -> None:
    """Each slow host: failed for its deadline in the report, and journaled so, so --resume
    keeps the answer instead of waiting for the host again."""
    journaled = read_journal(result.journal).documents
    for peer in peers:
        target = result.target(peer.name)
        assert target["status"] == "failed", target
        assert target["reason"].startswith("timeout: "), target
        assert f"host_deadline of {DEADLINE} s" in target["reason"], target
        failure = journaled[f"host:{peer.name}"].failure
        assert failure is not None and failure.reason is Reason.TIMEOUT


def test_a_full_scan_ends_slow_hosts_at_their_deadline(healthy: Lab, tmp_path: Path) -> None:
    with slow_peers(trap_all=False) as peers:
        result = scan(healthy, peers, tmp_path)
        held = [p.held for p in peers]
    assert result.run.returncode == 3, result.run.stderr[-3000:]  # incomplete
    assert result.seconds < BOUND
    # Each was held in the logged-on WinRM exchange, and never asked again once cut off.
    assert held == [1, 1, 1]
    assert_timed_out(result, peers)
    fs01 = result.target("fs01.corp.auditor.test")
    assert fs01["status"] == "complete", fs01
    assert read_journal(result.journal).documents[fs01["id"]].failure is None


def test_a_probe_only_scan_ends_slow_hosts_at_their_deadline(healthy: Lab, tmp_path: Path) -> None:
    with slow_peers(trap_all=True) as peers:
        result = scan(healthy, peers, tmp_path, "--probe-only")
        held = [p.held for p in peers]
    assert result.run.returncode == 3, result.run.stderr[-3000:]
    assert result.seconds < BOUND
    assert all(held), held
    assert_timed_out(result, peers)
    fs01 = result.target("fs01.corp.auditor.test")
    assert fs01["status"] != "failed", fs01
    decided = {
        r["rule_id"]: r["status"] for r in result.report["results"] if r["target_id"] == fs01["id"]
    }
    assert decided["winrm-service-basic-auth"] == "fail"  # the probe saw Basic offered over HTTP


def test_ctrl_c_ends_a_scan_held_by_a_silent_host(healthy: Lab, tmp_path: Path) -> None:
    """Without a deadline, Ctrl-C cuts the silent host off: the command reports what it has at
    once, and the host is left out of the journal so that --resume collects it."""
    out = tmp_path / "out"
    with slow_peers(trap_all=False) as peers:
        silent = peers[BEHAVIOURS.index("silent")]
        command = scan_command(healthy, [silent], tmp_path)
        process = subprocess.Popen(
            [*command, "-o", str(out), "-f", "json", "--quiet"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            waited = time.monotonic() + BOUND
            while not silent.held and time.monotonic() < waited:
                time.sleep(0.05)
            assert silent.held, "the scan never reached the silent host"
            process.send_signal(signal.SIGINT)
            code = process.wait(BOUND)
        finally:
            process.kill()
            stderr = process.communicate()[1]
    assert code == 3, stderr[-3000:]
    report = json.loads((out / "report.json").read_text("utf-8"))
    target = next(t for t in report["targets"] if t["name"] == silent.name)
    assert target["reason"] == "not_collected: scan interrupted (Ctrl-C)", target
    assert f"host:{silent.name}" not in read_journal(out / "journal.jsonl").documents


def _document(target: HostTarget) -> FactDocument:
    return FactDocument(
        Target(DocumentKind.HOST, target.name, target.address), {}, utc_now(), collector="test"
    )


def test_collect_all_ends_a_stuck_host_at_its_deadline() -> None:
    """In process: a host blocked on a silent peer ends at its deadline, its thread ends with
    it (its socket was shut down), and the prompt host beside it is kept."""
    listener = socket.create_server(("127.0.0.1", 0))
    stuck, prompt = HostTarget("stuck.test", "127.0.0.1"), HostTarget("prompt.test", "127.0.0.1")
    landed: list[FactDocument] = []

    def collect(target: HostTarget) -> tuple[FactDocument, dict[str, Any]]:
        if target is stuck:  # a per-read timeout far past the deadline, as the transports have
            with socket.create_connection(listener.getsockname(), timeout=LIFETIME / 2) as sock:
                sock.recv(1)  # the peer never answers
        return _document(target), {}

    began = time.monotonic()
    with listener:
        outcome = collect_all([stuck, prompt], collect, 2, 1.0, lambda d, i: landed.append(d))
        seconds = time.monotonic() - began
        workers = [t for t in threading.enumerate() if t.name.startswith("collect")]
        for worker in workers:
            worker.join(10)
    assert seconds < BOUND
    assert not [w.name for w in workers if w.is_alive()]
    first, second = outcome.documents
    assert first.failure is not None and first.failure.reason is Reason.TIMEOUT
    assert "host_deadline of 1 s" in first.failure.detail
    assert second.failure is None
    assert {d.target.name for d in landed} == {"stuck.test", "prompt.test"}


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_a_cut_host_wakes_from_a_blocked_read_and_connects_no_more(tls: bool) -> None:
    """Cut from another thread: the read (or TLS handshake) returns at once, and the host's
    thread cannot open a new connection, so it cannot send anything more to the peer."""
    connections = HostConnections("silent.test")
    seen: dict[str, BaseException | bytes] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = listener.getsockname()

        def stuck() -> None:
            with connections.tracked():
                sock = socket.create_connection(address, timeout=LIFETIME)
                try:
                    if tls:
                        context = ssl.create_default_context()
                        sock = context.wrap_socket(sock, server_hostname="silent.test")
                    seen["read"] = sock.recv(1)
                except OSError as exc:
                    seen["read"] = exc
                finally:
                    sock.close()
                try:
                    socket.create_connection(address, timeout=LIFETIME).close()
                except HostCutOff as exc:
                    seen["reconnect"] = exc

        thread = threading.Thread(target=stuck, daemon=True)
        thread.start()
        listener.settimeout(10)
        peer, _ = listener.accept()  # the thread is connected and about to wait for an answer
        with peer:
            time.sleep(0.2)  # lets the thread reach its read; the cut must end it either way
            connections.cut()
            thread.join(10)
            assert not thread.is_alive(), "the read outlived the cut"
            listener.settimeout(0.5)
            with pytest.raises(TimeoutError):
                listener.accept()  # no second connection reached the peer
    assert "read" in seen
    assert isinstance(seen["reconnect"], HostCutOff)
    assert "silent.test" in str(seen["reconnect"])
