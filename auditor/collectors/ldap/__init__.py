"""The LDAP collector: one Active Directory domain's facts, read from one domain controller.

It imports plumbing and facts only."""

from auditor.collectors.ldap.collect import collect_domain
from auditor.collectors.ldap.connection import LdapSettings
from auditor.collectors.ldap.errors import (
    LdapBindError,
    LdapConnectError,
    LdapError,
    LdapSettingsError,
    LdapTlsError,
)

__all__ = [
    "LdapBindError",
    "LdapConnectError",
    "LdapError",
    "LdapSettings",
    "LdapSettingsError",
    "LdapTlsError",
    "collect_domain",
]
