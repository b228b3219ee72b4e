"""The default lab's emulated hosts, served in-process on their own loopback range."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor import netmap
from auditor.lab.definition import SCAN_ACCOUNT, LabDefinition, load_definition
from auditor.lab.manager import OFFLINE_DOMAIN_SID
from auditor.lab.runtime import LabState, running_hosts
from auditor.lab.samba import generate_password
from auditor.pipeline.config import ScanConfig, parse_config
from auditor.yamlio import load_text

# Not 127.10.x.y: a lab brought up by hand (`auditor lab up`) may be running there.
TEST_PREFIX = "127.15."


def relocated(definition: LabDefinition, prefix: str = TEST_PREFIX) -> LabDefinition:
    hosts = tuple(
        dataclasses.replace(h, address=prefix + h.address.split(".", 2)[2])
        for h in definition.hosts
    )
    return dataclasses.replace(definition, hosts=hosts)


@dataclasses.dataclass(frozen=True)
class Lab:
    definition: LabDefinition
    state: LabState
    config: ScanConfig
    password: str


def lab_config(definition: LabDefinition, state: LabState, extra: str = "") -> ScanConfig:
    names = "\n".join(f"  {definition.fqdn(h)}: {h.address}" for h in definition.hosts)
    hosts = "\n".join(f"  - {definition.fqdn(h)}" for h in definition.hosts)
    text = (
        f"names:\n{names}\nhosts:\n{hosts}\n"
        f"credentials:\n  username: 'CORP\\{SCAN_ACCOUNT}'\n  password: 'file:{state.password_file}'\n"
        f"winrm:\n  transport: auto\n  auth: ntlm\n  ca_bundle: '{state.pki_dir / 'lab-ca.pem'}'\n"
        "  connect_timeout: 3\n  operation_timeout: 5\n  read_timeout: 8\n  retries: 1\n"
        "probes: {timeout: 3}\n" + extra
    )
    return parse_config(load_text(text), Path("lab-test.yaml"))


def start_lab(directory: Path, definition: LabDefinition) -> Iterator[Lab]:
    state = LabState(directory, None, 0, OFFLINE_DOMAIN_SID, with_dc=False)
    password = generate_password()
    state.password_file.parent.mkdir(parents=True)
    state.password_file.write_text(password + "\n")
    state.password_file.chmod(0o600)
    config = lab_config(definition, state)
    with netmap.mapped(config.names), running_hosts(state, definition, password):
        yield Lab(definition, state, config, password)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from start_lab(tmp_path_factory.mktemp("lab"), relocated(load_definition(None)))
