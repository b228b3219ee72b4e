"""Bad input never crashes: random YAML into the loaders, broken WinRM/PSRP answers and broken
directory values into the collectors.

A loader ends in its own error (InputError or RuleLoadError: exit 2, `path:line: message`), a
collector turns what it cannot read into unavailable facts with a reason. Any other exception
escapes and fails the test.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import struct
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypsrp.wsman import NAMESPACES, WSMan

from auditor.collectors.ldap.collect import collect_facts
from auditor.collectors.ldap.domain import NamingContexts
from auditor.collectors.winrm import client as winrm_client
from auditor.collectors.winrm.client import CollectionFailed, HostCollection, WinRMCollector
from auditor.collectors.winrm.offline import load_any
from auditor.collectors.winrm.request import ANSWERED_FACTS, SECTION_FACTS
from auditor.collectors.winrm.response import CollectorResponseError, parse_response
from auditor.collectors.winrm.wsman_config import CONFIG_FACTS
from auditor.credentials import Credentials, Secret
from auditor.engine.result import build_result
from auditor.errors import InputError, RuleLoadError
from auditor.facts.model import Available, Fact, Reason, Unavailable
from auditor.pipeline.config import SCHEMA, load_config
from auditor.pipeline.journal import JOURNAL_VERSION, read_journal
from auditor.resources import rules_dir
from auditor.results.io import load_result, result_to_json
from auditor.rules.loader import load_rules
from auditor.rules.pack import load_pack
from auditor.store import Store

# Derandomized: the same examples on every run, so a red build means a change, not luck.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
RULE_IDS = frozenset(r.id for r in load_pack())


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


# --- YAML: the rule loader, the scan configuration, the waivers file -----------------------

# fmt: off
WORDS = st.sampled_from([
    "host", "domain", "pass", "fail", "error", "high", "winrm.listeners", "accounts",
    "obj.enabled", "true", "1 +", "(", "reg.x.value == 1", "HKLM\\SOFTWARE\\X", "env:X",
    "file:/nonexistent", "literal", "https", "basic", "*", "iis", "2025-02-30", "",
])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30, max_value=10**40),
    st.floats(), st.text(max_size=20), st.dates(), st.datetimes(), WORDS,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
# Fragments that reach PyYAML's constructors and resolvers, spliced into real files.
FRAGMENTS = st.sampled_from([
    "2025-02-30", "2025-06-30 25:00:00", "!!int x", "!!float y", "!!binary '@@'", "!!set {a}",
    "!!omap [a]", "!!timestamp x", "!!python/name:os.system", "&a [*a]", "*undefined",
    "? [a, b]\n: 1", "'unclosed", "{", "- ", ": ", "\t", "\x00", "\ufeff", "%YAML 1.1\n---\n",
    "0x1F", "1e400", ".nan", "---\n", "<<: *a", "!!int 1" + "0" * 5000,
    # A billion laughs in one flow sequence: 9**9 strings, were its aliases expanded.
    "[&l0 [a, a, a, a, a, a, a, a, a], "
    + ", ".join(f"&l{k} [{', '.join([f'*l{k - 1}'] * 9)}]" for k in range(1, 9)) + "]",
])
# fmt: on


def mapping_of(keys: Mapping[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Plausible keys with plausible (or random) values, an unknown key now and then."""
    optional = {k: s | VALUES for k, s in keys.items()} | {"colour": VALUES}
    return st.fixed_dictionaries({}, optional=optional) | VALUES


