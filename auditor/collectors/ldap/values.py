"""Turning raw directory values into fact values: flags, times, SIDs, DNs (MS-ADTS, MS-DTYP)."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

from auditor.collectors.ldap.descriptor import sid_to_string

# MS-ADTS 2.2.16, named as in Windows' ADS_USER_FLAG / UserAccountControl documentation.
# 0x1, 0x100 and 0x20000 are not in MS-ADTS (unused there) but Windows defines them.
UAC_FLAGS = (
    (0x00000001, "SCRIPT"),
    (0x00000002, "ACCOUNTDISABLE"),
    (0x00000008, "HOMEDIR_REQUIRED"),
    (0x00000010, "LOCKOUT"),
    (0x00000020, "PASSWD_NOTREQD"),
    (0x00000040, "PASSWD_CANT_CHANGE"),
    (0x00000080, "ENCRYPTED_TEXT_PWD_ALLOWED"),
    (0x00000100, "TEMP_DUPLICATE_ACCOUNT"),
    (0x00000200, "NORMAL_ACCOUNT"),
    (0x00000800, "INTERDOMAIN_TRUST_ACCOUNT"),
    (0x00001000, "WORKSTATION_TRUST_ACCOUNT"),
    (0x00002000, "SERVER_TRUST_ACCOUNT"),
    (0x00010000, "DONT_EXPIRE_PASSWORD"),
    (0x00020000, "MNS_LOGON_ACCOUNT"),
    (0x00040000, "SMARTCARD_REQUIRED"),
    (0x00080000, "TRUSTED_FOR_DELEGATION"),
    (0x00100000, "NOT_DELEGATED"),
    (0x00200000, "USE_DES_KEY_ONLY"),
    (0x00400000, "DONT_REQ_PREAUTH"),
    (0x00800000, "PASSWORD_EXPIRED"),
    (0x01000000, "TRUSTED_TO_AUTH_FOR_DELEGATION"),
    (0x02000000, "NO_AUTH_DATA_REQUIRED"),
    (0x04000000, "PARTIAL_SECRETS_ACCOUNT"),
)
ACCOUNTDISABLE = 0x2
SERVER_TRUST_ACCOUNT = 0x2000
TRUSTED_FOR_DELEGATION = 0x80000
TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000
PARTIAL_SECRETS_ACCOUNT = 0x4000000
_KNOWN_BITS = sum(bit for bit, _ in UAC_FLAGS)

# Windows FILETIME: 100 ns ticks since 1601-01-01 UTC; 0 and the maximum mean "never".
_FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)
_NEVER = (0, 0x7FFFFFFFFFFFFFFF)
_TICKS_PER_DAY = 864_000_000_000

# MS-DTYP 2.4.2.4: SIDs that are not accounts of the domain but can appear as trustees.
WELL_KNOWN_SIDS = {
    "S-1-1-0": "Everyone",
    "S-1-3-0": "Creator Owner",
    "S-1-5-7": "Anonymous Logon",
    "S-1-5-9": "Enterprise Domain Controllers",
    "S-1-5-10": "Principal Self",
    "S-1-5-11": "Authenticated Users",
    "S-1-5-18": "Local System",
    "S-1-5-32-544": "Administrators",
    "S-1-5-32-545": "Users",
    "S-1-5-32-546": "Guests",
    "S-1-5-32-554": "Pre-Windows 2000 Compatible Access",
}
_EXTENDED_DN = re.compile(r"^((?:<[A-Za-z]+=[^>]*>;)*)(.*)$", re.DOTALL)
_SID_PART = re.compile(r"<SID=([^>]*)>")
_HEX_SID = re.compile(r"^[0-9A-Fa-f]+$")


@cache
def uac_flag_names(value: int) -> tuple[str, ...]:
    """Names of the set bits, lowest first; a bit Windows does not define shows as hex."""
    names = [name for bit, name in UAC_FLAGS if value & bit]
    unknown = value & ~_KNOWN_BITS & 0xFFFFFFFF
    names += [f"0x{1 << i:08X}" for i in range(32) if unknown & (1 << i)]
    return tuple(names)


def filetime(raw: bytes | None) -> int | None:
    """A FILETIME attribute (pwdLastSet, lastLogonTimestamp) as ticks; None when never set."""
    if raw is None:
        return None
    value = int(raw)
    return None if value in _NEVER or value < 0 else value


def filetime_iso(ticks: int | None) -> str | None:
    if ticks is None:
        return None
    try:
        moment = _FILETIME_EPOCH + dt.timedelta(microseconds=ticks // 10)
    except OverflowError:  # past year 9999: not a time a DC writes
        raise ValueError(f"FILETIME {ticks} is not a date") from None
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def age_days(ticks: int | None, now: dt.datetime) -> float | None:
    """Days between a FILETIME and `now`, to 0.01 day (about 15 minutes)."""
    if ticks is None:
        return None
    now_ticks = int((now - _FILETIME_EPOCH).total_seconds() * 10_000_000)
    return round((now_ticks - ticks) / _TICKS_PER_DAY, 2)


def interval_days(raw: bytes | None) -> float | None:
    """A negative 100 ns interval (maxPwdAge) in days; "never" (minimum int64 or 0) is 0."""
    if raw is None:
        return None
    value = int(raw)
    if value == -0x8000000000000000 or value == 0:
        return 0.0
    return round(abs(value) / _TICKS_PER_DAY, 2)


def integer(raw: bytes | None) -> int | None:
    return None if raw is None else int(raw)


def text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "replace")


def first(attributes: dict[str, list[bytes]], name: str) -> bytes | None:
    values = attributes.get(name)
    return values[0] if values else None


def rdn_value(dn: str) -> str:
    """The value of a DN's first RDN, unescaped enough for display (CN=a\\,b -> a,b)."""
    head = dn[: _first_separator(dn)]
    value = head.partition("=")[2]
    return re.sub(r"\\(.)", r"\1", value)


def parent_dn(dn: str) -> str | None:
    cut = _first_separator(dn)
    return dn[cut + 1 :] if cut < len(dn) else None


def _first_separator(dn: str) -> int:
    """Index of the first unescaped comma (RFC 4514: `\\,` and `\\2C` are part of a value)."""
    i = 0
    while i < len(dn):
        if dn[i] == "\\":
            i += 2
            continue
        if dn[i] == ",":
            return i
        i += 1
    return len(dn)


def split_extended_dn(value: str) -> tuple[str | None, str]:
    """`<GUID=..>;<SID=..>;dn` (MS-ADTS 3.1.1.3.4.1.5) -> (SID or None, plain DN)."""
    match = _EXTENDED_DN.match(value)
    assert match is not None  # the pattern matches every string
    sid = _SID_PART.search(match.group(1))
    if sid is None:
        return None, match.group(2)
    found = sid.group(1)
    if _HEX_SID.match(found):  # option 0 (binary as hex); option 1 gives S-1-... already
        found = sid_to_string(bytes.fromhex(found))  # ValueError for an odd digit count
    return found, match.group(2)
