"""`auditor init`, `auditor collector-script` and the offline path through `scan facts`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from auditor.lab.definition import load_definition
from auditor.lab.responder import CollectorResponder, HostMaterial
from auditor.pipeline import plan
from auditor.pipeline.config import load_config
from tests.cli import auditor


def test_init_writes_a_valid_commented_config_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "scan.yaml"
    assert auditor("init", str(path)).returncode == 0
    assert "# auditor scan configuration" in path.read_text()
    # init, the code and the documentation agree on the WinRM transport, and it is the safe one.
    written = load_config(path).raw["winrm"]["transport"]
    default = plan.host_settings(load_config(None), plan.Flags()).transport
    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    documented = re.search(r"^\| `winrm\.transport` \| (\w+) \|", docs, re.MULTILINE)
    assert documented is not None
    assert written == default == documented.group(1) == "https"
    again = auditor("init", str(path))
    assert again.returncode == 2
    assert "already exists" in again.stderr


def test_collector_script_output_scans_offline(tmp_path: Path) -> None:
    assert auditor("collector-script", "-o", str(tmp_path / "collect.ps1")).returncode == 0
    request = json.loads((tmp_path / "collect.request.json").read_text())
    definition = load_definition(None)
    wks = next(h for h in definition.hosts if h.name == "WKS01")
    material = HostMaterial(definition.domain.realm, "CORP", "S-1-5-21-1-2-3", None, None)
    (tmp_path / "wks01.json").write_text(CollectorResponder(wks, material).respond(request))
    scan = auditor(
        "scan",
        "facts",
        str(tmp_path / "wks01.json"),
        "-o",
        str(tmp_path / "out"),
        "-f",
        "json",
        "-q",
    )
    assert scan.returncode == 3  # WinRM's own configuration is not in the script's output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["targets"][0]["name"] == "wks01.corp.auditor.test"
    by_rule = {r["rule_id"]: r for r in report["results"]}
    assert by_rule["host-wdigest-disabled"]["status"] == "fail"
    assert by_rule["winrm-service-unencrypted"]["status"] == "error"
    assert "not_collected" in by_rule["winrm-service-unencrypted"]["reason"]


def test_usage_errors_exit_2_without_a_traceback() -> None:
    for args in (
        ("scan", "host", "--bogus"),
        ("rules", "show"),
        ("--log-level", "loud", "rules", "list"),
    ):
        completed = auditor(*args)
        assert completed.returncode == 2, args
        assert "Traceback" not in completed.stderr, args


def test_debug_log_file_redacts_secrets(tmp_path: Path) -> None:
    import logging

    from auditor import logs
    from auditor.credentials import Secret

    secret = Secret("Correct-Horse-Battery-9")
    logs.configure("debug", tmp_path / "debug.log")
    logging.getLogger("auditor.test").debug("sending %s to the server", secret.reveal())
    try:
        raise ValueError(f"bad password {secret.reveal()}")
    except ValueError:
        logging.getLogger("auditor.test").exception("failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = (tmp_path / "debug.log").read_text()
    assert "sending ******** to the server" in text
    assert "Correct-Horse-Battery-9" not in text
    assert "ValueError: bad password ********" in text
