"""The DC itself: provisioning, TLS by name, transport rules, Kerberos, several DCs, stop."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from ldap3 import BASE, SIMPLE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPSocketOpenError

from auditor import netmap
from auditor.lab.samba import SambaDC, SambaError
from tests.kerberos import kinit

from .conftest import SVC_SQL_PASSWORD, SeededLab, ldaps_connection, samba_processes_of

pytestmark = pytest.mark.samba


def test_setup_is_fast_enough(lab: SeededLab) -> None:
    """CI has 2 cores; the lab is only usable in tests if bring-up stays well under a minute."""
    print({step: round(seconds, 2) for step, seconds in lab.timings.items()})
    assert lab.timings["total"] < 60, lab.timings


def test_provisioned_layout(lab: SeededLab) -> None:
    dc = lab.dc
    conf = dc.smb_conf.read_text()
    for line in (
        f"interfaces = {dc.address}",
        "bind interfaces only = Yes",
        f"pid directory = {dc.directory}/run",
        "server services = ldap, cldap, kdc",
        "ldap server require strong auth = allow_sasl_over_tls",
    ):
        assert line in conf
    krb5 = dc.krb5_conf.read_text()
    for line in (
        f"kdc = {dc.address}",
        "rdns = false",
        "dns_canonicalize_hostname = false",
        "default_realm = SAMBA.AUDITOR.TEST",
    ):
        assert line in krb5
    assert stat.S_IMODE((dc.directory / "lab-dc.json").stat().st_mode) == 0o600
    assert dc.fqdn == "TDC1.samba.auditor.test"
    assert dc.is_running()
    reopened = SambaDC.open(dc.directory)
    assert reopened.admin == dc.admin
    assert reopened.is_running()


def test_certificate_names_the_dc_only_in_its_cn(lab: SeededLab) -> None:
    """Why clients must connect by the DC's FQDN (valid_names or a name map), not its IP."""
    der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((lab.dc.address, 636)))
    cert = x509.load_der_x509_certificate(der)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == lab.dc.fqdn
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_ldaps_validates_the_certificate_by_dc_name(ldaps: Connection, lab: SeededLab) -> None:
    assert ldaps.search("", "(objectClass=*)", BASE, attributes=["dnsHostName"])
    assert str(ldaps.entries[0].dnsHostName).lower() == lab.dc.fqdn.lower()


def test_ldaps_by_name_through_the_name_map(lab: SeededLab) -> None:
    dc = lab.dc
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_bundle))
    with netmap.mapped(dc.host_map):
        connection = Connection(
            Server(dc.fqdn, port=636, use_ssl=True, tls=tls, get_info=None, connect_timeout=10),
            user=dc.admin.dn,
            password=dc.admin.password,
            authentication=SIMPLE,
        )
        assert connection.bind(), connection.result
        connection.unbind()


@pytest.mark.parametrize("valid_names", [["wrong.samba.auditor.test"], None])
def test_ldaps_refuses_a_name_the_certificate_does_not_carry(
    lab: SeededLab, valid_names: list[str] | None
) -> None:
    """A wrong name, or the bare IP, fails validation: proof that validation is on."""
    tls = Tls(
        validate=ssl.CERT_REQUIRED, ca_certs_file=str(lab.dc.ca_bundle), valid_names=valid_names
    )
    connection = Connection(
        Server(lab.dc.address, port=636, use_ssl=True, tls=tls, get_info=None, connect_timeout=10),
        user=lab.dc.admin.dn,
        password=lab.dc.admin.password,
    )
    with pytest.raises(LDAPSocketOpenError):
        connection.open()


def test_simple_bind_without_tls_is_refused(lab: SeededLab) -> None:
    connection = Connection(
        Server(lab.dc.address, port=389, get_info=None, connect_timeout=10),
        user=lab.dc.admin.dn,
        password=lab.dc.admin.password,
        authentication=SIMPLE,
    )
    assert not connection.bind()
    assert connection.result["description"] == "strongerAuthRequired"
    assert "Transport encryption required" in connection.result["message"]