def from_schema(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Instances that mostly follow a JSON schema (the scan configuration's), with slips."""
    if "properties" in schema:
        return mapping_of(
            {k: st.deferred(lambda s=s: from_schema(s)) for k, s in schema["properties"].items()}
        )
    if isinstance(schema.get("additionalProperties"), Mapping):
        inner = from_schema(schema["additionalProperties"])
        return st.dictionaries(st.text(max_size=12), inner, max_size=3) | VALUES
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | VALUES
    if schema.get("type") == "array":
        return st.lists(from_schema(schema.get("items", {})), max_size=3) | VALUES
    return VALUES


def _rule_keys() -> Mapping[str, st.SearchStrategy[Any]]:
    def keys(names: str, values: st.SearchStrategy[Any] = VALUES) -> st.SearchStrategy[Any]:
        return mapping_of(dict.fromkeys(names.split(), values))

    # fmt: off
    return {
        "id": WORDS | st.just("fuzz"), "severity": st.sampled_from(["info", "high", "urgent"]),
        **dict.fromkeys(("title", "area", "description", "rationale", "impact", "expected"), VALUES),
        **dict.fromkeys(("references", "tags", "parameters"), VALUES),
        "scope": mapping_of({"target": st.sampled_from(["host", "domain", "cloud"]), "roles": VALUES, "when": WORDS}),
        "remediation": keys("text powershell gpo registry"),
        "facts": st.lists(WORDS, max_size=3), "optional_facts": st.lists(WORDS, max_size=3),
        "registry": st.dictionaries(st.text(max_size=8), keys("policy local default"), max_size=2),
        "condition": WORDS, "evidence": st.dictionaries(st.text(max_size=8), WORDS, max_size=2),
        "objects": keys("from where key label evidence escalate", WORDS),
        "fixtures": st.lists(keys("name expect facts registry roles params objects"), max_size=3),
    }
    # fmt: on


RULE_DOCUMENTS = mapping_of(_rule_keys())
CONFIG_DOCUMENTS = from_schema(SCHEMA)
WAIVER_KEYS = ("rule", "target", "object", "justification", "expires", "owner", "ticket")
WAIVER_ENTRY = mapping_of(dict.fromkeys(WAIVER_KEYS, VALUES | st.sampled_from(sorted(RULE_IDS))))
WAIVER_DOCUMENTS = st.lists(WAIVER_ENTRY, max_size=3) | VALUES
REAL_RULE = (rules_dir() / "winrm" / "winrm-http-only-listener.yaml").read_text("utf-8")
REAL_CONFIG = (
    Path(__file__).resolve().parents[2] / "auditor" / "templates" / "scan-example.yaml"
).read_text("utf-8")
REAL_WAIVERS = "- rule: winrm-service-basic-auth\n  justification: legacy\n  expires: 2030-01-01\n  owner: alice\n"
LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): \S")


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def _problems(load: Callable[[], object]) -> list[str]:
    """The loader's problems; an exception other than its own escapes (and fails the test)."""
    try:
        load()
    except RuleLoadError as exc:
        return exc.problems
    except InputError as exc:
        return str(exc).splitlines()[:1]
    return []


def _assert_located(problems: list[str], path: Path) -> None:
    for problem in problems:
        found = LINE.match(problem)
        assert found and found["path"] == str(path), problem[:300]


def _load_rule(path: Path) -> None:
    _assert_located(_problems(lambda: load_rules([path])), path)


def _load_config(path: Path) -> None:
    _assert_located(_problems(lambda: load_config(path)), path)


def _load_waivers(path: Path) -> None:
    from auditor.pipeline.waivers import load_waivers

    _assert_located(_problems(lambda: load_waivers(path, RULE_IDS)), path)


LOADERS: dict[str, tuple[Callable[[Path], None], st.SearchStrategy[Any], str]] = {
    "rule": (_load_rule, RULE_DOCUMENTS, REAL_RULE),
    "config": (_load_config, CONFIG_DOCUMENTS, REAL_CONFIG),
    "waivers": (_load_waivers, WAIVER_DOCUMENTS, REAL_WAIVERS),
}


@pytest.mark.parametrize("kind", sorted(LOADERS))
@FUZZ
@given(data=st.data())
def test_random_documents_load_or_fail_cleanly(
    folder: Path, kind: str, data: st.DataObject
) -> None:
    load, documents, _ = LOADERS[kind]
    document = data.draw(documents)
    load(_write(folder, f"fuzz.{kind}.yaml", yaml.safe_dump(document, allow_unicode=True)))


@pytest.mark.parametrize("kind", sorted(LOADERS))
@FUZZ
@given(fragment=FRAGMENTS, position=st.integers(min_value=0))
def test_real_files_with_hostile_fragments(
    folder: Path, kind: str, fragment: str, position: int
) -> None:
    load, _, real = LOADERS[kind]
    cut = position % (len(real) + 1)
    load(_write(folder, f"splice.{kind}.yaml", real[:cut] + fragment + real[cut:]))


@pytest.mark.parametrize("kind", sorted(LOADERS))
@FUZZ
@given(text=st.text(max_size=200))
def test_random_text(folder: Path, kind: str, text: str) -> None:
    load, _, _ = LOADERS[kind]
    load(_write(folder, f"text.{kind}.yaml", text))


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_bytes_that_are_not_utf8(folder: Path, kind: str) -> None:
    path = folder / f"binary.{kind}.yaml"
    path.write_bytes(b"id: \xff\xfe\x00\x81 bad\n- \xc3\n")
    LOADERS[kind][0](path)


# (input, commands): each `python -m auditor` pays a second of imports, so three runs at once.
CLI_INPUTS = {
    "impossible-date": (b"id: 2025-02-30\nhosts: [2025-02-30]\n", ("rules", "scan")),
    "python-tag": (b"hosts: !!python/object/apply:os.system ['true']\n", ("scan",)),
}


def test_the_cli_exits_2_without_a_traceback(tmp_path: Path) -> None:
    runs = {}
    for name, (content, commands) in CLI_INPUTS.items():
        path = tmp_path / f"{name}.yaml"
        path.write_bytes(content)
        for command in commands:
            args = (
                ["rules", "validate", str(path)]
                if command == "rules"
                else ["scan", "host", "--config", str(path)]
            )
            runs[(name, command)] = subprocess.Popen(
                [sys.executable, "-m", "auditor", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
            )
    for key, run in runs.items():
        out, err = run.communicate(timeout=60)
        assert "Traceback" not in out + err, (key, err[-2000:])
        assert run.returncode == 2, (key, run.returncode, err[-500:])
        assert err.startswith("error: ") and str(tmp_path) in err, (key, err)


# --- WinRM: the WS-Man configuration and listener answers, the PSRP output, the script JSON --

CFG = NAMESPACES["cfg"]
CONFIG_BODY = (
    f'<cfg:Config xmlns:cfg="{CFG}"><cfg:Client><cfg:AllowUnencrypted>false</cfg:AllowUnencrypted>'
    "<cfg:Auth><cfg:Basic>true</cfg:Basic><cfg:Digest>true</cfg:Digest><cfg:Kerberos>true</cfg:Kerberos>"
    "<cfg:Negotiate>true</cfg:Negotiate><cfg:Certificate>true</cfg:Certificate><cfg:CredSSP>false</cfg:CredSSP>"
    "</cfg:Auth><cfg:TrustedHosts>*</cfg:TrustedHosts></cfg:Client><cfg:Service>"
    "<cfg:RootSDDL>O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)</cfg:RootSDDL>"
    "<cfg:AllowUnencrypted>false</cfg:AllowUnencrypted><cfg:Auth><cfg:Basic>true</cfg:Basic>"
    "<cfg:Kerberos>true</cfg:Kerberos><cfg:Negotiate>true</cfg:Negotiate><cfg:Certificate>false</cfg:Certificate>"
    "<cfg:CredSSP>true</cfg:CredSSP><cfg:CbtHardeningLevel>Relaxed</cfg:CbtHardeningLevel></cfg:Auth>"
    "<cfg:IPv4Filter>*</cfg:IPv4Filter><cfg:IPv6Filter>*</cfg:IPv6Filter>"
    "<cfg:EnableCompatibilityHttpListener>false</cfg:EnableCompatibilityHttpListener></cfg:Service></cfg:Config>"
)
LISTENER = (
    '<cfg:Listener xmlns:cfg="{ns}"><cfg:Address>*</cfg:Address><cfg:Transport>{transport}</cfg:Transport>'
    "<cfg:Port>{port}</cfg:Port><cfg:Hostname></cfg:Hostname><cfg:Enabled>{enabled}</cfg:Enabled>"
    "<cfg:URLPrefix>wsman</cfg:URLPrefix><cfg:CertificateThumbprint></cfg:CertificateThumbprint></cfg:Listener>"
)
ENUMERATE_BODY = (
    f'<n:EnumerateResponse xmlns:n="{NAMESPACES["wsen"]}" xmlns:w="{NAMESPACES["wsman"]}">'
    "<w:Items>{items}</w:Items><w:EndOfSequence/></n:EnumerateResponse>"
)
BOOLEAN_FACTS = {
    f
    for f in CONFIG_FACTS
    if f.split(".")[-1]
    not in ("cbt_hardening_level", "ipv4_filter", "ipv6_filter", "trusted_hosts", "root_sddl")
}


def listener(
    transport: str = "HTTP", port: str = "5985", enabled: str = "true", ns: str = f"{CFG}/listener"
) -> str:
    return LISTENER.format(transport=transport, port=port, enabled=enabled, ns=ns)


def envelope(message: bytes, body: str) -> bytes:
    """The answer to `message`, whose MessageID pypsrp checks against RelatesTo."""
    sent = re.search(rb"MessageID>(uuid:[0-9a-fA-F-]+)<", message)
    relates = sent.group(1).decode() if sent else ""
    return (
        f'<s:Envelope xmlns:s="{NAMESPACES["s"]}" xmlns:a="{NAMESPACES["wsa"]}"><s:Header>'
        f"<a:RelatesTo>{relates}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode("utf-8", "surrogatepass")


class FakePowerShell:
    """Stands in for pypsrp's PowerShell: the script's output is whatever the test says."""

    output: ClassVar[list[Any]] = []
    errors: ClassVar[list[str]] = []

    def __init__(self, pool: object) -> None:
        self.streams = mock.Mock(error=list(self.errors))
        self.had_errors = bool(self.errors)

    def add_script(self, script: str) -> FakePowerShell:
        return self

    def add_parameter(self, name: str, value: str) -> FakePowerShell:
        return self

    def invoke(self) -> list[Any]:
        return list(self.output)


def collect(
    config: str | bytes, listeners: str | bytes, output: list[Any], errors: Sequence[str] = ()
) -> HostCollection | CollectionFailed:
    """One host collected over a fake transport: the answers are the test's, pypsrp parses them."""

    def client(self: WinRMCollector, host: str) -> WSMan:
        wsman = WSMan(
            "fuzz.invalid", ssl=False, username="u", password="p", auth="ntlm", encryption="never"
        )

        def send(message: bytes, **kwargs: Any) -> bytes:
            answer = config if b"transfer/Get" in message else listeners
            return answer if isinstance(answer, bytes) else envelope(message, answer)

        wsman.transport.send = send  # type: ignore[method-assign]
        return wsman

    FakePowerShell.output, FakePowerShell.errors = list(output), list(errors)
    request = {"sections": list(SECTION_FACTS), "registry": ["HKLM\\SOFTWARE\\X\\Y"]}
    collector = WinRMCollector(
        winrm_client.WinRMSettings(use_https=False, retries=0),
        Credentials("u", Secret("fuzz-secret"), "test"),
    )
    with (
        mock.patch.object(WinRMCollector, "_client", client),
        mock.patch.object(winrm_client, "RunspacePool", mock.MagicMock()),
        mock.patch.object(winrm_client, "PowerShell", FakePowerShell),
    ):
        try:
            return collector.collect("fuzz.invalid", request, json.dumps(request))
        except CollectionFailed as exc:
            return exc


def assert_facts_are_facts(facts: Mapping[str, Fact]) -> None:
    """Every fact is a value or a reason, and goes into a journal as strict JSON."""
    for name, fact in facts.items():
        assert isinstance(fact, Available | Unavailable), name
        json.dumps(fact.to_json(), allow_nan=False)
        if isinstance(fact, Available) and name in BOOLEAN_FACTS:
            assert isinstance(fact.value, bool), (name, fact)


GOOD_SCRIPT = json.dumps(
    {"version": 1, "collected_at": "2026-01-01T00:00:00Z", "registry": {}, "sections": {}}
)


def test_the_fake_transport_collects_a_healthy_host() -> None:
    outcome = collect(CONFIG_BODY, ENUMERATE_BODY.format(items=listener()), [GOOD_SCRIPT])
    assert isinstance(outcome, HostCollection), outcome
    assert outcome.facts["winrm.service.auth.basic"] == Available(True, mock.ANY)
    assert outcome.facts["winrm.listeners"].value[0]["enabled"] is True  # type: ignore[union-attr]


@FUZZ
@given(cut=st.integers(min_value=0), which=st.sampled_from(["config", "listeners"]))
def test_truncated_xml(cut: int, which: str) -> None:
    config, listeners = CONFIG_BODY, ENUMERATE_BODY.format(items=listener())
    if which == "config":
        config = config[: cut % len(config)]
    else:
        listeners = listeners[: cut % len(listeners)]
    outcome = collect(config, listeners, [GOOD_SCRIPT])
    if isinstance(outcome, CollectionFailed):
        assert outcome.reason is Reason.PROTOCOL_ERROR, outcome
        return
    assert_facts_are_facts(outcome.facts)
    # Cut anywhere, the answer is no longer what it claims to be: its facts are protocol errors.
    names = CONFIG_FACTS if which == "config" else {"winrm.listeners"}
    for name in names:
        fact = outcome.facts[name]
        assert isinstance(fact, Unavailable) and fact.reason is Reason.PROTOCOL_ERROR, (name, fact)


NOT_BOOLEAN = st.text(max_size=12).filter(lambda s: s.strip().lower() not in ("true", "false"))


@FUZZ
@given(
    fact=st.sampled_from(sorted(BOOLEAN_FACTS)),
    text=NOT_BOOLEAN | st.sampled_from(["1", "yes", "TRUE ", "x" * 100_000]),
)
def test_non_boolean_configuration_values(fact: str, text: str) -> None:
    from auditor.collectors.winrm.wsman_config import _BOOLS

    element = _BOOLS[fact].split("/")[-1]
    section = _BOOLS[fact].split("/")[0]
    start = CONFIG_BODY.index(f"<cfg:{section}>")
    tag = f"<cfg:{element}>"
    at = CONFIG_BODY.index(tag, start) + len(tag)
    end = CONFIG_BODY.index("</", at)
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    config = CONFIG_BODY[:at] + escaped + CONFIG_BODY[end:]
    outcome = collect(config, ENUMERATE_BODY.format(items=listener()), [GOOD_SCRIPT])
    if isinstance(outcome, CollectionFailed):  # characters XML cannot carry
        assert outcome.reason is Reason.PROTOCOL_ERROR
        return
    assert_facts_are_facts(outcome.facts)
    if text.strip().lower() not in ("true", "false") and all(c.isprintable() for c in text):
        got = outcome.facts[fact]
        assert isinstance(got, Unavailable) and got.reason is Reason.PROTOCOL_ERROR, got


@FUZZ
@given(
    transport=st.sampled_from(["HTTP", "HTTPS", "https", "FTP", ""]) | st.text(max_size=6),
    port=st.sampled_from(["5985", "0", "-1", "99999", "٣", "²", "9" * 5000, ""])
    | st.text(max_size=6),
    enabled=st.sampled_from(["true", "false", "True", "yes", "1", ""]) | st.text(max_size=6),
)
def test_listener_values(transport: str, port: str, enabled: str) -> None:
    def clean(s: str) -> str:
        return "".join(c for c in s if c.isprintable()).replace("&", "&amp;").replace("<", "&lt;")

    items = listener(clean(transport), clean(port), clean(enabled))
    outcome = collect(CONFIG_BODY, ENUMERATE_BODY.format(items=items), [GOOD_SCRIPT])
    assert isinstance(outcome, HostCollection), outcome
    assert_facts_are_facts(outcome.facts)
    fact = outcome.facts["winrm.listeners"]
    if clean(enabled).strip().lower() not in ("true", "false"):
        # Read as "disabled", such a listener would silently drop its findings.
        assert isinstance(fact, Unavailable) and fact.reason is Reason.PROTOCOL_ERROR, fact
    if isinstance(fact, Unavailable):
        assert fact.reason is Reason.PROTOCOL_ERROR


@pytest.mark.parametrize(
    "namespace",
    [
        "urn:wrong",
        NAMESPACES["wsman"],
        "http://schemas.microsoft.com/wbem/wsman/1/config/listener/",
    ],
)
def test_wrong_namespaces(namespace: str) -> None:
    """An answer in a namespace nobody speaks is unreadable, not "no listener" / "all off"."""
    config = CONFIG_BODY.replace(f'xmlns:cfg="{CFG}"', f'xmlns:cfg="{namespace}"')
    outcome = collect(config, ENUMERATE_BODY.format(items=listener(ns=namespace)), [GOOD_SCRIPT])
    assert isinstance(outcome, HostCollection), outcome
    assert_facts_are_facts(outcome.facts)
    for name in (*CONFIG_FACTS, "winrm.listeners"):
        fact = outcome.facts[name]
        assert isinstance(fact, Unavailable) and fact.reason is Reason.PROTOCOL_ERROR, (name, fact)


def test_huge_values_are_kept_or_refused_but_never_crash() -> None:
    huge = "h" * 5_000_000
    config = CONFIG_BODY.replace("<cfg:TrustedHosts>*<", f"<cfg:TrustedHosts>{huge}<")
    outcome = collect(
        config, ENUMERATE_BODY.format(items=listener(port="9" * 10_000)), [GOOD_SCRIPT]
    )
    assert isinstance(outcome, HostCollection), outcome
    assert outcome.facts["winrm.client.trusted_hosts"] == Available(huge, mock.ANY)
    listeners = outcome.facts["winrm.listeners"]
    assert isinstance(listeners, Unavailable) and listeners.reason is Reason.PROTOCOL_ERROR


SCRIPT_OUTPUTS = st.lists(
    st.one_of(
        st.text(max_size=30), st.integers(), st.none(), st.just(GOOD_SCRIPT), st.binary(max_size=10)
    ),
    max_size=3,
)


@FUZZ
@given(output=SCRIPT_OUTPUTS, errors=st.lists(st.text(max_size=20), max_size=2))
def test_psrp_output_of_any_shape(output: list[Any], errors: list[str]) -> None:
    outcome = collect(CONFIG_BODY, ENUMERATE_BODY.format(items=listener()), output, errors)
    assert isinstance(outcome, HostCollection), outcome
    assert_facts_are_facts(outcome.facts)
    assert_facts_are_facts(outcome.registry)
    script = [outcome.facts[f] for facts in SECTION_FACTS.values() for f in facts]
    if errors or len(output) != 1:
        expected = Reason.COLLECTOR_ERROR
    elif output[0] != GOOD_SCRIPT:
        expected = Reason.PROTOCOL_ERROR
    else:
        return
    assert all(isinstance(f, Unavailable) and f.reason is expected for f in script), script


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
SECTION_NAMES = sorted(ANSWERED_FACTS)  # the offline-only sections too
# A certificate Windows made (tests/data/windows/certificates/README.md): PEM's body is its DER.
_PEM = Path(__file__).parent.parent / "data/windows/certificates/server2016-ecdsa-sha256.pem"
WINDOWS_CERTIFICATE = {
    "store": "My",
    "thumbprint": "90A154580E909B2027418E454EB489CEDEB7F205",
    "has_private_key": True,
    "der": "".join(line for line in _PEM.read_text().splitlines() if "-----" not in line),
}
# fmt: off
REASONS = st.sampled_from([r.value for r in Reason]) | st.text(max_size=5)
SECTION_ANSWERS = st.one_of(
    st.fixed_dictionaries({"ok": JSON_VALUES}),
    st.fixed_dictionaries({"error": st.fixed_dictionaries({"reason": REASONS, "detail": JSON_VALUES})}),
    JSON_VALUES,
)
VALID_SECTIONS = {
    "os": {"caption": "Windows", "version": "10.0.20348", "build": 20348, "product_type": 3, "domain": "x", "joined": True},
    "services": {"WinRM": {"state": "Running"}},
    "local_groups": {"S-1-5-32-544": [{"sid": "S-1-5-32-544", "name": "x"}]},
    "certificates": {"host_name": "h", "dns_suffix": "x", "certificates": [WINDOWS_CERTIFICATE]},
    "rdp": {"configured_hash": {"present": False}, "reported": {"hash": "ab", "hash_type": 1}},
    "iis": {
        "application_host": {"present": True, "size": 60, "text": '<configuration><system.applicationHost><sites><site name="s" id="1"/></sites></system.applicationHost></configuration>'},
        "redirection": {"present": False, "size": None, "text": None},
        "web_configs": [],
    },
    "ssh": {"present": True, "path": "p", "files": [{"path": "p", "text": "PasswordAuthentication no"}]},
    "session_configurations": [{"Name": "n", "SecurityDescriptorSddl": "O:NSG:BAD:P(A;;GA;;;BA)"}],
    "winhttp_proxy": {"present": False},
    "firewall_rules": [{"id": "x", "enabled": True}],
    "credssp_delegation": {
        "present": True,
        "values": {"AllowFreshCredentials": {"present": True, "type": "REG_DWORD", "data": 1}},
        "subkeys": {"AllowFreshCredentials": {"present": True, "values": {"1": {"present": True, "type": "REG_SZ", "data": "WSMAN/*"}}, "subkeys": {}}},
    },
    "winrm_config": {"xml": f'<cfg:Config xmlns:cfg="{CFG}"><cfg:Client><cfg:TrustedHosts>*</cfg:TrustedHosts></cfg:Client></cfg:Config>'},
    "winrm_listeners": {"items": [f'<cfg:Listener xmlns:cfg="{CFG}/listener"><cfg:Transport>HTTP</cfg:Transport><cfg:Port>5985</cfg:Port><cfg:Enabled>true</cfg:Enabled></cfg:Listener>']},
}
REGISTRY_ENTRY = st.fixed_dictionaries({"present": JSON_VALUES, "type": JSON_VALUES, "data": JSON_VALUES})
SCRIPT_DOCUMENTS = st.fixed_dictionaries({
    "version": st.just(1) | JSON_VALUES,
    "collected_at": st.just("2026-01-01T00:00:00Z") | JSON_VALUES,
    "registry": st.dictionaries(st.text(max_size=10), REGISTRY_ENTRY | SECTION_ANSWERS, max_size=3),
    "sections": st.fixed_dictionaries(
        {}, optional={n: SECTION_ANSWERS | st.just({"ok": VALID_SECTIONS[n]}) for n in SECTION_NAMES}
    ),
})
# fmt: on


def _parse(text: str) -> None:
    """Contract JSON gives facts for every section asked; anything else CollectorResponseError."""
    try:
        facts, registry = parse_response(text, SECTION_NAMES)
    except CollectorResponseError:
        return
    assert_facts_are_facts(facts)
    assert_facts_are_facts(registry)
    assert {f for n in SECTION_NAMES for f in ANSWERED_FACTS[n]} <= set(facts)


@FUZZ
@given(document=SCRIPT_DOCUMENTS)
def test_collector_json_of_any_shape(document: dict[str, Any]) -> None:
    _parse(json.dumps(document))


@FUZZ
@given(document=SCRIPT_DOCUMENTS, cut=st.integers(min_value=0), text=st.text(max_size=50))
def test_truncated_or_random_collector_json(document: dict[str, Any], cut: int, text: str) -> None:
    encoded = json.dumps(document)
    _parse(encoded[: cut % (len(encoded) + 1)])
    _parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"version": 1, "registry": {}, "sections": {"os": {"ok": {"version": "1", "build": Infinity, "product_type": 3}}}}',
        '{"version": 1, "registry": {}, "sections": {"os": {"ok": {"version": "1", "product_type": 1e400}}}}',
        '{"version": 1, "registry": {"HKLM\\\\X": {"present": true, "data": NaN}}, "sections": {}}',
        '{"version": 1, "registry": {}, "sections": {"iis": {"ok": {"sites": [{"name": -Infinity}]}}}}',
    ],
    ids=["deeply-nested", "infinity", "huge-float", "nan", "minus-infinity"],
)
def test_collector_json_that_is_not_json(text: str) -> None:
    """RFC 8259 has no NaN or Infinity, and nesting has limits: a protocol error, not a crash."""
    _parse(text)


