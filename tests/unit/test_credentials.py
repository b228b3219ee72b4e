"""Credential references and user names: what Kerberos is asked for, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.credentials import from_reference, kerberos_principal
from auditor.errors import InputError


@pytest.mark.parametrize(
    ("username", "realm", "principal"),
    [
        ("CORP\\svc_auditor", "corp.auditor.test", "svc_auditor@CORP.AUDITOR.TEST"),
        ("svc_auditor@CORP.AUDITOR.TEST", None, "svc_auditor@CORP.AUDITOR.TEST"),
        ("svc_auditor@corp.auditor.test", "other.test", "svc_auditor@CORP.AUDITOR.TEST"),
        ("svc_auditor", "corp.auditor.test", "svc_auditor@CORP.AUDITOR.TEST"),
        ("svc_auditor", None, "svc_auditor"),  # Kerberos' default realm
        ("CORP\\svc_auditor", None, "svc_auditor"),  # a NetBIOS name is not a realm
    ],
)
def test_user_names_as_users_write_them(username: str, realm: str | None, principal: str) -> None:
    assert kerberos_principal(username, realm) == principal


def test_a_keytab_reference_names_the_file(tmp_path: Path) -> None:
    keytab = tmp_path / "svc.keytab"
    keytab.write_bytes(b"\x05\x02")
    keytab.chmod(0o600)
    credentials = from_reference("svc", f"keytab:{keytab}", interactive=False)
    assert (credentials.password, credentials.keytab) == (None, keytab)
    assert credentials.origin == f"keytab:{keytab}"


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        ("missing", "{path} does not exist"),
        ("folder", "{path} is not a file"),
        ("group-readable", "{path} is readable by others (mode 640); chmod 600 it"),
    ],
)
def test_a_keytab_reference_is_refused(tmp_path: Path, setup: str, why: str) -> None:
    path = tmp_path / "svc.keytab"
    if setup == "folder":
        path.mkdir()
    elif setup == "group-readable":
        path.write_bytes(b"\x05\x02")
        path.chmod(0o640)
    with pytest.raises(InputError) as error:
        from_reference("svc", f"keytab:{path}", interactive=False)
    assert str(error.value) == f"credential reference 'keytab:{path}': " + why.format(path=path)
