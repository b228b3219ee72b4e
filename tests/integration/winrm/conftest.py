"""One emulated-host server for the whole session, with a host for each behaviour under test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pypsrp.wsman import WSMan
from winrm_lab import ADMIN, ADMIN_PASSWORD, Lab, lab_hosts, mass_hosts

from auditor import netmap
from auditor.lab.winrm import WinRMHostServer


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    ca_dir = tmp_path_factory.mktemp("winrm-pki")
    hosts = lab_hosts(ca_dir)
    mass = mass_hosts()
    names = {h.hostname: h.address for h in (*hosts.values(), *mass)}
    server = WinRMHostServer([*hosts.values(), *mass])
    with netmap.mapped(names), server:
        yield Lab(ca_dir / "lab-ca.pem", hosts, mass)


@pytest.fixture(scope="session")
def connect(lab: Lab) -> Callable[..., WSMan]:
    """WSMan to a lab host by role: HTTPS goes by host name with validation on the lab CA."""

    def make(role: str, *, https: bool = False, **kwargs: Any) -> WSMan:
        host = lab.hosts[role]
        options: dict[str, Any] = {
            "username": ADMIN,
            "password": ADMIN_PASSWORD,
            "auth": "ntlm",
            "no_proxy": True,
            "connection_timeout": 5,
            "read_timeout": 10,
            "operation_timeout": 5,
        }
        options.update(kwargs)
        if https:
            options.setdefault("cert_validation", str(lab.ca_bundle))
            return WSMan(host.hostname, ssl=True, port=host.https_port, **options)
        options.setdefault("encryption", "always")
        return WSMan(host.address, ssl=False, port=host.http_port, **options)

    return make