# --- JSON files: facts, collect.ps1 outputs, results, journals, and the store's rows --------

EXAMPLE_FACTS = (
    Path(__file__).resolve().parents[2] / "examples" / "hosts" / "ws042-workstation.json"
)
DEEP_KINDS = {"array": ("[", "]"), "object": ('{"a":', "}")}
# Depths about the bound, deep enough to crash a recursive reader, and past the C stack.
DEPTHS = st.integers(min_value=1, max_value=1500) | st.sampled_from([99, 100, 101, 100_000])


def _deep(depth: int, kind: str) -> str:
    opening, closing = DEEP_KINDS[kind]
    return opening * depth + ("1" if kind == "object" else "") + closing * depth


def _node_paths(value: Any) -> list[tuple[Any, ...]]:
    """The path to every value in a JSON document, the document itself first."""
    paths: list[tuple[Any, ...]] = [()]
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        children = (
            item.items()
            if isinstance(item, dict)
            else enumerate(item)
            if isinstance(item, list)
            else ()
        )
        for key, child in children:
            paths.append((*path, key))
            stack.append(((*path, key), child))
    return paths


def _splice(document: Any, path: tuple[Any, ...], text: str) -> str:
    """`document` as JSON text with the value at `path` replaced by the JSON `text`."""
    marker = "\ue000splice\ue000"
    if not path:
        return text
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = marker
    return json.dumps(document).replace(json.dumps(marker), text)


