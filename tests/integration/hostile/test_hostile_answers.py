"""Answers that are too big or half broken: an oversize WinRM answer fails its host with a clear
reason in bounded memory, a debug log line stays bounded, and a malformed listener answer costs
only the listener fact."""

from __future__ import annotations

import http.client
import os
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor import netmap
from auditor.collectors.winrm.client import WinRMCollector, WinRMSettings
from auditor.collectors.winrm.request import build_request, request_json
from auditor.collectors.winrm.wsman_config import CONFIG_FACTS
from auditor.credentials import Credentials, Secret
from auditor.facts.model import Available, DocumentKind, Reason, Unavailable
from auditor.lab.pki import LabCA, create_ca, issue_host_cert
from auditor.lab.winrm import ServiceAuth, ServiceSettings, WinRMHostConfig, WinRMHostServer
from auditor.pipeline.config import parse_config
from auditor.pipeline.hosts import wanted_by
from auditor.pipeline.plan import select_rules

from .conftest import PASSWORD, load_json
from .peers import OFFER, Peer, Reply, Request, server_tls, stream_of

MiB = 1024 * 1024
# What the hostile sweep sent: 703 MB of memory, 1.3 GB and a 419 MB log at debug level.
FLOOD = 200 * MiB
# name: (answer size, announced in Content-Length?, words of the host's reason)
ANSWERS = {
    "200 MB, announced": (FLOOD, True, "exceeded the 8 MiB limit"),
    "200 MB, chunked": (FLOOD, False, "exceeded the 8 MiB limit"),
    "3 MiB, under the limit": (3 * MiB, False, "malformed XML"),
}
PEAK_RSS_BOUND = 300 * MiB  # an auditor scan process takes well under half of it
LOG_BOUND = 512 * 1024


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return create_ca(tmp_path_factory.mktemp("answers-ca"), "Answers Test Root CA")


def flood(size: int, announced: bool) -> Any:
    """A Basic-over-HTTPS listener that answers a logged-on request with `size` bytes of
    text that starts like a SOAP envelope."""

    def handle(request: Request, state: dict[str, Any]) -> Reply:
        if not request.headers.get("authorization", "").startswith("Basic "):
            return OFFER
        return Reply(
            200,
            (("Content-Type", "application/soap+xml;charset=UTF-8"),),
            stream_of(size, b"<s:Envelope>" + b"A" * (MiB - 12)),
            close=True,
            length=size if announced else None,
        )

    return handle


def scan_measured(folder: Path, config: Path) -> tuple[int, int, str]:
    """`auditor scan host` at debug level: (exit code, its peak RSS in bytes, what it printed)."""
    command = [
        sys.executable, "-m", "auditor", "--log-level", "debug",
        "--log-file", str(folder / "debug.log"),
        "scan", "host", "--config", str(config), "-o", str(folder / "out"), "-f", "json",
    ]  # fmt: skip
    env = {**os.environ, "AUDITOR_TEST_PASSWORD": PASSWORD, "COLUMNS": "200"}
    printed = folder / "console.txt"
    with printed.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    ends = time.monotonic() + 240
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > ends:
            process.kill()
        time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return process.returncode, usage.ru_maxrss * 1024, printed.read_text("utf-8", "replace")