def test_starttls_on_389_works(lab: SeededLab) -> None:
    dc = lab.dc
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_bundle), valid_names=[dc.fqdn])
    connection = Connection(
        Server(dc.address, port=389, tls=tls, get_info=None, connect_timeout=10),
        user=dc.admin.dn,
        password=dc.admin.password,
        authentication=SIMPLE,
    )
    connection.open()
    assert connection.start_tls()
    assert connection.bind(), connection.result
    assert connection.search(dc.base_dn, "(sAMAccountName=svc_sql)", attributes=["cn"])
    connection.unbind()


def test_seeded_user_binds_with_its_password(lab: SeededLab) -> None:
    for name, password in (("svc_sql", SVC_SQL_PASSWORD), ("asrep", lab.seed.passwords["asrep"])):
        connection = ldaps_connection(lab.dc, f"{name}@{lab.dc.realm}", password)
        assert connection.bind(), (name, connection.result)
        connection.unbind()


def test_disabled_user_cannot_bind(lab: SeededLab) -> None:
    connection = ldaps_connection(
        lab.dc, f"disabled@{lab.dc.realm}", lab.seed.passwords["disabled"]
    )
    assert not connection.bind()
    assert connection.result["description"] == "invalidCredentials"


def test_kdc_issues_tickets_with_the_written_krb5_conf(lab: SeededLab, tmp_path: Path) -> None:
    principal = f"svc_sql@{lab.dc.realm.upper()}"
    ticket = kinit(lab.dc.krb5_conf, principal, SVC_SQL_PASSWORD, tmp_path / "ccache")
    env = {**os.environ, **ticket}
    listed = subprocess.run(["klist"], env=env, check=True, capture_output=True, timeout=30)
    assert f"krbtgt/{lab.dc.realm.upper()}@{lab.dc.realm.upper()}" in listed.stdout.decode()


def test_second_dc_runs_beside_the_first(
    lab: SeededLab, claim_address: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Own runtime dirs and own address: a second domain starts while the first serves."""
    other = SambaDC(
        tmp_path_factory.mktemp("dc2"),
        realm="second.auditor.test",
        netbios="SECOND",
        address=claim_address(),
    )
    try:
        other.provision()
        other.start(max_runtime=600)
        connection = ldaps_connection(other, other.admin.dn, other.admin.password)
        assert connection.bind(), connection.result
        assert connection.search("", "(objectClass=*)", BASE, attributes=["defaultNamingContext"])
        assert str(connection.entries[0].defaultNamingContext) == other.base_dn
        connection.unbind()
        assert lab.dc.is_running()
    finally:
        other.stop()
    assert samba_processes_of(other.directory) == []


def test_start_refuses_an_address_in_use(lab: SeededLab, tmp_path: Path) -> None:
    clash = SambaDC(
        tmp_path / "dc", realm="clash.auditor.test", netbios="CLASH", address=lab.dc.address
    )
    clash.directory.mkdir()
    (clash.directory / "lab-dc.json").write_text("{}")
    clash.sam_ldb.parent.mkdir()
    clash.sam_ldb.touch()
    with pytest.raises(SambaError, match="636 is already in use"):
        clash.start()


def test_stop_leaves_no_samba_process_and_start_again_works(lab: SeededLab) -> None:
    dc = lab.dc
    group = dc._pid()
    assert group is not None
    dc.stop()
    assert not dc.is_running()
    assert not dc.pid_file.exists()
    assert samba_processes_of(dc.directory) == []
    assert not any(
        _process_group(int(p.name)) == group for p in Path("/proc").iterdir() if p.name.isdigit()
    )
    dc.stop()  # idempotent
    dc.start(max_runtime=3600)  # the session's later tests still need it
    assert dc.is_running()


def _process_group(pid: int) -> int | None:
    """The group of a live process; None when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[2])