def _real_documents() -> dict[str, tuple[Callable[[Path], object], Any]]:
    """Each JSON reader, and a real document it reads (a journal: its second line)."""
    documents = load_any(EXAMPLE_FACTS)
    script = {
        "version": 1,
        "collected_at": "2026-01-01T00:00:00Z",
        "registry": {"HKLM\\SOFTWARE\\X\\Y": {"present": True, "type": "REG_DWORD", "data": 1}},
        "sections": {n: {"ok": VALID_SECTIONS[n]} for n in SECTION_NAMES if n in VALID_SECTIONS},
    }
    return {
        "facts": (load_any, json.loads(EXAMPLE_FACTS.read_text("utf-8"))),
        "collect.ps1": (load_any, script),
        "result": (load_result, result_to_json(build_result(load_pack(), documents, "scan facts"))),
        "journal": (
            read_journal,
            {"type": "document", "document": documents[0].to_json(), "info": {}},
        ),
    }


def _assert_names(problems: list[str], path: Path) -> None:
    """A refusal is one line that starts with the file it is about."""
    for problem in problems:
        assert problem.startswith(f"{path}"), problem[:300]


JOURNAL_HEADER = {"type": "scan", "command": "scan host", "started_at": "2026-01-01T00:00:00Z"}


@pytest.fixture(scope="module")
def json_readers(folder: Path) -> dict[str, tuple[Callable[[Path], object], Any]]:
    return _real_documents()


