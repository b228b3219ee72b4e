"""A real Samba AD DC for the integration tests: provisioned, started and seeded once."""

from __future__ import annotations

import fcntl
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from ldap3 import SIMPLE, Connection, Server, Tls

from auditor.lab.directory_seed import SeedResult, seed
from auditor.lab.domain_spec import DomainSpec, parse_domain_spec
from auditor.lab.samba import SambaDC

# Lab DCs of `auditor lab up` use 127.10.0.0/16; tests take the first free 127.11.0.N.
TEST_ADDRESS_PREFIX = "127.11.0."
SVC_SQL_PASSWORD = "Sql-Service-Pa55word!"
HOSTILE_GROUP = "<script>alert(1)</script> \"Ops\" 'Ünïcødé — 管理'"
HOSTILE_DESCRIPTION = "<b>SQL</b> \"double\" 'single' Ünïcødé — 管理 & <script>alert(1)</script>"


def domain_data(address: str) -> dict[str, object]:
    """The test directory: one object per thing the seeder and the rules care about."""
    return {
        "realm": "samba.auditor.test",
        "netbios": "SMBTEST",
        "dc": {"name": "TDC1", "address": address},
        "machine_account_quota": 3,
        "users": [
            {
                "name": "svc_sql",
                "description": HOSTILE_DESCRIPTION,
                "spns": ["MSSQLSvc/sql01.samba.auditor.test:1433"],
                "flags": ["DONT_EXPIRE_PASSWORD"],
                "password": SVC_SQL_PASSWORD,
            },
            {"name": "asrep", "flags": ["DONT_REQ_PREAUTH"]},
            {
                "name": "weak",
                "flags": ["PASSWD_NOTREQD", "ENCRYPTED_TEXT_PWD_ALLOWED", "USE_DES_KEY_ONLY"],
                "supported_encryption_types": 3,
            },
            {"name": "adm_direct", "groups": ["Domain Admins"], "flags": ["NOT_DELEGATED"]},
            {"name": "adm_nested"},
            {"name": "adm_primary", "groups": ["Domain Admins"], "primary_group": "Domain Admins"},
            {
                "name": "svc_t2a4d",
                "flags": ["TRUSTED_TO_AUTH_FOR_DELEGATION"],
                "spns": ["HTTP/svc.samba.auditor.test"],
                "allowed_to_delegate_to": [
                    "cifs/fs01.samba.auditor.test",
                    "ldap/TDC1.samba.auditor.test",
                ],
            },
            {"name": "disabled", "enabled": False},
            {"name": "winrm_user"},
        ],
        "computers": [
            {
                "name": "FS01",
                "operating_system": "Windows Server 2022 Datacenter",
                "operating_system_version": "10.0 (20348)",
                "flags": ["TRUSTED_FOR_DELEGATION"],
                "ou": "Servers",
            },
            {
                "name": "WEB01",
                "flags": ["TRUSTED_TO_AUTH_FOR_DELEGATION"],
                "spns": ["HTTP/web01.samba.auditor.test"],
                "allowed_to_delegate_to": ["cifs/fs01.samba.auditor.test"],
            },
            {"name": "APP01", "allowed_to_act": ["WEB01$", "svc_t2a4d"], "ou": "Servers"},
            {"name": "OLD01", "enabled": False, "dns_host_name": "old01.legacy.example"},
        ],
        "groups": [
            {"name": "Tier0", "member_of": ["Domain Admins"]},
            {"name": "Inner", "members": ["adm_nested"], "member_of": ["Tier0"]},
            {
                "name": HOSTILE_GROUP,
                "description": HOSTILE_DESCRIPTION,
                "members": ["svc_sql", "FS01$"],
            },
        ],
        "remote_management_users": ["winrm_user", "Inner"],
        "remote_desktop_users": ["winrm_user"],
    }


@dataclass(frozen=True)
class SeededLab:
    """The running DC, what was seeded into it, and how long each step took."""

    dc: SambaDC
    spec: DomainSpec
    seed: SeedResult
    timings: dict[str, float]


def _claim_address(stack: ExitStack) -> str:
    """First 127.11.0.N that no DC in this or another test session holds (a lock file)."""
    for n in range(1, 100):
        address = f"{TEST_ADDRESS_PREFIX}{n}"
        lock = Path(f"/tmp/auditor-samba-test-{address}.lock")
        handle = stack.enter_context(lock.open("w"))
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue
        if not _serving(address):
            return address
    raise RuntimeError("no free 127.11.0.N address for a test DC")


def _serving(address: str) -> bool:
    try:
        with socket.create_connection((address, 636), timeout=0.3):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def claim_address() -> Iterator[Callable[[], str]]:
    """Hand out loopback addresses for DCs, held until the session ends."""
    with ExitStack() as stack:
        yield lambda: _claim_address(stack)


@pytest.fixture(scope="session")
def lab(
    tmp_path_factory: pytest.TempPathFactory,
    claim_address: Callable[[], str],
) -> Iterator[SeededLab]:
    spec = parse_domain_spec(domain_data(claim_address()), source="conftest")
    dc = SambaDC.for_domain(tmp_path_factory.mktemp("dc"), spec)
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        dc.provision()
        timings["provision"] = time.monotonic() - started
        # max_runtime: samba ends by itself even if this session is killed before teardown.
        dc.start(max_runtime=3600)
        timings["start"] = time.monotonic() - started - timings["provision"]
        result = seed(dc, spec)
        timings["seed"] = result.seconds
        timings["total"] = time.monotonic() - started
        yield SeededLab(dc=dc, spec=spec, seed=result, timings=timings)
    finally:
        dc.stop()


def ldaps_connection(dc: SambaDC, user: str, password: str) -> Connection:
    """LDAPS to the DC's address, the certificate checked against its CA and name."""
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_bundle), valid_names=[dc.fqdn])
    server = Server(dc.address, port=636, use_ssl=True, tls=tls, get_info=None, connect_timeout=10)
    return Connection(
        server,
        user=user,
        password=password,
        authentication=SIMPLE,
        receive_timeout=30,
        raise_exceptions=False,
    )


@pytest.fixture
def ldaps(lab: SeededLab) -> Iterator[Connection]:
    """Bound as the domain Administrator."""
    connection = ldaps_connection(lab.dc, lab.dc.admin.dn, lab.dc.admin.password)
    assert connection.bind(), connection.result
    yield connection
    connection.unbind()


def samba_processes_of(directory: Path) -> list[int]:
    """Pids whose executable is samba and whose working directory is `directory`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            exe = os.readlink(entry / "exe")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if Path(exe).name in {"samba", "smbd", "winbindd"} and cwd == str(directory):
            found.append(int(entry.name))
    return found