@pytest.mark.parametrize("case", sorted(ANSWERS))
def test_an_oversize_answer_fails_the_host_in_bounded_memory(
    ca: LabCA, tmp_path: Path, case: str
) -> None:
    size, announced, words = ANSWERS[case]
    index = sorted(ANSWERS).index(case) + 1
    name, address = f"flood-{index}.hostile.test", f"127.31.2.{index}"
    config = tmp_path / "scan.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "names": {name: address},
                "credentials": {"username": "svc_auditor", "password": "env:AUDITOR_TEST_PASSWORD"},
                "winrm": {
                    "transport": "https",
                    "auth": "basic",
                    "ca_bundle": str(ca.cert_path),
                    "retries": 0,
                    "operation_timeout": 5,
                    "read_timeout": 20,
                },
                "probes": {"enabled": False},
                "hosts": [name],
            }
        )
    )
    tls = server_tls(issue_host_cert(ca, tmp_path / "pki", name))
    with Peer(address, 5986, flood(size, announced), tls) as listener:
        code, peak, printed = scan_measured(tmp_path, config)
    assert code == 3, printed[-3000:]
    assert "Traceback" not in printed
    assert listener.requests, "the scanner never reached the listener"
    (target,) = load_json(tmp_path / "out" / "report.json")["targets"]
    assert target["status"] == "failed"
    assert target["reason"].startswith("protocol_error"), target["reason"]
    assert words in target["reason"], target["reason"]
    assert peak < PEAK_RSS_BOUND, f"peak RSS {peak // MiB} MiB"
    log = tmp_path / "debug.log"
    assert log.stat().st_size < LOG_BOUND, f"debug log of {log.stat().st_size} bytes"
    if size < FLOOD:  # read whole and logged: the log line says what it left out
        assert "more characters not logged]" in log.read_text("utf-8")


# --- A malformed listener answer costs the listener fact only --------------------------------

HOST = "listeners.hostile.test"
ENUMERATION = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
ENUMERATE = f"{ENUMERATION}/Enumerate".encode()
PULL = f"{ENUMERATION}/Pull".encode()
# How the relay treats the listener enumeration: pass it, cut its answer, or never end it.
TAMPERING = ("relayed", "enumerate cut in half", "enumeration never ends")


def open_enumeration(request: Request) -> bytes:
    """An Enumerate or Pull answer that holds no item, a context, and no EndOfSequence."""
    sent = re.search(rb"MessageID>(uuid:[0-9a-fA-F-]+)<", request.body)
    relates = sent.group(1).decode() if sent else ""
    kind = "PullResponse" if PULL in request.body else "EnumerateResponse"
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        f'xmlns:n="{ENUMERATION}"><s:Header><a:Action>{ENUMERATION}/{kind}</a:Action>'
        f"<a:RelatesTo>{relates}</a:RelatesTo></s:Header><s:Body><n:{kind}>"
        f"<n:EnumerationContext>uuid:0000-endless</n:EnumerationContext></n:{kind}>"
        "</s:Body></s:Envelope>"
    ).encode()


@pytest.fixture(scope="module")
def winrm_host(ca: LabCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WinRMHostConfig]:
    """An emulated Windows host with an HTTPS listener that takes Basic."""
    issued = issue_host_cert(ca, tmp_path_factory.mktemp("listener-pki"), HOST)
    config = WinRMHostConfig(
        hostname=HOST,
        address="127.31.4.1",
        users={"svc_auditor": PASSWORD},
        http_listener=False,
        https_listener=True,
        tls_cert=issued.cert_path,
        tls_key=issued.key_path,
        tls_thumbprint=issued.thumbprint,
        service=ServiceSettings(auth=ServiceAuth(basic=True)),
    )
    with WinRMHostServer([config]):
        yield config


