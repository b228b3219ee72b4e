"""Hundreds of hosts in one server process: every one listens, a sample answers NTLM."""

from __future__ import annotations

import socket

from pypsrp.wsman import NAMESPACES, WSMan
from winrm_lab import ADMIN, ADMIN_PASSWORD, MASS_HOSTS, Lab


def test_every_mass_host_listens(lab: Lab) -> None:
    assert len(lab.mass) == MASS_HOSTS
    for host in lab.mass:
        with socket.create_connection((host.address, host.http_port), timeout=2):
            pass


def test_sample_of_mass_hosts_answers_ntlm_get(lab: Lab) -> None:
    for index in range(0, MASS_HOSTS, MASS_HOSTS // 10):
        host = lab.mass[index]
        with WSMan(
            host.address,
            ssl=False,
            auth="ntlm",
            username=ADMIN,
            password=ADMIN_PASSWORD,
            encryption="always",
            no_proxy=True,
            connection_timeout=5,
        ) as wsman:
            config = wsman.get_server_config()
        timeout = config.findtext("cfg:Config/cfg:MaxTimeoutms", namespaces=NAMESPACES)
        assert timeout == str(60000 + index), host.hostname