def _journal_text(line: str) -> str:
    return json.dumps({**JOURNAL_HEADER, "version": JOURNAL_VERSION}) + "\n" + line + "\n"


@pytest.mark.parametrize("reader", ["facts", "collect.ps1", "result", "journal"])
@FUZZ
@given(data=st.data(), depth=DEPTHS, kind=st.sampled_from(sorted(DEEP_KINDS)))
def test_deeply_nested_json_in_real_documents(
    folder: Path,
    json_readers: dict[str, tuple[Callable[[Path], object], Any]],
    reader: str,
    data: st.DataObject,
    depth: int,
    kind: str,
) -> None:
    """Nesting spliced anywhere into a real document: read, or refused with the file's name."""
    read, real = json_readers[reader]
    document = json.loads(json.dumps(real))
    path = data.draw(st.sampled_from(_node_paths(document)))
    text = _splice(document, path, _deep(depth, kind))
    target = folder / f"deep.{reader}.json"
    target.write_text(_journal_text(text) if reader == "journal" else text, encoding="utf-8")
    problems = _problems(lambda: read(target))
    _assert_names(problems, target)
    assert problems or depth <= 100, f"{reader}: {depth} levels read without complaint"


@pytest.mark.parametrize("reader", ["facts", "collect.ps1", "result", "journal"])
@FUZZ
@given(value=JSON_VALUES)
def test_any_json_value_as_a_whole_document(
    folder: Path,
    json_readers: dict[str, tuple[Callable[[Path], object], Any]],
    reader: str,
    value: Any,
) -> None:
    read, _ = json_readers[reader]
    target = folder / f"any.{reader}.json"
    text = json.dumps(value)
    target.write_text(_journal_text(text) if reader == "journal" else text, encoding="utf-8")
    _assert_names(_problems(lambda: read(target)), target)


