"""Host configuration: every problem reported at once, accounts matched as Windows matches them."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.lab.winrm import (
    POLICY_SETTING_NAMES,
    HostConfigError,
    Listener,
    ServiceAuth,
    ServiceSettings,
    WinRMHostConfig,
)
from auditor.lab.winrm.access import Right, is_granted, network_logon_sids, parse_dacl
from auditor.lab.winrm.accounts import AccountBook


def test_all_problems_are_reported_with_the_host_name() -> None:
    with pytest.raises(HostConfigError) as err:
        WinRMHostConfig(
            hostname="bad.corp.auditor.test",
            address="10.0.0.5",
            users={"CORP\\a:b": "pw", "ok": "pass:word"},
            service=ServiceSettings(
                auth=ServiceAuth(cbt_hardening_level="Medium"),  # type: ignore[arg-type]
                root_sddl="O:NSG:BA",
            ),
            policy_settings=frozenset({"service.auth.basic", "service.auth.digest"}),
            administrators=frozenset({"nobody"}),
            listeners=(Listener("HTTPS", 5986),),
        )
    assert err.value.problems == [
        "address 10.0.0.5 is not a loopback address (127.x.y.z)",
        "account 'CORP\\\\a:b' is empty or contains ':' or a line break",
        "password of 'ok' contains ':' or a line break",
        "administrators names accounts not in users: nobody",
        "an HTTPS listener needs tls_cert and tls_key",
        "service.auth.cbt_hardening_level 'Medium' is not None, Relaxed or Strict",
        "service.root_sddl: 'O:NSG:BA' has no DACL (D:)",
        "policy_settings names unknown settings: service.auth.digest",
    ]
    assert str(err.value).splitlines()[0] == (
        "bad.corp.auditor.test: address 10.0.0.5 is not a loopback address (127.x.y.z)"
    )


def test_policy_setting_names_cover_the_config_sections() -> None:
    assert {"service.auth.basic", "service.allow_unencrypted", "client.trusted_hosts"} <= (
        POLICY_SETTING_NAMES
    )
    assert "winrs.allow_remote_shell_access" in POLICY_SETTING_NAMES


def test_listeners_follow_the_flags_unless_given(tmp_path: Path) -> None:
    config = WinRMHostConfig(
        "h.corp.auditor.test",
        "127.12.1.1",
        https_listener=True,
        tls_cert=tmp_path / "c.pem",
        tls_key=tmp_path / "c.key",
        tls_thumbprint="AB" * 20,
    )
    assert [(li.transport, li.port, li.hostname) for li in config.effective_listeners] == [
        ("HTTP", 5985, ""),
        ("HTTPS", 5986, "h.corp.auditor.test"),
    ]


@pytest.mark.parametrize(
    ("presented", "expected"),
    [
        ("CORP\\Admin", "CORP\\admin"),
        ("corp\\ADMIN", "CORP\\admin"),
        ("admin@CORP.auditor.test", "CORP\\admin"),
        ("admin", "CORP\\admin"),
        ("helpdesk", "H01\\helpdesk"),
        (".\\helpdesk", "H01\\helpdesk"),
        ("h01\\HelpDesk", "H01\\helpdesk"),
        ("svc@corp.auditor.test", "CORP\\svc"),
        ("CORP\\svc", "CORP\\svc"),
        ("OTHER\\admin", None),
        ("CORP\\helpdesk", None),
    ],
)
def test_account_names_match_like_windows(presented: str, expected: str | None) -> None:
    book = AccountBook(
        "h01.corp.auditor.test",
        {"CORP\\admin": "a", "helpdesk": "b", "svc@corp.auditor.test": "c"},
    )
    account = book.find(presented)
    assert (book.display_name(account) if account else None) == expected


def test_ntlm_store_has_a_line_per_name_form() -> None:
    book = AccountBook("h01.corp.auditor.test", {"CORP\\admin": "a", "helpdesk": "b"})
    assert list(book.ntlm_credential_lines()) == [
        ":helpdesk:b",
        ".:helpdesk:b",
        "H01:helpdesk:b",
        "CORP:admin:a",
        ":admin@corp.auditor.test:a",
        "corp.auditor.test:admin:a",
        ":admin:a",
    ]


def test_default_root_sddl_grants_administrators_only() -> None:
    dacl = parse_dacl(ServiceSettings().root_sddl)
    admin = network_logon_sids(is_administrator=True, is_remote_management_user=False)
    remote_user = network_logon_sids(is_administrator=False, is_remote_management_user=True)
    assert is_granted(dacl, admin, Right.GR | Right.GX)
    assert not is_granted(dacl, remote_user, Right.GR)


def test_a_deny_ace_wins_over_a_later_allow() -> None:
    dacl = parse_dacl("O:NSG:BAD:P(D;;GX;;;WD)(A;;GA;;;BA)")
    admin = network_logon_sids(is_administrator=True, is_remote_management_user=False)
    assert is_granted(dacl, admin, Right.GR)
    assert not is_granted(dacl, admin, Right.GX)
