"""A WinRM listener that redirects, and an environment that would change whom the scanner trusts
or what it sends: nothing is re-sent, only the configured trust store is used, no credential
leaves for anyone else, and the host's result says what happened."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pypsrp.exceptions import WinRMTransportError
from pypsrp.wsman import WSMan

from auditor.collectors.winrm.client import classify
from auditor.collectors.winrm.transport import RedirectRefused
from auditor.facts.model import Reason
from auditor.lab.pki import LabCA, create_ca, issue_host_cert

from .conftest import PASSWORD, load_json, run_scan, secret_forms
from .peers import (
    OFFER,
    Handler,
    Peer,
    Reply,
    Request,
    artefact_leaks,
    leaked,
    ntlm_challenge,
    server_tls,
)

USER = "HOSTILE\\svc_auditor"
NETRC_PASSWORD = "Netrc-Canary-4hT8-Owl"
REDIRECTS = (301, 302, 307, 308)
# How the impostor behaves: (auth, transport, when it redirects).
CASES = {
    "ntlm, redirect at once": ("ntlm", "auto", "at once"),
    "ntlm, redirect after the logon": ("ntlm", "auto", "after logon"),
    "basic over https": ("basic", "https", "at once"),
}


@pytest.fixture
def ntlm_acceptor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pyspnego's NTLM acceptor wants a credential file even to issue a CHALLENGE."""
    users = tmp_path / "ntlm-users"
    users.write_text("")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return create_ca(tmp_path_factory.mktemp("hostile-ca"), "Hostile Test Root CA")


def catcher_handler(request: Request, state: dict[str, Any]) -> Reply:
    """Where a redirect points: it logs on whoever follows, as a relay would."""
    return ntlm_challenge(request, state) or Reply(500, close=True)


def impostor_handler(status: int, to: str, when: str) -> Handler:
    """A listener that answers `status` pointing at `to`: at once, or once the client has
    logged on to it (the redirect then comes from inside pypsrp's Negotiate exchange)."""
    moved = Reply(status, (("Location", to),), close=True)

    def handle(request: Request, state: dict[str, Any]) -> Reply:
        if when == "at once":
            return moved
        return ntlm_challenge(request, state) or moved

    return handle