# fmt: off
COLLECTOR_FILES = st.fixed_dictionaries({
    "version": st.just(1) | JSON_VALUES,
    "registry": st.just({}) | JSON_VALUES,
    "sections": SCRIPT_DOCUMENTS.map(lambda d: d["sections"]) | JSON_VALUES
    | st.dictionaries(st.sampled_from([*SECTION_NAMES, "bogus"]), SECTION_ANSWERS, max_size=3),
})
# fmt: on


@FUZZ
@given(document=COLLECTOR_FILES)
def test_collector_output_files_of_any_shape(folder: Path, document: dict[str, Any]) -> None:
    """`scan facts` on a collect.ps1 output: host facts, or one error naming the file."""
    target = folder / "collect-output.json"
    target.write_text(json.dumps(document), encoding="utf-8")
    loaded: list[Any] = []
    problems = _problems(lambda: loaded.extend(load_any(target)))
    _assert_names(problems, target)
    if not problems:
        (host,) = loaded
        assert_facts_are_facts(host.facts)


STORE_COLUMNS = [
    ("scans", "metadata"), ("scans", "rules"), ("scans", "counts"), ("scans", "open_findings"),
    ("targets", "document"), ("results", "status"), ("results", "severity"),
    ("results", "evidence"), ("results", "sources"), ("findings", "severity"),
    ("findings", "evidence"), ("findings", "waiver"),
]  # fmt: skip
STORE_VALUES = (
    st.sampled_from(["bogus", "{", "[1]", "null", "{}", '"x"', _deep(100_000, "array")])
    | st.text(max_size=10)
    | JSON_VALUES.map(json.dumps)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what SQLite holds
)


