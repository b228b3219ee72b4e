"""`auditor lab up/status/down`: the Samba DC, the hosts daemon, and the scan config they need."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import ldap3
import yaml

from auditor.errors import InputError
from auditor.lab.definition import SCAN_ACCOUNT, LabDefinition, load_definition, scale_hosts
from auditor.lab.directory_seed import seed
from auditor.lab.domain_spec import UserSpec
from auditor.lab.hostd import READY_FILE
from auditor.lab.runtime import LabState
from auditor.lab.samba import SambaDC, SambaError, discard, generate_password, provisioned

SCAN_CONFIG = "scan.yaml"
PID_FILE = "hostd.pid"
# Written once the DC is provisioned, started and seeded: without it the DC directory is
# whatever a failed or interrupted `lab up` left, and is rebuilt rather than trusted.
DC_READY = "dc-ready"
# Without a DC the hosts still need a domain SID for their local group members.
OFFLINE_DOMAIN_SID = "S-1-5-21-1000000000-2000000000-3000000000"


@dataclass(frozen=True)
class LabStatus:
    directory: Path
    dc_running: bool | None  # None: the lab has no DC
    hosts_running: bool
    hosts: int
    scan_config: Path
    rebuilt_dc: bool = False  # an unfinished DC from an earlier `up` was deleted and made anew


def _dc_finished(directory: Path) -> bool:
    """The lab's DC was provisioned, started and seeded by a `lab up` that completed."""
    return (directory / DC_READY).exists() and provisioned(directory / "dc")


def _with_scan_account(definition: LabDefinition, password: str) -> LabDefinition:
    """The scanner's own low-privilege domain account: any authenticated user can read AD."""
    user = UserSpec(name=SCAN_ACCOUNT, description="auditor lab scanner account", password=password)
    return replace(
        definition, domain=replace(definition.domain, users=(*definition.domain.users, user))
    )


def _domain_sid(dc: SambaDC) -> str:
    tls = ldap3.Tls(
        validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_bundle), valid_names=[dc.fqdn]
    )
    server = ldap3.Server(dc.address, port=636, use_ssl=True, tls=tls, connect_timeout=10)
    admin = dc.admin
    with ldap3.Connection(
        server,
        user=admin.user_principal_name,
        password=admin.password,
        auto_bind=True,
        receive_timeout=30,
    ) as conn:
        conn.search(
            dc.base_dn, "(objectClass=domain)", search_scope=ldap3.BASE, attributes=["objectSid"]
        )
        return str(conn.entries[0].objectSid.value)


def _password(state: LabState) -> str:
    path = state.password_file
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    password = generate_password()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    return password


def _pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    except PermissionError:
        return None
    return pid


