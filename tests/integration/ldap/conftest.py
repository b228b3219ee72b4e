"""One Samba AD DC for the LDAP collector tests, seeded from ldap_domain.yaml plus a few extras."""

from __future__ import annotations

import fcntl
import os
import socket
import ssl
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from ldap3 import NONE, Connection, Server, Tls
from ldap3.protocol.formatters.formatters import format_sid
from ldap3.utils.conv import escape_filter_chars

from auditor import netmap
from auditor.collectors.ldap import LdapSettings, collect_domain
from auditor.credentials import Credentials, Secret
from auditor.facts.model import FactDocument
from auditor.lab.directory_seed import build_bulk_plan, seed
from auditor.lab.domain_spec import DomainSpec, parse_domain_spec
from auditor.lab.samba import SambaDC
from tests.kerberos import kinit

SPEC_FILE = Path(__file__).with_name("ldap_domain.yaml")
ADDRESS_PREFIX = "127.14.0."  # bench/ldap_collect.py uses 127.14.1.N
BIG_GROUP_SID = "S-1-5-32-550"  # Print Operators: > 1500 direct members, read in ranges
BIG_GROUP_MEMBERS = 1600
JSMITH_PASSWORD = "Jsmith-Ordinary-Pa55!"


@dataclass(frozen=True)
class LdapLab:
    """The running DC, its spec, and what the extras added beyond the spec."""

    dc: SambaDC
    spec: DomainSpec
    sids: Mapping[str, str]  # sAMAccountName -> SID, for the accounts the tests name

    def settings(self, **changes: Any) -> LdapSettings:
        base = LdapSettings(self.dc.fqdn, ca_bundle=self.dc.ca_bundle, live_tests=False)
        return replace(base, **changes)

    @property
    def admin(self) -> Credentials:
        return Credentials(
            self.dc.admin.user_principal_name, Secret(self.dc.admin.password), "test"
        )

    def user(self, name: str, password: str) -> Credentials:
        return Credentials(f"{name}@{self.spec.realm}", Secret(password), "test")


def _claim(stack: ExitStack) -> str:
    """The first 127.14.0.N no other session holds (lock file) and nothing serves on."""
    for n in range(1, 50):
        address = f"{ADDRESS_PREFIX}{n}"
        handle = os.open(f"/tmp/auditor-ldap-test-{address}.lock", os.O_CREAT | os.O_RDWR)
        stack.callback(os.close, handle)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue
        try:
            socket.create_connection((address, 636), timeout=0.3).close()
        except OSError:
            return address
    raise RuntimeError("no free 127.14.0.N address for the LDAP test DC")


def _extras(dc: SambaDC, sid_of_jsmith: str) -> list[dict[str, Any]]:
    """What the spec cannot say: a big group, an RODC, a quota-made computer, DC RBCD."""
    realm = dc.realm
    ops = build_bulk_plan(realm, BIG_GROUP_MEMBERS, 0, "big")
    ops.append(
        {
            "op": "add_members",
            "target": f"sid:{BIG_GROUP_SID}",
            "members": [f"id:u{i}" for i in range(BIG_GROUP_MEMBERS)],
        }
    )
    ops.append(
        {
            "op": "add",
            "id": "rodc",
            "parent": "wk:computers",
            "name": "RODC1",
            "attrs": {
                "objectClass": ["computer"],
                "sAMAccountName": ["RODC1$"],
                "dNSHostName": [f"rodc1.{realm}"],
                "userAccountControl": [str(0x5001000)],
            },
        }
    )
    ops.append({"op": "replace", "target": "id:rodc", "attr": "primaryGroupID", "values": ["521"]})
    ops.append(
        {
            "op": "add",
            "id": "quota",
            "parent": "wk:computers",
            "name": "QUOTA01",
            "attrs": {
                "objectClass": ["computer"],
                "sAMAccountName": ["QUOTA01$"],
                "userAccountControl": ["4096"],
                "mS-DS-CreatorSID": [sid_of_jsmith],
            },
        }
    )
    ops.append({"op": "allow_to_act", "target": f"sam:{dc.dc_name}$", "principals": ["id:quota"]})
    return ops


def _sids(dc: SambaDC, names: list[str]) -> dict[str, str]:
    """SIDs read with plain ldap3, independent of the collector under test."""
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_bundle))
    server = Server(dc.fqdn, port=636, use_ssl=True, tls=tls, get_info=NONE)
    with Connection(
        server,
        dc.admin.user_principal_name,
        dc.admin.password,
        auto_bind=True,
        auto_referrals=False,
    ) as connection:
        connection.search(
            dc.base_dn,
            "(|" + "".join(f"(sAMAccountName={escape_filter_chars(n)})" for n in names) + ")",
            attributes=["sAMAccountName", "objectSid"],
        )
        return {
            e["raw_attributes"]["sAMAccountName"][0].decode(): format_sid(
                e["raw_attributes"]["objectSid"][0]
            )
            for e in connection.response
            if e["type"] == "searchResEntry"
        }


@pytest.fixture(scope="session")
def ldap_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapLab]:
    with ExitStack() as stack:
        data = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))["domain"]
        data["dc"]["address"] = _claim(stack)
        spec = parse_domain_spec(data, source=str(SPEC_FILE))
        dc = SambaDC.for_domain(tmp_path_factory.mktemp("ldapdc"), spec)
        stack.callback(dc.stop)
        dc.provision()
        dc.start(max_runtime=3600)  # samba exits by itself if this session is killed
        stack.enter_context(netmap.mapped(dc.host_map))
        seed(dc, spec)
        sids = _sids(dc, ["jsmith", "WEB01$", "svc_sql"])
        dc.run_helper("apply_plan", {"batch_mode": True, "ops": _extras(dc, sids["jsmith"])}, 300)
        sids |= _sids(dc, ["QUOTA01$", "RODC1$", f"{dc.dc_name}$", "krbtgt"])
        yield LdapLab(dc, spec, sids)


@pytest.fixture(scope="session")
def collected(ldap_lab: LdapLab) -> FactDocument:
    """The domain as the Administrator sees it over LDAPS, live tests included."""
    return collect_domain(ldap_lab.settings(live_tests=True), ldap_lab.admin)


@pytest.fixture(scope="session")
def accounts(collected: FactDocument) -> dict[str, dict[str, Any]]:
    """Account records by sAMAccountName."""
    return {a["sam"]: a for a in collected.facts["accounts"].value}  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def ticket_cache(ldap_lab: LdapLab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A real TGT for the Administrator from the lab KDC: the environment that finds it."""
    return kinit(
        ldap_lab.dc.krb5_conf,
        ldap_lab.dc.admin.user_principal_name,
        ldap_lab.dc.admin.password,
        tmp_path_factory.mktemp("krb") / "ccache",
    )