def scan_config(folder: Path, name: str, address: str, probes: bool = True, **winrm: Any) -> Path:
    config = {
        "names": {name: address},
        "credentials": {"username": USER, "password": "env:AUDITOR_TEST_PASSWORD"},
        "winrm": {
            "retries": 0,
            "connect_timeout": 5,
            "operation_timeout": 5,
            "read_timeout": 10,
            **winrm,
        },
        "probes": {"enabled": probes, "timeout": 3},
        "hosts": [name],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scan.yaml"
    path.write_text(yaml.safe_dump(config), "utf-8")
    return path


def hostile_home(folder: Path, *machines: str) -> dict[str, str]:
    """An environment whose ~/.netrc has a password for each of `machines`."""
    folder.mkdir(parents=True, exist_ok=True)
    netrc = folder / ".netrc"
    netrc.write_text(
        "".join(f"machine {m} login netrc-user password {NETRC_PASSWORD}\n" for m in machines)
    )
    netrc.chmod(0o600)
    return {"HOME": str(folder), "AUDITOR_TEST_PASSWORD": PASSWORD}


def forbidden() -> dict[str, bytes]:
    """The scan password and the ~/.netrc one, in every spelling."""
    forms = secret_forms(PASSWORD)
    netrc = base64.b64encode(f"netrc-user:{NETRC_PASSWORD}".encode())
    return {**forms, "netrc password": NETRC_PASSWORD.encode(), "netrc Basic header": netrc}


@pytest.fixture
def catcher(ntlm_acceptor: None) -> Iterator[Peer]:
    with Peer("127.0.0.1", 0, catcher_handler) as peer:
        yield peer


def test_the_catcher_receives_a_logon_from_a_client_that_follows(
    catcher: Peer, tmp_path: Path
) -> None:
    """Control: pypsrp on its own follows a 307 and logs on at the catcher, so "the catcher
    received nothing" below means the scanner refused, not that the catcher cannot see."""
    handler = impostor_handler(307, catcher.url, "at once")
    with Peer("127.31.0.1", 0, handler) as impostor:
        client = WSMan(
            "127.31.0.1",
            port=impostor.port,
            ssl=False,
            username=USER,
            password=PASSWORD,
            auth="ntlm",
            encryption="always",
            no_proxy=True,
            connection_timeout=5,
            read_timeout=10,
            operation_timeout=5,
        )
        with pytest.raises(WinRMTransportError):  # the catcher's 500, after the logon
            client.get("http://schemas.microsoft.com/wbem/wsman/1/config")
        client.close()
    assert any(r.is_ntlm_authenticate() for r in catcher.requests), catcher.requests


@pytest.mark.parametrize("status", REDIRECTS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_redirect_is_refused_before_anything_is_resent(
    catcher: Peer, ca: LabCA, tmp_path: Path, case: str, status: int
) -> None:
    """A real scan (probes, then the logon), at debug level with every report format and a
    ~/.netrc that knows the catcher: the catcher gets nothing, the host fails with
    redirect_refused, and no secret is in any artefact."""
    auth, transport, when = CASES[case]
    index = sorted(CASES).index(case) * len(REDIRECTS) + REDIRECTS.index(status) + 1
    name, address = f"impostor-{index}.hostile.test", f"127.31.1.{index}"
    https = transport == "https"
    tls = server_tls(issue_host_cert(ca, tmp_path / "pki", name)) if https else None
    handler = impostor_handler(status, catcher.url, when)
    config = scan_config(
        tmp_path, name, address, auth=auth, transport=transport, ca_bundle=str(ca.cert_path)
    )
    env = hostile_home(tmp_path / "home", "127.0.0.1", name)
    with Peer(address, 5986 if https else 5985, handler, tls) as impostor:
        scan = run_scan(
            tmp_path / "run", "scan", "host", "--config", str(config), env=env, save_facts=True
        )
    printed = scan.run.stdout + scan.run.stderr
    assert scan.run.returncode == 3, printed[-3000:]
    assert "Traceback" not in printed
    # Whatever the impostor got, nothing went on to where it pointed: not a logon, not a body.
    assert catcher.connections == 0, catcher.requests
    assert impostor.requests, "the scanner never reached the impostor"
    if when == "after logon":
        assert any(r.is_ntlm_authenticate() for r in impostor.requests)
    report = load_json(scan.output / "report.json")
    (target,) = report["targets"]
    assert target["status"] == "failed"
    reason = target["reason"]
    assert reason.startswith("redirect_refused"), reason
    assert f"HTTP {status}" in reason and catcher.url in reason, reason
    mine = [r for r in report["results"] if r["target_id"] == target["id"]]
    assert mine and {r["status"] for r in mine} <= {"error", "not_applicable"}
    assert scan.facts is not None
    assert load_json(scan.facts / f"{name}.json")["failure"]["reason"] == "redirect_refused"
    markdown = (scan.output / "report.md").read_text("utf-8").replace("\\_", "_")
    assert f"redirect_refused: {name}: the WinRM service answered HTTP {status}" in markdown
    assert artefact_leaks(scan.artefacts(), forbidden()) == []
    assert leaked(impostor.received(), {"netrc": NETRC_PASSWORD.encode()}) == []


def test_a_redirecting_listener_is_not_followed_by_the_probes(
    catcher: Peer, tmp_path: Path
) -> None:
    """The credential-free probes say what they saw and go nowhere else."""
    name, address = "impostor-probe.hostile.test", "127.31.0.2"
    handler = impostor_handler(307, catcher.url, "at once")
    config = scan_config(tmp_path, name, address)
    with Peer(address, 5985, handler) as impostor:
        scan = run_scan(
            tmp_path / "run", "scan", "host", "--probe-only", "--config", str(config),
            env={"AUDITOR_TEST_PASSWORD": PASSWORD}, save_facts=True,
        )  # fmt: skip
    assert scan.run.returncode in (0, 1, 3), scan.run.stderr[-3000:]
    assert impostor.requests
    assert catcher.connections == 0
    assert scan.facts is not None
    facts = load_json(scan.facts / f"{name}.json")["facts"]
    probe = facts["probe.winrm.http"]["value"]
    assert "307" in probe["error"] and "redirect" in probe["error"], probe


# --- The environment: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, ~/.netrc -------------------------


def test_a_ca_bundle_from_the_environment_is_not_trusted(tmp_path: Path) -> None:
    """REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE name a rogue CA: with no winrm.ca_bundle, the
    scanner trusts the system store only, so the rogue listener gets no request at all."""
    rogue = create_ca(tmp_path / "rogue", "Rogue Root CA")
    name, address = "rogue.hostile.test", "127.31.3.1"
    tls = server_tls(issue_host_cert(rogue, tmp_path / "rogue", name))
    config = scan_config(tmp_path, name, address, probes=False, auth="basic", transport="https")
    env = {
        "AUDITOR_TEST_PASSWORD": PASSWORD,
        "REQUESTS_CA_BUNDLE": str(rogue.cert_path),
        "CURL_CA_BUNDLE": str(rogue.cert_path),
    }
    with Peer(address, 5986, lambda r, s: OFFER, tls) as listener:
        scan = run_scan(tmp_path / "run", "scan", "host", "--config", str(config), env=env)
    printed = scan.run.stdout + scan.run.stderr
    assert scan.run.returncode == 3, printed[-3000:]
    assert listener.connections >= 1 and listener.tls_failures >= 1
    assert listener.requests == [], "the scanner trusted the environment's CA bundle"
    (target,) = load_json(scan.output / "report.json")["targets"]
    assert target["reason"].startswith("tls_error"), target["reason"]


def test_netrc_credentials_are_never_attached(ca: LabCA, tmp_path: Path) -> None:
    """Certificate logon sends no password; a ~/.netrc entry for the host must not add one."""
    name, address = "netrc.hostile.test", "127.31.3.2"
    issued = issue_host_cert(ca, tmp_path / "pki", name)
    client = issue_host_cert(ca, tmp_path / "pki", "scanner.hostile.test")
    config = scan_config(
        tmp_path, name, address,
        auth="certificate", transport="https", ca_bundle=str(ca.cert_path),
        certificate_pem=str(client.cert_path), certificate_key_pem=str(client.key_path),
    )  # fmt: skip
    env = hostile_home(tmp_path / "home", name, address)
    with Peer(address, 5986, lambda r, s: Reply(401, close=True), server_tls(issued)) as listener:
        scan = run_scan(tmp_path / "run", "scan", "host", "--config", str(config), env=env)
    assert scan.run.returncode == 3, (scan.run.stdout + scan.run.stderr)[-3000:]
    offered = [r.headers.get("authorization", "") for r in listener.requests]
    assert any(a.endswith("/https/mutual") for a in offered), offered  # the certificate logon
    assert not [a for a in offered if a.lower().startswith("basic")], offered
    assert leaked(listener.received(), forbidden()) == []
    assert artefact_leaks(scan.artefacts(), forbidden()) == []


@given(status=st.integers(min_value=300, max_value=399), location=st.text())
def test_a_redirect_reason_is_one_bounded_line(status: int, location: str) -> None:
    """The Location is the peer's to choose: it reaches the report escaped and cut short."""
    failed = classify(RedirectRefused(status, location), "impostor.hostile.test")
    assert failed.reason is Reason.REDIRECT_REFUSED
    assert failed.detail.isprintable(), failed.detail
    assert len(failed.detail) < 1200
