"""IIS attribute values in every form IIS accepts: names, comma lists and numbers.

The numbers are IIS's own (IIS_schema.xml): the access sslFlags as Microsoft's IIS
Administration API declares them (HttpAccessSslFlags), extendedProtection's tokenChecking and
flags as the IIS configuration reference documents them. A value IIS would refuse is an error
here too, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


class IisConfigError(ValueError):
    """A configuration IIS itself would refuse, or one the collector cannot follow."""


SSL_FLAGS = {
    "None": 0,
    "Ssl": 8,
    "SslNegotiateCert": 32,
    "SslRequireCert": 64,
    "SslMapCert": 128,
    "Ssl128": 256,
}
TOKEN_CHECKING = {"None": 0, "Allow": 1, "Require": 2}
EXTENDED_PROTECTION_FLAGS = {
    "None": 0,
    "Proxy": 1,
    "NoServiceNameCheck": 2,
    "AllowDotlessSpn": 4,
    "ProxyCohosting": 32,
}
_NUMBER = re.compile(r"\d{1,10}")


def boolean(value: str, what: str) -> bool:
    """IIS writes true/false; it reads them in any case."""
    text = value.strip().lower()
    if text not in ("true", "false"):
        raise IisConfigError(f"{what}={value[:40]!r} is not true or false")
    return text == "true"


def _by_name(table: Mapping[str, int], name: str, what: str, value: str) -> int:
    for known, number in table.items():
        if known.lower() == name.lower():
            return number
    raise IisConfigError(f"{what}={value[:80]!r}: {name[:40]!r} is not one of {', '.join(table)}")


def enum(value: str, table: Mapping[str, int], what: str) -> str:
    """The canonical name of an enum value written as a name or as its number."""
    text = value.strip()
    if _NUMBER.fullmatch(text):
        for name, number in table.items():
            if number == int(text):
                return name
        raise IisConfigError(f"{what}={text} is not one of the values {sorted(table.values())}")
    for name in table:
        if name.lower() == text.lower():
            return name
    raise IisConfigError(f"{what}={value[:80]!r} is not one of {', '.join(table)}")


def flags(value: str, table: Mapping[str, int], what: str) -> list[str]:
    """The names of the flags set, in IIS's order, from "Ssl, Ssl128", "Ssl,Ssl128" or "264"."""
    text = value.strip()
    if _NUMBER.fullmatch(text):
        bits = int(text)
    else:
        names = [part.strip() for part in text.split(",")]
        if not all(names):
            raise IisConfigError(f"{what}={value[:80]!r} has an empty flag name")
        bits = 0
        for name in names:
            bits |= _by_name(table, name, what, value)
    known = 0
    for number in table.values():
        known |= number
    if bits & ~known:
        raise IisConfigError(f"{what}={text[:40]} sets bits IIS does not define")
    return [name for name, number in table.items() if number and bits & number]


def flags_text(names: list[str]) -> str:
    """A flags value as IIS writes it back: "None", or the names joined by ", "."""
    return ", ".join(names) if names else "None"
