"""The one strict reader (auditor/strict.py): every problem located as `path:line: key: message`,
all raised together, no over-long value and no secret echoed; and the inputs that use it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from auditor.errors import ExitCode, InputProblems
from auditor.lab.definition import load_definition
from auditor.pipeline.config import load_config
from auditor.strict import MAX_MESSAGE, MAX_SHOWN, Node, Problems, check_schema
from tests.cli import auditor

PACKAGE = Path(__file__).resolve().parents[2] / "auditor"


def _read(tmp_path: Path, text: str) -> Node:
    path = tmp_path / "input.yaml"
    path.write_text(text, encoding="utf-8")
    root = Problems(str(path)).load(path)
    assert root is not None
    return root


def test_every_problem_is_reported_together_at_its_line(tmp_path: Path) -> None:
    root = _read(
        tmp_path,
        "name: web\n"
        "port: eighty\n"
        "tls:\n"
        "  enabled: maybe\n"
        "  versions:\n"
        "    - TLSv1.2\n"
        "    - 13\n"
        "colour: blue\n",
    )
    root.keys({"name", "port", "tls", "owner"}, ("name", "owner"))
    assert root["port"].integer(1, 65535) is None
    assert root["tls"]["enabled"].boolean(True) is True
    assert root["tls"]["versions"].strings() == ("TLSv1.2",)
    assert root["tls"]["missing"].text() is None  # absent is not a problem
    with pytest.raises(InputProblems) as caught:
        root.problems.check()
    where = tmp_path / "input.yaml"
    assert caught.value.problems == [
        f"{where}:8: unknown key 'colour' (allowed: name, owner, port, tls)",
        f"{where}:1: missing required key 'owner'",
        f"{where}:2: port: expected an integer, got str",
        f"{where}:4: tls.enabled: expected true or false, got str",
        f"{where}:7: tls.versions[1]: expected a non-empty string, got int",
    ]
    assert str(caught.value) == "\n".join(caught.value.problems)
    assert caught.value.exit_code is ExitCode.USAGE


def test_a_clean_input_raises_nothing(tmp_path: Path) -> None:
    root = _read(tmp_path, "mode: ldaps\n")
    root.keys({"mode"})
    assert root["mode"].choice(("ldaps", "starttls")) == "ldaps"
    root.problems.check()


def test_yaml_that_cannot_be_parsed_is_a_located_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("a: [1, 2\nb: 3\n", encoding="utf-8")
    problems = Problems(str(path))
    assert problems.load(path) is None
    assert len(problems.items) == 1
    assert problems.items[0].startswith(f"{path}:2: invalid YAML: ")


def test_the_terse_form_names_the_key_in_the_path(tmp_path: Path) -> None:
    root = _read(tmp_path, "users:\n  - name: alice\n    flagz: []\n  - {}\n")
    for user in root["users"].items():
        user.keys({"name"}, ("name",), terse=True)
    where = tmp_path / "input.yaml"
    assert root.problems.items == [
        f"{where}:3: users[0].flagz: unknown key",
        f"{where}:4: users[1].name: required key is missing",
    ]


def test_data_without_lines_gives_problems_without_lines() -> None:
    problems = Problems("lab.yaml")
    problems.root({"port": "x"}, "domain")["port"].integer(0, 10)
    assert problems.items == ["lab.yaml: domain.port: expected an integer, got str"]


def test_a_hostile_long_value_or_key_is_cut_short(tmp_path: Path) -> None:
    huge = "x" * 1_000_000
    root = _read(tmp_path, f"mode: {huge}\n? {huge}\n: 1\n")  # `?`: a key of any length
    root["mode"].choice(("ldaps", "starttls"))
    root.keys({"mode"})
    assert len(root.problems.items) == 2
    for problem in root.problems.items:
        assert "x" * (MAX_SHOWN + 1) not in problem
        assert len(problem) < len(str(tmp_path)) + MAX_MESSAGE + 300
    assert root.problems.items[0].endswith(f"(got '{'x' * MAX_SHOWN}'...)")


def test_a_schema_secret_is_never_echoed() -> None:
    schema = {
        "type": "object",
        "properties": {"password": {"type": "string", "pattern": "^env:"}},
    }
    problems = Problems("scan.yaml")
    check_schema(
        problems.root({"password": "Tr0ub4dor&3"}), schema, secrets={"password": "not shown"}
    )
    assert problems.items == ["scan.yaml: password: not shown"]


def test_a_configuration_password_is_not_echoed(tmp_path: Path) -> None:
    (tmp_path / "scan.yaml").write_text(
        "credentials:\n  username: audit\n  password: Correct-Horse-Battery-9\n"
    )
    with pytest.raises(InputProblems) as caught:
        load_config(tmp_path / "scan.yaml")
    assert "Correct-Horse" not in str(caught.value)
    assert caught.value.problems == [
        f"{tmp_path / 'scan.yaml'}:3: credentials.password: must be a reference (env:VAR, "
        "file:PATH, keyring:SERVICE, prompt, ticket-cache, keytab:PATH); a literal password needs "
        "allow_literal_password: true"
    ]
    (tmp_path / "scan.yaml").write_text("credentials:\n  password: 31415926\n")
    with pytest.raises(InputProblems) as caught:
        load_config(tmp_path / "scan.yaml")
    assert "31415926" not in str(caught.value)
    assert caught.value.problems == [
        f"{tmp_path / 'scan.yaml'}:2: credentials.password: must be text: a reference such as "
        "env:VAR (the value is not shown)"
    ]


def test_config_check_reports_every_schema_problem_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "scan.yaml").write_text(
        "concurrency: many\n"
        "winrm:\n"
        "  transport: ftp\n"
        "  colour: blue\n"
        "hosts:\n"
        "  - ok.example\n"
        "  - 5\n"
    )
    done = auditor("config", "check", "scan.yaml", cwd=tmp_path)
    assert done.returncode == 2
    allowed = (
        "auth, ca_bundle, certificate_key_pem, certificate_pem, connect_timeout, insecure, "
        "max_answer_mb, operation_timeout, proxy, read_timeout, retries, transport"
    )
    assert done.stderr.removeprefix("error: ").splitlines() == [
        "scan.yaml:1: concurrency: expected an integer, got str",
        "scan.yaml:7: hosts.1: expected a string, got int",
        f"scan.yaml:4: winrm: unknown key 'colour' (allowed: {allowed})",
        "scan.yaml:3: winrm.transport: must be one of https, http, auto (got 'ftp')",
    ]


def test_a_lab_definition_reports_domain_and_host_problems_together_with_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(
        "domain:\n"
        "  realm: corp.example.test\n"
        "  netbios: CORP\n"
        "  dc: {name: DC1, address: 127.10.0.1}\n"
        "  users:\n"
        "    - name: alice\n"
        "      flags: [ADMIN]\n"
        "hosts:\n"
        "  - name: FS01\n"
        "    address: 127.10.0.5\n"
        "    rdp: {certificate: shiny}\n"
        "  - name: FS01\n"
        "    address: 127.10.0.6\n"
        "colour: blue\n",
        encoding="utf-8",
    )
    with pytest.raises(InputProblems) as caught:
        load_definition(path)
    problems = caught.value.problems
    assert problems[0] == f"{path}:14: unknown key 'colour' (allowed: domain, hosts)"
    assert problems[1].startswith(f"{path}:7: domain.users[0].flags[0]: unknown flag 'ADMIN'; ")
    assert problems[2].startswith(
        f"{path}:11: hosts[0].rdp.certificate: must be one of valid, self_signed, "
    )
    assert problems[2].endswith("(got 'shiny')")
    assert problems[3:] == [f"{path}:12: hosts[1]: FS01 repeats fs01 (also FS01)"]


# The inputs that used to carry a problem collector of their own, now reading through strict.py.
CALLERS = (
    "rules/loader.py",
    "pipeline/waivers.py",
    "lab/domain_spec.py",
    "lab/hosts.py",
    "pipeline/config.py",
    "rules/mappings.py",
    "lab/definition.py",
)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def test_the_inputs_read_through_the_one_reader() -> None:
    for name in CALLERS:
        imports = {
            node.module
            for node in ast.walk(_tree(PACKAGE / name))
            if isinstance(node, ast.ImportFrom)
        }
        assert "auditor.strict" in imports, name


def test_no_other_module_keeps_a_problem_collector_or_parses_yaml() -> None:
    modules = [p for p in PACKAGE.rglob("*.py") if p.name not in ("strict.py", "yamlio.py")]
    assert len(modules) > 50  # the walk really sees the package
    collectors, parsers = [], []
    for path in modules:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ClassDef) and node.name.strip("_") in ("Problems", "Reader"):
                collectors.append(f"{path.relative_to(PACKAGE)}: class {node.name}")
            if isinstance(node, ast.FunctionDef) and node.name in ("_line_for", "_unknown_keys"):
                collectors.append(f"{path.relative_to(PACKAGE)}: def {node.name}")
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "yaml"
                and node.attr in ("load", "safe_load", "full_load", "unsafe_load")
            ):
                parsers.append(f"{path.relative_to(PACKAGE)}: yaml.{node.attr}")
    assert collectors == []
    assert parsers == []
