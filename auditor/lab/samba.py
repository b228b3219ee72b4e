"""Provision, start and stop one Samba AD DC for the lab, each in its own directory."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.lab.domain_spec import DomainSpec
from auditor.resources import package_path

# Samba's Python bindings exist only for Debian's own interpreter, never the project's.
SAMBA_PYTHON = Path("/usr/bin/python3")
HELPERS_DIR = package_path("lab", "samba_helpers")
# What the lab needs: LDAP(S)/GC, CLDAP for the DC locator, Kerberos. Without smbd, winbindd,
# rpc, nbt, dns (which forwards to the host's resolver), drepl, kcc... samba starts about twice
# as fast (0.5 s instead of 1 s; first start 1.8 s instead of 4 s) with half the processes.
DEFAULT_SERVICES = ("ldap", "cldap", "kdc")
STATE_FILE = "lab-dc.json"
SAM_LDB = Path("private", "sam.ldb")  # the directory database, under a DC's folder
# What `samba-tool domain provision --targetdir` and this module create in a DC directory:
# a directory holding only these is a lab DC's, and may be deleted when half-made.
_DC_ENTRIES = frozenset(
    {"etc", "run", "log", "private", "state", "cache", "bind-dns", "lock", STATE_FILE}
)
# Debian's samba-ad-provision ships the schema files provision reads (not installed as a
# mere recommendation of samba-ad-dc).
SAMBA_SETUP_DIR = Path("/usr/share/samba/setup")
# AF_UNIX paths are limited to 108 bytes; Samba adds up to ~25 under run/.
_MAX_DIR_LENGTH = 70
# The lab's own share of scripts/setup's packages (a test keeps the two lists in step).
LAB_PACKAGES = (
    "samba",
    "samba-ad-dc",
    "samba-ad-provision",
    "samba-dsdb-modules",
    "python3-samba",
    "winbind",
    "iproute2",
    "openssl",
)
_MISSING_SAMBA = (
    "the lab needs Debian's Samba AD DC: run scripts/setup, or apt-get install "
    "--no-install-recommends " + " ".join(LAB_PACKAGES)
)


class SambaError(RuntimeError):
    """A Samba lab step failed; the message says which and includes Samba's own words."""


@dataclass(frozen=True)
class AdminCredentials:
    """The domain Administrator, in the forms LDAP and Kerberos clients want."""

    username: str
    password: str
    realm: str
    netbios: str
    dn: str

    @property
    def user_principal_name(self) -> str:
        return f"{self.username}@{self.realm.upper()}"

    @property
    def down_level_logon_name(self) -> str:
        return f"{self.netbios}\\{self.username}"


