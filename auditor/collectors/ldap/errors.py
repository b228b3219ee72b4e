"""Why a domain could not be collected at all: one line each, naming the DC and what to try."""

from __future__ import annotations

from auditor.errors import AuditorError, InputError


class LdapError(AuditorError):
    """The DC could not be collected; nothing is reported for it, so nothing passes by mistake."""


class LdapSettingsError(LdapError, InputError):
    """A combination of settings refused before any packet is sent (e.g. a password in clear)."""


class LdapConnectError(LdapError):
    """No LDAP session: name not resolved, port closed, no answer, or the session dropped."""


class LdapTlsError(LdapError):
    """The TLS handshake failed or the DC's certificate did not validate."""


class LdapBindError(LdapError):
    """The DC (or the Kerberos library) refused to authenticate us."""