@pytest.fixture(scope="module")
def recorded_store(folder: Path) -> Path:
    """A store holding one scan of a host with findings."""
    path = folder / "recorded.db"
    with Store(path) as store:
        store.record(build_result(load_pack(), load_any(EXAMPLE_FACTS), "scan facts"))
    return path


@FUZZ
@given(column=st.sampled_from(STORE_COLUMNS), value=STORE_VALUES)
def test_store_rows_of_any_value(
    folder: Path, recorded_store: Path, column: tuple[str, str], value: Any
) -> None:
    """A damaged row in the store: read back, or one error naming the store; never a crash."""
    path = folder / "damaged.db"
    path.unlink(missing_ok=True)
    with closing(sqlite3.connect(recorded_store)) as source, closing(sqlite3.connect(path)) as copy:
        source.backup(copy)
        copy.execute(f"UPDATE {column[0]} SET {column[1]} = ?", (value,))  # noqa: S608 (fixed names)
        copy.commit()
    with Store(path, create=False) as store:
        problems = _problems(lambda: (store.scans(), store.load(1)))
    _assert_names(problems, path)
    assert all("damaged" in p for p in problems), problems


# --- LDAP: attribute values of a directory read through a fake reader ----------------------

DOMAIN_SID = "S-1-5-21-1-2-3"
DOMAIN_DN = "DC=fuzz,DC=test"
CONTEXTS = NamingContexts(DOMAIN_DN, f"CN=Configuration,{DOMAIN_DN}", 7)
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def sid(text: str) -> bytes:
    parts = text.split("-")
    subs = [int(p) for p in parts[3:]]
    return (
        bytes([1, len(subs)])
        + int(parts[2]).to_bytes(6, "big")
        + struct.pack(f"<{len(subs)}I", *subs)
    )


def descriptor(*trustees: str) -> bytes:
    """A self-relative security descriptor allowing each trustee (what RBCD stores)."""
    aces = b""
    for trustee in trustees:
        body = struct.pack("<I", 0xF01FF) + sid(trustee)
        aces += struct.pack("<BBH", 0, 0, 4 + len(body)) + body
    owner = sid("S-1-5-32-544")
    acl = struct.pack("<BBHHH", 2, 0, 8 + len(aces), len(trustees), 0) + aces
    return struct.pack("<BBHIIII", 1, 0, 0x8004, 20, 0, 0, 20 + len(owner)) + owner + acl


def entry(**values: str | bytes) -> dict[str, list[bytes]]:
    """An entry as the reader gives it: lower-case attribute names, raw values (`_` for `-`)."""
    return {
        name.replace("_", "-"): [v if isinstance(v, bytes) else v.encode()]
        for name, v in values.items()
    }


def directory() -> dict[str, dict[str, dict[str, list[bytes]]]]:
    """A small, well-formed domain: its head, groups with members, and accounts."""
    d, users, builtin = DOMAIN_DN, f"CN=Users,{DOMAIN_DN}", f"CN=Builtin,{DOMAIN_DN}"
    admins, alice = f"CN=Domain Admins,{users}", f"CN=alice,{users}"
    # fmt: off
    return {
        "head": {d: entry(
            objectsid=sid(DOMAIN_SID), minpwdlength="7", maxpwdage="-36288000000000",
            lockoutthreshold="0", pwdproperties="1", pwdhistorylength="24",
            ms_ds_machineaccountquota="10", msds_behavior_version="7")},
        "partitions": {"CN=FUZZ,CN=Partitions": entry(netbiosname="FUZZ", dnsroot="fuzz.test")},
        "groups": {
            admins: entry(objectsid=sid(f"{DOMAIN_SID}-512"), samaccountname="Domain Admins"),
            f"CN=Administrators,{builtin}": entry(objectsid=sid("S-1-5-32-544"), samaccountname="Administrators"),
            f"CN=Remote Desktop Users,{builtin}": entry(objectsid=sid("S-1-5-32-555"), samaccountname="Remote Desktop Users"),
        },
        "members": {
            admins: entry(member=f"<GUID=1>;<SID={DOMAIN_SID}-1001>;{alice}"),
            f"CN=Administrators,{builtin}": entry(member=f"<SID={DOMAIN_SID}-512>;{admins}"),
            f"CN=Remote Desktop Users,{builtin}": entry(member=f"CN=nobody,{d}"),
        },
        "accounts": {
            alice: entry(
                objectsid=sid(f"{DOMAIN_SID}-1001"), samaccountname="alice", useraccountcontrol="66048",
                samaccounttype="805306368", pwdlastset="133000000000000000",
                lastlogontimestamp="133100000000000000", serviceprincipalname="HTTP/web.fuzz.test",
                description="Ünïcødé", msds_supportedencryptiontypes="24", primarygroupid="513"),
            f"CN=krbtgt,{users}": entry(
                objectsid=sid(f"{DOMAIN_SID}-502"), samaccountname="krbtgt", useraccountcontrol="514",
                pwdlastset="132000000000000000"),
            f"CN=WEB,OU=Servers,{d}": entry(
                objectsid=sid(f"{DOMAIN_SID}-1103"), samaccountname="WEB$", useraccountcontrol="16781312",
                samaccounttype="805306369", msds_allowedtodelegateto="cifs/app.fuzz.test",
                dnshostname="web.fuzz.test", operatingsystem="Windows Server 2022",
                serviceprincipalname="HOST/web.fuzz.test"),
            f"CN=APP,OU=Servers,{d}": entry(
                objectsid=sid(f"{DOMAIN_SID}-1104"), samaccountname="APP$", useraccountcontrol="4096",
                samaccounttype="805306369", serviceprincipalname="HOST/app.fuzz.test",
                msds_allowedtoactonbehalfofotheridentity=descriptor(f"{DOMAIN_SID}-1103")),
            f"CN=DC1,OU=Domain Controllers,{d}": entry(
                objectsid=sid(f"{DOMAIN_SID}-1000"), samaccountname="DC1$", useraccountcontrol="532480",
                samaccounttype="805306369", primarygroupid="516"),
        },
    }
    # fmt: on


