"""`auditor config check`, and the configuration mistakes that used to pass silently (issue 13,
item 12): rule ids, areas and parameter names with typos, unknown frameworks, relative `file:`
password paths."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import yaml
from hypothesis import given

from auditor.cli.config_cmd import check
from auditor.errors import AuditorError, InputError
from auditor.pipeline import plan
from auditor.pipeline.config import load_config
from tests.cli import auditor

from .test_fuzz_inputs import CONFIG_DOCUMENTS, FUZZ


def test_init_template_points_at_config_check_and_passes_it(tmp_path: Path) -> None:
    assert auditor("init", "scan.yaml", cwd=tmp_path).returncode == 0
    text = (tmp_path / "scan.yaml").read_text()
    assert "Validate with: auditor config check THIS" in text
    assert "--help" not in text
    done = auditor("config", "check", "scan.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("scan.yaml: OK (")
    assert len(done.stdout.splitlines()) == 1


def test_config_check_reports_what_a_scan_would_refuse(tmp_path: Path) -> None:
    (tmp_path / "scan.yaml").write_text(
        "winrm: {ca_bundle: corp-ca.pem}\noutput: {formats: [html]}\n"
    )
    done = auditor("config", "check", "scan.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: scan.yaml:1: winrm.ca_bundle: {tmp_path / 'corp-ca.pem'} does not exist\n"
    )


def test_config_check_refuses_basic_over_http(tmp_path: Path) -> None:
    (tmp_path / "scan.yaml").write_text("winrm: {transport: http, auth: basic}\n")
    done = auditor("config", "check", "scan.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(
        "error: scan.yaml: winrm: refusing Basic authentication over HTTP"
    )


TYPOS = """\
rules:
  ids: [winrm-servce-*]
  exclude_ids: [rdp-nla-requried]
  areas: [rpd]
  tags: [kerberoast]
  parameters:
    ad-krbtgt-password-age: {krbtgt_max_age_day: 100}
    ad-krbtgt-pasword-age: {krbtgt_max_age_days: 100}
host_groups:
  jump:
    hosts: ['jump*']
    parameters: {rdp-exposure-inventory: {rdp_allowed_role: [jump_host]}}
"""


def test_typos_in_rule_ids_areas_tags_and_parameters_are_refused_with_suggestions(
    tmp_path: Path,
) -> None:
    (tmp_path / "scan.yaml").write_text(TYPOS)
    done = auditor("config", "check", "scan.yaml", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.removeprefix("error: ").splitlines()
    # Each problem on its own line, located, with the nearest known names (the pack may grow).
    expected = [
        (
            "scan.yaml:2: rules.ids.0: no rule matches 'winrm-servce-*' (did you mean ",
            "winrm-service-basic-auth",
        ),
        (
            "scan.yaml:3: rules.exclude_ids.0: no rule matches 'rdp-nla-requried' (did you mean ",
            "rdp-nla-required",
        ),
        ("scan.yaml:4: rules.areas.0: no rule has area 'rpd' (did you mean ", "rdp"),
        ("scan.yaml:5: rules.tags.0: no rule has tag 'kerberoast' (did you mean ", "kerberoasting"),
        (
            "scan.yaml:7: rules.parameters.ad-krbtgt-password-age.krbtgt_max_age_day: rule "
            "ad-krbtgt-password-age has no parameter 'krbtgt_max_age_day' (its parameters: ",
            "krbtgt_max_age_days",
        ),
        (
            "scan.yaml:8: rules.parameters.ad-krbtgt-pasword-age: no rule "
            "'ad-krbtgt-pasword-age' (did you mean ",
            "ad-krbtgt-password-age",
        ),
        (
            "scan.yaml:12: host_groups.jump.parameters.rdp-exposure-inventory.rdp_allowed_role: "
            "rule rdp-exposure-inventory has no parameter 'rdp_allowed_role' (its parameters: ",
            "rdp_allowed_roles",
        ),
    ]
    assert len(lines) == len(expected), done.stderr
    for line, (start, suggestion) in zip(lines, expected, strict=True):
        assert line.startswith(start), line
        assert suggestion in line.removeprefix(start), line


def test_a_scan_refuses_the_same_typos_before_collecting(tmp_path: Path) -> None:
    (tmp_path / "scan.yaml").write_text(TYPOS)
    done = auditor(
        "scan", "host", "--probe-only", "nohost.invalid", "-c", "scan.yaml", cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: scan.yaml:2: rules.ids.0: no rule matches")


def test_own_rules_may_still_tune_built_in_ones(tmp_path: Path) -> None:
    """With --rules the pack is replaced; parameters for a built-in rule are not a typo."""
    rules = Path(__file__).resolve().parents[2] / "rules" / "winrm"
    (tmp_path / "scan.yaml").write_text(
        "rules: {parameters: {ad-krbtgt-password-age: {krbtgt_max_age_days: 100}}}\n"
    )
    config = load_config(tmp_path / "scan.yaml")
    assert plan.select_rules(config, [rules])
    (tmp_path / "scan.yaml").write_text("rules: {parameters: {no-such-rule: {x: 1}}}\n")
    with pytest.raises(InputError, match="no rule 'no-such-rule'"):
        plan.select_rules(load_config(tmp_path / "scan.yaml"), [rules])


def test_rules_list_refuses_an_unknown_framework(tmp_path: Path) -> None:
    done = auditor("rules", "list", "--framework", "nist", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "error: --framework: unknown framework 'nist' (known: cis, mitre)\n"
    assert auditor("rules", "list", "--framework", "mitre", cwd=tmp_path).returncode == 0


def test_relative_password_file_is_beside_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/configuration.md: relative paths are relative to the file, `file:` ones too."""
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "password").write_text("Beside-The-Config-7\n")
    (folder / "password").chmod(0o600)
    (folder / "scan.yaml").write_text(
        "credentials: {username: 'CORP\\auditor', password: 'file:password'}\n"
    )
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    creds = plan.credential_ref(load_config(folder / "scan.yaml"), plan.Flags()).resolve()
    assert creds.password is not None
    assert creds.password.reveal() == "Beside-The-Config-7"
    assert creds.origin == f"file:{folder / 'password'}"


def test_relative_keytab_is_beside_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "svc.keytab").write_bytes(b"\x05\x02")
    (folder / "svc.keytab").chmod(0o600)
    (folder / "scan.yaml").write_text(
        "credentials: {username: svc_auditor, password: 'keytab:svc.keytab'}\n"
    )
    monkeypatch.chdir(tmp_path)
    creds = plan.credential_ref(load_config(folder / "scan.yaml"), plan.Flags()).resolve()
    assert (creds.password, creds.keytab) == (None, folder / "svc.keytab")


@FUZZ
@given(document=CONFIG_DOCUMENTS)
def test_config_check_of_random_documents_passes_or_names_the_problem(
    tmp_path_factory: pytest.TempPathFactory, document: object
) -> None:
    """Everything `config check` runs (and a scan runs before collecting) on random
    configurations: it passes, or ends in the tool's own error, never in a crash."""
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "scan.yaml"
    path.write_text(
        yaml.safe_dump(document, allow_unicode=True), encoding="utf-8", errors="surrogatepass"
    )
    with contextlib.suppress(AuditorError):  # any other exception fails the test
        check(path)