def tampering(upstream: WinRMHostConfig, how: str) -> Any:
    """Relays to the real host, but for the listener enumeration does as `how` says."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the relay is ours; the scanner validates the relay

    def handle(request: Request, state: dict[str, Any]) -> Reply:
        soap = (("Content-Type", "application/soap+xml;charset=UTF-8"),)
        if how == "enumeration never ends" and (ENUMERATE in request.body or PULL in request.body):
            return Reply(200, soap, open_enumeration(request))
        connection = http.client.HTTPSConnection(
            upstream.address, upstream.https_port, timeout=10, context=context
        )
        try:
            headers = {k: v for k, v in request.headers.items() if k != "host"}
            connection.request(request.method, request.path, request.body, headers)
            answer = connection.getresponse()
            body = answer.read()
            kept = tuple((k, v) for k, v in answer.getheaders() if k.lower() in ("content-type",))
        finally:
            connection.close()
        if how == "enumerate cut in half" and ENUMERATE in request.body:
            body = body[: len(body) // 2]
        return Reply(answer.status, kept, body)

    return handle


@pytest.mark.parametrize("how", TAMPERING)
def test_a_malformed_listener_answer_keeps_the_configuration_facts(
    winrm_host: WinRMHostConfig, ca: LabCA, tmp_path: Path, how: str
) -> None:
    rules = [
        r for r in select_rules(parse_config(None, None)) if r.scope.target is DocumentKind.HOST
    ]
    tls = server_tls(issue_host_cert(ca, tmp_path / "relay", HOST))
    credentials = Credentials("svc_auditor", Secret(PASSWORD), "test")
    relay = Peer("127.0.0.1", 0, tampering(winrm_host, how), tls)
    with relay, netmap.mapped({HOST: "127.0.0.1"}):
        settings = WinRMSettings(
            port=relay.port,
            auth="basic",
            ca_bundle=ca.cert_path,
            retries=0,
            operation_timeout=5,
            read_timeout=15,
        )
        collector = WinRMCollector(settings, credentials)
        collection = collector.collect(
            HOST, build_request(wanted_by(rules)), request_json(wanted_by(rules))
        )
    assert any(ENUMERATE in r.body for r in relay.requests)
    config = {name: collection.facts[name] for name in CONFIG_FACTS}
    assert all(isinstance(f, Available) for f in config.values()), config
    listeners = collection.facts["winrm.listeners"]
    if how == "relayed":
        assert isinstance(listeners, Available) and listeners.value, listeners
        return
    assert isinstance(listeners, Unavailable), listeners
    assert listeners.reason is Reason.PROTOCOL_ERROR
    expected = {
        "enumerate cut in half": "listener enumeration: malformed XML",
        "enumeration never ends": "listener enumeration: the enumeration did not end after 50",
    }[how]
    assert listeners.detail.startswith(expected), listeners.detail
    pulls = sum(PULL in r.body for r in relay.requests)
    assert pulls <= 50, pulls
    # The pipeline ran after it: its sections have their own outcome, whatever it is.
    assert collection.messages > 3


# --- The guard costs a healthy host nothing ---------------------------------------------------

HEALTHY = "healthy.hostile.test"


@pytest.fixture(scope="module")
def strict_host(ca: LabCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WinRMHostConfig]:
    """HTTP, and HTTPS that demands channel binding (what Windows' CbtHardeningLevel Strict does)."""
    issued = issue_host_cert(ca, tmp_path_factory.mktemp("healthy-pki"), HEALTHY)
    config = WinRMHostConfig(
        hostname=HEALTHY,
        address="127.31.4.2",
        users={"svc_auditor": PASSWORD},
        http_listener=True,
        https_listener=True,
        tls_cert=issued.cert_path,
        tls_key=issued.key_path,
        tls_thumbprint=issued.thumbprint,
        service=ServiceSettings(auth=ServiceAuth(cbt_hardening_level="Strict")),
    )
    with WinRMHostServer([config]), netmap.mapped({HEALTHY: config.address}):
        yield config


@pytest.mark.parametrize(
    "https", [True, False], ids=["ntlm over https, strict cbt", "ntlm over http"]
)
def test_a_healthy_host_is_collected_through_the_guard(
    strict_host: WinRMHostConfig, ca: LabCA, https: bool
) -> None:
    rules = [
        r for r in select_rules(parse_config(None, None)) if r.scope.target is DocumentKind.HOST
    ]
    settings = WinRMSettings(
        use_https=https, auth="ntlm", ca_bundle=ca.cert_path, retries=0, read_timeout=40
    )
    collector = WinRMCollector(settings, Credentials("svc_auditor", Secret(PASSWORD), "test"))
    collection = collector.collect(
        HEALTHY, build_request(wanted_by(rules)), request_json(wanted_by(rules))
    )
    listeners = collection.facts["winrm.listeners"]
    assert isinstance(listeners, Available), listeners
    assert {item["transport"] for item in listeners.value} == {"HTTP", "HTTPS"}
    assert all(isinstance(collection.facts[name], Available) for name in CONFIG_FACTS)