class SambaDC:
    """One DC: provisioned into `directory`, bound only to its own loopback address."""

    def __init__(
        self,
        directory: Path,
        *,
        realm: str,
        netbios: str,
        address: str,
        dc_name: str = "DC1",
        admin_password: str | None = None,
        services: Sequence[str] = DEFAULT_SERVICES,
    ) -> None:
        self.directory = directory.resolve()
        if len(str(self.directory)) > _MAX_DIR_LENGTH:
            raise SambaError(
                f"{self.directory}: path longer than {_MAX_DIR_LENGTH} characters; "
                "Samba's sockets under it would exceed the AF_UNIX limit"
            )
        try:
            loopback = ipaddress.IPv4Address(address).is_loopback
        except ipaddress.AddressValueError as exc:
            raise SambaError(f"{self.directory}: {address!r} is not an IPv4 address") from exc
        if not loopback:
            raise SambaError(f"{self.directory}: {address} is not a loopback address")
        self.realm = realm.lower()
        self.netbios = netbios.upper()
        self.address = address
        self.dc_name = dc_name.upper()
        self.services = tuple(services)
        self._admin_password = admin_password
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def for_domain(cls, directory: Path, spec: DomainSpec) -> SambaDC:
        return cls(
            directory,
            realm=spec.realm,
            netbios=spec.netbios,
            address=spec.dc.address,
            dc_name=spec.dc.name,
        )

    @classmethod
    def open(cls, directory: Path) -> SambaDC:
        """Attach to a DC provisioned earlier (e.g. by another process) from its state file."""
        state_path = directory / STATE_FILE
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
            return cls(
                directory,
                realm=state["realm"],
                netbios=state["netbios"],
                address=state["address"],
                dc_name=state["dc_name"],
                admin_password=state["admin_password"],
                services=state["services"],
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SambaError(f"{state_path}: not a provisioned lab DC: {exc}") from exc

    # Paths and names clients need.
    @property
    def smb_conf(self) -> Path:
        return self.directory / "etc" / "smb.conf"

    @property
    def sam_ldb(self) -> Path:
        return self.directory / SAM_LDB

    @property
    def ca_bundle(self) -> Path:
        """Samba's self-made CA; it exists after the first start()."""
        return self.directory / "private" / "tls" / "ca.pem"

    @property
    def krb5_conf(self) -> Path:
        return self.directory / "etc" / "krb5.conf"

    @property
    def log_file(self) -> Path:
        return self.directory / "log" / "samba.log"

    @property
    def pid_file(self) -> Path:
        return self.directory / "run" / "samba.pid"

    @property
    def fqdn(self) -> str:
        """The only name in the TLS certificate (CN, no SAN): connect by it."""
        return f"{self.dc_name}.{self.realm}"

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={label}" for label in self.realm.split("."))

    @property
    def host_map(self) -> Mapping[str, str]:
        """Name-to-address map for clients, as there is no DNS for the lab."""
        return {self.fqdn: self.address, self.realm: self.address}

    @property
    def admin(self) -> AdminCredentials:
        password = self._admin_password or SambaDC.open(self.directory)._admin_password
        if password is None:
            raise SambaError(f"{self.directory}: no admin password recorded")
        self._admin_password = password
        return AdminCredentials(
            username="Administrator",
            password=password,
            realm=self.realm,
            netbios=self.netbios,
            dn=f"CN=Administrator,CN=Users,{self.base_dn}",
        )

    @property
    def is_provisioned(self) -> bool:
        return provisioned(self.directory)

    def provision(self, timeout: float = 180.0) -> None:
        """Create the domain; refuses a directory that already holds anything."""
        if self.directory.exists() and any(self.directory.iterdir()):
            raise SambaError(f"{self.directory}: not empty; provision into a new directory")
        check_installed(self.directory)
        password = self._admin_password or generate_password()
        d = self.directory
        for sub in ("etc", "run", "log", "private"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        options = {
            "pid directory": d / "run",
            "ncalrpc dir": d / "run" / "ncalrpc",
            "winbindd socket directory": d / "run" / "winbindd",
            "ntp signd socket directory": d / "run" / "ntp_signd",
            "log file": self.log_file,
            "interfaces": self.address,
            "bind interfaces only": "yes",
            "server services": " ".join(self.services),
            # Simple binds need TLS; NTLM/GSSAPI binds inside TLS need no extra signing.
            "ldap server require strong auth": "allow_sasl_over_tls",
        }
        command = [
            "samba-tool",
            "domain",
            "provision",
            f"--realm={self.realm.upper()}",
            f"--domain={self.netbios}",
            "--server-role=dc",
            "--dns-backend=SAMBA_INTERNAL",
            f"--host-name={self.dc_name}",
            f"--host-ip={self.address}",
            f"--adminpass={password}",
            f"--targetdir={d}",
        ] + [f"--option={key} = {value}" for key, value in options.items()]
        _run(command, timeout, f"{d}: samba-tool domain provision")
        self._admin_password = password
        self.krb5_conf.write_text(self._krb5_conf_text(), encoding="utf-8")
        state = {
            "realm": self.realm,
            "netbios": self.netbios,
            "address": self.address,
            "dc_name": self.dc_name,
            "admin_password": password,
            "services": list(self.services),
        }
        state_path = d / STATE_FILE
        state_path.touch(mode=0o600)
        state_path.write_text(json.dumps(state, indent=2), encoding="utf-8")

    def _krb5_conf_text(self) -> str:
        realm = self.realm.upper()
        return (
            "[libdefaults]\n"
            f"    default_realm = {realm}\n"
            "    dns_lookup_realm = false\n    dns_lookup_kdc = false\n"
            "    rdns = false\n    dns_canonicalize_hostname = false\n\n"
            f"[realms]\n    {realm} = {{\n        kdc = {self.address}\n"
            f"        admin_server = {self.address}\n        kpasswd_server = {self.address}\n"
            "    }\n\n"
            f"[domain_realm]\n    .{self.realm} = {realm}\n    {self.realm} = {realm}\n"
        )

    def start(self, timeout: float = 60.0, max_runtime: int | None = None) -> None:
        """Run samba in the background and return once LDAPS and Kerberos answer.

        `max_runtime` (seconds) makes samba exit by itself: a safety net for test runs that
        get killed before they can call stop().
        """
        if not self.is_provisioned:
            raise SambaError(f"{self.directory}: not provisioned")
        if self.is_running():
            raise SambaError(f"{self.directory}: samba is already running (pid {self._pid()})")
        if _port_open(self.address, 636):
            raise SambaError(
                f"{self.directory}: {self.address}:636 is already in use; is "
                "another DC bound to this address?"
            )
        ensure_loopback_address(self.address)
        out = (self.directory / "log" / "samba.out").open("ab")
        with out:
            command = ["samba", "--foreground", "--no-process-group", "-s", str(self.smb_conf)]
            if max_runtime is not None:
                command.append(f"--maximum-runtime={max_runtime}")
            try:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own group: stop() can sweep every child
                    cwd=self.directory,  # also how _pid() recognises this DC's samba
                )
            except FileNotFoundError as exc:
                raise SambaError(f"{self.directory}: {_MISSING_SAMBA}") from exc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                raise SambaError(
                    f"{self.directory}: samba exited with code {code} while "
                    f"starting\n{self.log_tail()}"
                )
            if _tls_ready(self.address, 636) and _port_open(self.address, 88):
                return
            time.sleep(0.05)
        self.stop()
        raise SambaError(
            f"{self.directory}: LDAPS on {self.address}:636 not ready after "
            f"{timeout:.0f}s\n{self.log_tail()}"
        )

    def is_running(self) -> bool:
        return self._pid() is not None

    def stop(self, timeout: float = 30.0) -> None:
        """Terminate samba and every process in its group; idempotent."""
        pid = self._pid()
        if pid is None and self._process is not None and self._process.poll() is None:
            pid = self._process.pid  # started but no pid file yet
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not self._wait_gone(pid, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                if not self._wait_gone(pid, 5.0):
                    raise SambaError(f"{self.directory}: samba (pid {pid}) did not exit")
            if not _kill_group(pid, timeout=5.0):
                raise SambaError(f"{self.directory}: processes of group {pid} did not exit")
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5.0)
            self._process = None
        self.pid_file.unlink(missing_ok=True)

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.pid == pid:
                self._process.poll()  # reap our own child so it doesn't linger as a zombie
            if not _alive(pid):
                return True
            time.sleep(0.05)
        return False

    def _pid(self) -> int | None:
        """The pid in run/samba.pid if that process is alive and is our samba.

        Samba rewrites its command line (setproctitle), so identify it by executable and by
        the working directory start() gave it.
        """
        try:
            pid = int(self.pid_file.read_text(encoding="ascii").strip())
            exe = os.readlink(f"/proc/{pid}/exe")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except (OSError, ValueError):
            return None
        if Path(exe).name != "samba" or cwd != str(self.directory) or not _alive(pid):
            return None
        return pid

    def log_tail(self, lines: int = 40) -> str:
        """The end of Samba's log and console output, for error messages."""
        parts = []
        for path in (self.log_file, self.directory / "log" / "samba.out"):
            with contextlib.suppress(OSError):
                text = path.read_text(encoding="utf-8", errors="replace").splitlines()
                parts.append(f"--- {path} (last {lines} lines)\n" + "\n".join(text[-lines:]))
        return "\n".join(parts) or "(no samba log yet)"

    def export_service_keys(
        self, account: str, spns: Sequence[str], keytab: Path, timeout: float = 60.0
    ) -> None:
        """Register `spns` on `account` and write their keys to `keytab` (0600).

        A lab host given this keytab accepts tickets the KDC issues for exactly these SPNs.
        """
        conf = f"--configfile={self.smb_conf}"
        what = f"{self.directory}: keys of {account}"
        registered = _run(["samba-tool", "spn", "list", account, conf], timeout, what).stdout
        known = {line.strip().casefold() for line in registered.decode().splitlines()}
        keytab.unlink(missing_ok=True)  # exportkeytab appends to an existing keytab
        for spn in spns:
            if spn.casefold() not in known:
                _run(["samba-tool", "spn", "add", spn, account, conf], timeout, what)
            command = ["samba-tool", "domain", "exportkeytab", str(keytab), f"--principal={spn}"]
            _run([*command, conf], timeout, what)
        keytab.chmod(0o600)

    def run_helper(self, name: str, payload: Mapping[str, Any], timeout: float) -> Any:
        """Run samba_helpers/NAME.py with Debian's Python, JSON in on stdin and out on stdout."""
        script = HELPERS_DIR / f"{name}.py"
        data = dict(payload, smb_conf=str(self.smb_conf), sam_ldb=str(self.sam_ldb))
        result = _run(
            [str(SAMBA_PYTHON), str(script)],
            timeout,
            f"{self.directory}: {name}",
            stdin=json.dumps(data).encode(),
        )
        try:
            return json.loads(result.stdout)
        except ValueError as exc:
            raise SambaError(
                f"{self.directory}: {name}: unreadable output: {result.stdout[-500:]!r}"
            ) from exc


def provisioned(directory: Path) -> bool:
    """Whether `directory` holds a DC that provision() finished (its state file comes last)."""
    return (directory / STATE_FILE).is_file() and (directory / SAM_LDB).is_file()


def check_installed(directory: Path) -> None:
    """Fail before provisioning, not halfway through it, when Samba is missing or incomplete."""
    missing = [name for name in ("samba-tool", "samba") if shutil.which(name) is None]
    if not (SAMBA_SETUP_DIR / "ad-schema").is_dir():
        missing.append(f"{SAMBA_SETUP_DIR}/ad-schema")
    if not SAMBA_PYTHON.is_file():
        missing.append(str(SAMBA_PYTHON))
    if missing:
        raise SambaError(f"{directory}: {', '.join(missing)} not found; {_MISSING_SAMBA}")


def discard(directory: Path, timeout: float = 30.0) -> None:
    """Delete a DC directory a failed or interrupted provision left, and whatever runs from it.

    Only a directory holding nothing but what provisioning makes is deleted, so a mistyped
    --dir never costs the user their files.
    """
    directory = directory.resolve()
    if not directory.exists():
        return
    foreign = sorted(e.name for e in directory.iterdir() if e.name not in _DC_ENTRIES)
    if foreign:
        raise SambaError(
            f"{directory}: holds {', '.join(foreign)}, which a lab DC never has; "
            "not deleting it: remove or move that directory yourself"
        )
    stray = processes_of(directory)
    for pid in stray:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in stray):
        if time.monotonic() > deadline:
            raise SambaError(f"{directory}: processes {stray} did not exit")
        time.sleep(0.05)
    shutil.rmtree(directory)