class FakeReader:
    """Answers the collector's searches from `directory()`-shaped data (DirectoryReader's API)."""

    def __init__(self, data: Mapping[str, Mapping[str, dict[str, list[bytes]]]]) -> None:
        self.data = data

    def search(
        self, base: str, ldap_filter: str, attributes: Any, **kwargs: Any
    ) -> Iterator[tuple[str, dict[str, list[bytes]]]]:
        kind = (
            "groups"
            if "objectClass=group" in ldap_filter
            else "partitions"
            if "crossRef" in ldap_filter
            else "accounts"
        )
        yield from self.data[kind].items()

    def read(self, dn: str, attributes: Any, controls: Any = ()) -> dict[str, list[bytes]] | None:
        for kind in ("head", "members", "accounts", "groups"):
            if dn in self.data[kind]:
                return self.data[kind][dn]
        return None

    def all_values(
        self, dn: str, attributes: Mapping[str, list[bytes]], name: str, controls: Any = ()
    ) -> list[bytes]:
        return list(attributes.get(name, ()))


def read_directory(data: Mapping[str, Mapping[str, dict[str, list[bytes]]]]) -> dict[str, Fact]:
    try:
        facts = collect_facts(FakeReader(data), CONTEXTS, NOW)  # type: ignore[arg-type]
    except Exception as exc:  # what the scan would die of
        where = traceback.extract_tb(exc.__traceback__)[-1]
        pytest.fail(
            f"collect_facts raised {type(exc).__name__}: {exc} (at {Path(where.filename).name}:"
            f"{where.lineno}); a malformed directory value must make the facts built from it "
            "unavailable (protocol_error), not end the scan"
        )
    assert_facts_are_facts(facts)
    return facts


def test_the_fake_directory_reads_cleanly() -> None:
    facts = read_directory(directory())
    assert all(isinstance(f, Available) for f in facts.values()), facts
    accounts = {a["sam"]: a for a in facts["accounts"].value}  # type: ignore[union-attr]
    assert accounts["APP$"]["delegation"]["rbcd_trustees"][0]["name"] == "WEB$"


def _with(kind: str, dn_part: str, attribute: str, value: bytes) -> dict[str, Any]:
    data = directory()
    (dn,) = [dn for dn in data[kind] if dn_part in dn]
    data[kind][dn][attribute] = [value]
    return data


RBCD = "msds-allowedtoactonbehalfofotheridentity"
# case: (where, entry, attribute, value, the fact built from it)
# fmt: off
MALFORMED = {
    "non-numeric userAccountControl": ("accounts", "alice", "useraccountcontrol", b"abc", "accounts"),
    "bad objectSid": ("accounts", "alice", "objectsid", b"\x01\x05\x00", "accounts"),
    "truncated RBCD descriptor": ("accounts", "APP", RBCD, descriptor(f"{DOMAIN_SID}-1103")[:30], "accounts"),
    "RBCD descriptor with an ACE past its end": ("accounts", "APP", RBCD, descriptor(f"{DOMAIN_SID}-1103")[:-4], "accounts"),
    "pwdLastSet beyond year 9999": ("accounts", "alice", "pwdlastset", b"9223372036854775806", "accounts"),
    "lastLogonTimestamp beyond any date": ("accounts", "alice", "lastlogontimestamp", b"9" * 21, "accounts"),
    "delegation target not UTF-8": ("accounts", "WEB", "msds-allowedtodelegateto", b"cifs/\xff\xfe", "accounts"),
    "non-numeric minPwdLength": ("head", "DC=fuzz", "minpwdlength", b"seven", "domain.info"),
    "bad domain SID": ("head", "DC=fuzz", "objectsid", b"\x01\x01", "domain.info"),
    "bad group objectSid": ("groups", "Domain Admins", "objectsid", b"\x02\x00abcdef", "groups.privileged"),
    "member with a bad binary SID": ("members", "Domain Admins", "member", b"<SID=0105>;CN=x", "groups.privileged"),
    "member with an odd hex SID": ("members", "Domain Admins", "member", b"<SID=abc>;CN=x", "groups.privileged"),
    "member not UTF-8": ("members", "Domain Admins", "member", b"<SID=S-1-5-21-1-2-3-9>;CN=\xff", "groups.privileged"),
}
# fmt: on


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_directory_values_are_protocol_errors(case: str) -> None:
    kind, dn_part, attribute, value, fact = MALFORMED[case]
    facts = read_directory(_with(kind, dn_part, attribute, value))
    got = facts[fact]
    assert isinstance(got, Unavailable) and got.reason is Reason.PROTOCOL_ERROR, (case, got)


ATTRIBUTES = [
    (kind, dn, attribute)
    for kind, entries in directory().items()
    for dn, attributes in entries.items()
    for attribute in attributes
]
# fmt: off
HOSTILE_BYTES = st.binary(max_size=40) | st.sampled_from([
    b"", b"-1", b"0", b"9" * 30, b"\xff", b"<SID=zz>;x", b"<SID=>;", b"\x01\x0f" + b"\x00" * 6,
    descriptor(DOMAIN_SID)[:25],
])
# fmt: on


@FUZZ
@given(where=st.sampled_from(ATTRIBUTES), values=st.lists(HOSTILE_BYTES, max_size=3))
def test_any_attribute_value_never_crashes_the_collector(
    where: tuple[str, str, str], values: list[bytes]
) -> None:
    kind, dn, attribute = where
    data = directory()
    data[kind][dn][attribute] = values
    read_directory(data)
