"""scripts/setup names what the lab needs, and the lab deletes only directories it made."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from auditor.lab.samba import LAB_PACKAGES, SambaError, discard

ROOT = Path(__file__).resolve().parents[2]


def setup_packages() -> list[str]:
    listed = subprocess.run(
        [str(ROOT / "scripts" / "setup"), "--list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return listed.stdout.split()


def test_the_lab_asks_for_packages_setup_installs() -> None:
    packages = setup_packages()
    assert "samba-ad-provision" in packages  # the package whose absence broke a fresh machine
    assert set(LAB_PACKAGES) <= set(packages)


def test_a_half_made_dc_directory_is_deleted(tmp_path: Path) -> None:
    dc = tmp_path / "dc"
    for sub in ("etc", "private", "run", "log"):
        (dc / sub).mkdir(parents=True)
    (dc / "etc" / "smb.conf").write_text("[global]\n")
    discard(dc)
    assert not dc.exists()
    discard(dc)  # nothing there: nothing to do


def test_a_directory_with_anything_else_is_never_deleted(tmp_path: Path) -> None:
    dc = tmp_path / "dc"
    (dc / "etc").mkdir(parents=True)
    (dc / "thesis.odt").write_text("years of work")
    with pytest.raises(SambaError, match=r"holds thesis\.odt.*remove or move"):
        discard(dc)
    assert (dc / "thesis.odt").read_text() == "years of work"