def processes_of(directory: Path) -> list[int]:
    """Processes working on this DC directory: samba run from it, samba-tool provisioning it."""
    target = f"--targetdir={directory}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            exe = Path(os.readlink(entry / "exe")).name
            cwd = os.readlink(entry / "cwd")
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = (exe == "samba" and cwd == str(directory)) or target in argv
        if ours and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def generate_password() -> str:
    """Strong enough for Samba's complexity check (upper, lower, digit, symbol)."""
    return f"Lab-{secrets.token_urlsafe(18)}-a1Z!"


def ensure_loopback_address(address: str) -> None:
    """Samba binds only to configured addresses, so put ADDR/32 on lo (needs root)."""
    shown = _run(["ip", "-o", "-4", "addr", "show", "dev", "lo"], 10, "ip addr show")
    if any(word.split("/")[0] == address for word in shown.stdout.decode().split()):
        return
    try:
        _run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], 10, "ip addr add")
    except SambaError as exc:
        raise SambaError(
            f"{address} is not on lo and adding it failed (needs root or "
            f"CAP_NET_ADMIN; run: ip addr add {address}/32 dev lo)\n{exc}"
        ) from exc


def _run(
    command: list[str], timeout: float, what: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    try:
        result = subprocess.run(
            command, input=stdin, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SambaError(f"{what}: timed out after {timeout:.0f}s") from exc
    except FileNotFoundError as exc:
        raise SambaError(f"{what}: {command[0]} not found. {_MISSING_SAMBA}") from exc
    if result.returncode != 0:
        output = (result.stderr + result.stdout).decode(errors="replace").strip()
        raise SambaError(f"{what}: exit code {result.returncode}\n{output[-4000:]}")
    return result


def _alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (exited, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _kill_group(pgid: int, timeout: float) -> bool:
    """Samba's children share its process group; none may outlive it."""
    deadline = time.monotonic() + timeout
    while members := _group_members(pgid):
        if time.monotonic() > deadline:
            return False
        for member in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        time.sleep(0.05)
    return True


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def _tls_ready(address: str, port: int) -> bool:
    """A finished TLS handshake means the certificate exists and LDAPS really serves."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # readiness only; clients verify against ca_bundle
    try:
        with (
            socket.create_connection((address, port), timeout=1.0) as sock,
            context.wrap_socket(sock),
        ):
            return True
    except OSError:
        return False
