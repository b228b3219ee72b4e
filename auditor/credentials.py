"""Credentials from references (environment, prompt, keyring, ticket cache, keytab), never from
literals."""

from __future__ import annotations

import getpass
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from auditor.errors import InputError
from auditor.logs import register_secret

# The references `from_reference` resolves; anything else in a password field is a literal.
REFERENCE_PREFIXES = ("env:", "file:", "keyring:", "keytab:", "prompt", "ticket-cache")


@dataclass(frozen=True)
class Secret:
    """A password that never shows in repr, str, logs or tracebacks."""

    _value: str = field(repr=False)

    def __post_init__(self) -> None:
        register_secret(self._value)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "********"

    def __repr__(self) -> str:
        return "Secret(********)"


@dataclass(frozen=True)
class Credentials:
    """A user name and where its password came from; `password` is None with a ticket cache or
    a keytab (then `keytab` names the file; its keys are read by Kerberos, never by us)."""

    username: str | None
    password: Secret | None
    origin: str  # "env:NAME", "prompt", "keyring:SERVICE", "ticket-cache", "keytab:PATH"
    keytab: Path | None = None


def kerberos_principal(username: str, realm: str | None) -> str:
    """The Kerberos principal for a user name as users write it: `DOMAIN\\user`, `user@realm`
    (a DNS domain is upper-cased into its realm) or a bare `user`; the NetBIOS domain is not a
    realm, so those two take the scan's realm, or Kerberos' default realm when it has none.
    Without this, Kerberos reads a backslash as an escape and looks for `DOMAINuser`."""
    user = username.rpartition("\\")[2]
    name, at, user_realm = user.partition("@")
    if at and user_realm:
        return f"{name}@{user_realm.upper()}"
    return f"{name}@{realm.upper()}" if realm else name


def from_reference(
    username: str | None, reference: str | None, *, interactive: bool
) -> Credentials:
    """Resolve a reference: `env:VAR`, `file:PATH` (mode 600), `keyring:SERVICE`, `prompt`,
    `ticket-cache`, `keytab:PATH` (mode 600)."""
    if reference is None or reference == "ticket-cache":
        return Credentials(username, None, "ticket-cache")
    kind, _, name = reference.partition(":")
    if kind == "keytab":
        keytab = _private_file(reference, Path(name).expanduser())
        return Credentials(username, None, f"keytab:{keytab}", keytab=keytab)
    if kind == "env":
        value = os.environ.get(name)
        if not name or value is None:
            raise InputError(
                f"password reference {reference!r}: environment variable {name!r} is not set"
            )
        return Credentials(username, Secret(value), f"env:{name}")
    if kind == "file":
        path = Path(name).expanduser()
        try:
            if path.stat().st_mode & 0o077:
                raise InputError(
                    f"password reference {reference!r}: {path} is readable by others; chmod 600 it"
                )
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise InputError(f"password reference {reference!r}: {path} does not exist") from None
        except OSError as exc:  # a folder, no permission
            raise InputError(
                f"password reference {reference!r}: cannot read {path}: {exc.strerror}"
            ) from None
        except UnicodeDecodeError:  # the message would quote the password's bytes
            raise InputError(
                f"password reference {reference!r}: {path} is not UTF-8 text"
            ) from None
        return Credentials(username, Secret(value), f"file:{path}")
    if kind == "keyring":
        try:
            import keyring  # optional extra
            import keyring.errors
        except ImportError:
            raise InputError(
                "keyring references need the keyring extra: pip install 'auditor[keyring]'"
            ) from None
        try:
            value = keyring.get_password(name, username or "")
        except keyring.errors.KeyringError as exc:  # no backend, a locked or broken store
            raise InputError(
                f"password reference {reference!r}: the keyring could not be read "
                f"({type(exc).__name__}); check its backend (keyring --list-backends), or use "
                "env:VAR or file:PATH"
            ) from None
        if value is None:
            raise InputError(f"password reference {reference!r}: no keyring entry for {username!r}")
        return Credentials(username, Secret(value), f"keyring:{name}")
    if kind == "prompt":
        if not interactive:
            raise InputError(
                "password reference 'prompt' needs a terminal; use env:VAR for scheduled scans"
            )
        return Credentials(
            username, Secret(getpass.getpass(f"password for {username}: ")), "prompt"
        )
    # Not a reference: it may be a password that happens to start like one, so never show it.
    raise InputError(
        "credentials.password: not a password reference, and a literal password may not start "
        "like one (the value is not shown); use env:VAR, file:PATH, keyring:SERVICE, prompt, "
        "ticket-cache or keytab:PATH"
    )


def _private_file(reference: str, path: Path) -> Path:
    """A keytab holds the account's keys, as good as its password: refused unless only its owner
    can read it (mode 600 or stricter). Kerberos reads it; we only check it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(f"credential reference {reference!r}: {path} does not exist") from None
    except OSError as exc:
        raise InputError(
            f"credential reference {reference!r}: cannot read {path}: {exc.strerror}"
        ) from None
    if not stat.S_ISREG(mode):
        raise InputError(f"credential reference {reference!r}: {path} is not a file")
    if mode & 0o077:
        raise InputError(
            f"credential reference {reference!r}: {path} is readable by others "
            f"(mode {stat.S_IMODE(mode):o}); chmod 600 it"
        )
    return path