def write_scan_config(state: LabState, definition: LabDefinition, dc: SambaDC | None) -> Path:
    """A scan configuration `auditor scan ...` can use as it is, with credential references only."""
    realm = definition.domain.realm
    names = {definition.fqdn(h): h.address for h in definition.hosts}
    config: dict[str, object] = {
        "domain": {"name": realm, "dc": definition.domain.dc_fqdn.lower()},
        "names": {
            definition.domain.dc_fqdn.lower(): definition.domain.dc.address,
            realm: definition.domain.dc.address,
            **names,
        },
        "credentials": {
            "username": f"{definition.domain.netbios}\\{SCAN_ACCOUNT}",
            "password": f"file:{state.password_file}",
        },
        "ldap": {"mode": "ldaps", "bind": "simple"},
        "winrm": {
            "transport": "auto",
            "auth": "ntlm",
            "ca_bundle": str(state.pki_dir / "lab-ca.pem"),
        },
        "hosts": sorted(names),
        # The lab's policy: at most 5 members in any privileged group (the rule's default is 10).
        "rules": {"parameters": {"ad-privileged-group-size": {"max_members": 5}}},
        "host_groups": {
            "domain_controllers": {
                "hosts": [definition.domain.dc_fqdn.lower()],
                "roles": ["domain_controller"],
            }
        },
        "output": {
            "directory": str(state.directory.parent / "auditor-report"),
            "formats": ["html", "json"],
        },
    }
    if dc is not None:
        config["ldap"] = {"mode": "ldaps", "bind": "simple", "ca_bundle": str(dc.ca_bundle)}
    else:
        config["inventory"] = {"from_domain": False}
    path = state.directory / SCAN_CONFIG
    header = "# Written by `auditor lab up`: a scan configuration for the lab (see docs/configuration.md).\n"
    path.write_text(
        header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return path


def up(
    directory: Path,
    definition_path: Path | None,
    hosts: int = 0,
    with_dc: bool = True,
    timeout: float = 120.0,
) -> LabStatus:
    """Provision (first time) and start the DC and the hosts; idempotent when already up."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    definition = scale_hosts(load_definition(definition_path), hosts)
    seed_state = LabState(
        directory,
        str(definition_path.resolve()) if definition_path else None,
        hosts,
        OFFLINE_DOMAIN_SID,
        with_dc,
    )
    password = _password(seed_state)
    dc = None
    rebuilt_dc = False
    domain_sid = OFFLINE_DOMAIN_SID
    if with_dc:
        spec = _with_scan_account(definition, password).domain
        dc = SambaDC.for_domain(directory / "dc", spec)
        ready = directory / DC_READY
        try:
            if not _dc_finished(directory):
                ready.unlink(missing_ok=True)
                rebuilt_dc = dc.directory.exists()
                discard(dc.directory)
                if seed_state.keys_dir.exists():
                    shutil.rmtree(seed_state.keys_dir)  # keys of the DC just discarded
                dc.provision()
                dc.start()
                seed(dc, spec)
                ready.touch()
            elif not dc.is_running():
                dc.start()
            domain_sid = _domain_sid(dc)
            _export_host_keys(dc, seed_state, definition)
        except SambaError as exc:
            raise InputError(f"lab DC: {exc}") from None
    state = replace(seed_state, domain_sid=domain_sid)
    state.save()
    _start_hosts(state, timeout)
    config = write_scan_config(state, definition, dc)
    return LabStatus(
        directory, dc.is_running() if dc else None, True, len(definition.hosts), config, rebuilt_dc
    )


def _export_host_keys(dc: SambaDC, state: LabState, definition: LabDefinition) -> None:
    """Keytabs for the hosts that have a computer object, so they can accept Kerberos.

    Only missing keytabs are made: the keys stay valid as long as the DC (`down` keeps it).
    """
    computers = {c.name.casefold() for c in definition.domain.computers}
    computers.add(definition.domain.dc.name.casefold())
    for host in definition.hosts:
        keytab = state.keytab(host.name)
        if host.name.casefold() not in computers or keytab.exists():
            continue
        state.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fqdn = definition.fqdn(host)
        dc.export_service_keys(f"{host.name}$", [f"HTTP/{fqdn}", f"HOST/{fqdn}"], keytab)


def _start_hosts(state: LabState, timeout: float) -> None:
    pid_file = state.directory / PID_FILE
    ready = state.directory / READY_FILE
    if _pid_alive(pid_file) and ready.exists():
        return
    log = (state.directory / "hostd.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "auditor.lab.hostd", str(state.directory)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists():
            return
        if process.poll() is not None:
            tail = (state.directory / "hostd.log").read_text(errors="replace")[-2000:]
            raise InputError(
                f"lab hosts daemon exited ({process.returncode}); its log ends:\n{tail}"
            )
        time.sleep(0.1)
    raise InputError(
        f"lab hosts daemon not ready after {timeout:.0f}s; see {state.directory / 'hostd.log'}"
    )


def status(directory: Path) -> LabStatus:
    directory = directory.resolve()
    try:
        state = LabState.load(directory)
    except FileNotFoundError:
        raise InputError(
            f"{directory}: no lab here; run `auditor lab up --dir {directory}`"
        ) from None
    dc_running = None
    if state.with_dc:
        dc_running = _dc_finished(directory) and SambaDC.open(directory / "dc").is_running()
    hosts_running = (
        _pid_alive(directory / PID_FILE) is not None and (directory / READY_FILE).exists()
    )
    return LabStatus(
        directory,
        dc_running,
        hosts_running,
        len(state.lab_definition().hosts),
        directory / SCAN_CONFIG,
    )


def down(directory: Path, timeout: float = 30.0) -> bool:
    """Stop the hosts daemon and the DC; leaves the lab directory for the next `up`.

    A DC that `up` never finished is deleted with its processes (True is returned), so the
    next `up` starts clean.
    """
    directory = directory.resolve()
    pid = _pid_alive(directory / PID_FILE)
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(directory / PID_FILE):
            time.sleep(0.1)
        if _pid_alive(directory / PID_FILE):
            os.killpg(pid, signal.SIGKILL)
    (directory / PID_FILE).unlink(missing_ok=True)
    dc_dir = directory / "dc"
    try:
        if _dc_finished(directory):
            SambaDC.open(dc_dir).stop()
            return False
        discarded = dc_dir.exists()
        discard(dc_dir)
        return discarded
    except SambaError as exc:
        raise InputError(f"lab DC: {exc}") from None
