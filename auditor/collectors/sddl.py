"""Decoding SDDL strings (MS-DTYP 2.5.1) into who is allowed what, by SID."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Aliases that stand for fixed SIDs (MS-DTYP 2.5.1.1 and 2.4.2.4). Domain-relative aliases
# (DA, DU, ...) need the domain SID and are reported as "<domain>-RID".
_FIXED = {
    "BA": "S-1-5-32-544",
    "BU": "S-1-5-32-545",
    "BG": "S-1-5-32-546",
    "PU": "S-1-5-32-547",
    "AO": "S-1-5-32-548",
    "SO": "S-1-5-32-549",
    "PO": "S-1-5-32-550",
    "BO": "S-1-5-32-551",
    "RE": "S-1-5-32-552",
    "RU": "S-1-5-32-554",
    "RD": "S-1-5-32-555",
    "NO": "S-1-5-32-556",
    "MU": "S-1-5-32-558",
    "LU": "S-1-5-32-559",
    "IS": "S-1-5-32-568",
    "CY": "S-1-5-32-569",
    "ER": "S-1-5-32-573",
    "CD": "S-1-5-32-574",
    "RA": "S-1-5-32-575",
    "ES": "S-1-5-32-576",
    "MS": "S-1-5-32-577",
    "HA": "S-1-5-32-578",
    "AA": "S-1-5-32-579",
    "RM": "S-1-5-32-580",
    "WD": "S-1-1-0",
    "CO": "S-1-3-0",
    "CG": "S-1-3-1",
    "OW": "S-1-3-4",
    "NU": "S-1-5-2",
    "IU": "S-1-5-4",
    "SU": "S-1-5-6",
    "AN": "S-1-5-7",
    "ED": "S-1-5-9",
    "PS": "S-1-5-10",
    "AU": "S-1-5-11",
    "RC": "S-1-5-12",
    "WR": "S-1-5-33",
    "SY": "S-1-5-18",
    "LS": "S-1-5-19",
    "NS": "S-1-5-20",
    "AC": "S-1-15-2-1",
    "UD": "S-1-5-84-0-0-0-0-0",
}
_DOMAIN_RELATIVE = {
    "LA": 500,
    "LG": 501,
    "DA": 512,
    "DU": 513,
    "DG": 514,
    "DC": 515,
    "DD": 516,
    "CA": 517,
    "SA": 518,
    "EA": 519,
    "PA": 520,
    "RO": 498,
    "CN": 522,
    "RS": 553,
}
# Generic and standard rights that let a principal use (not just read) a resource.
_USE_RIGHTS = {"GA", "GX", "GW", "WD", "WO", "FA", "KA", "CC"}
_GENERIC_ALL, _GENERIC_EXECUTE, _GENERIC_WRITE = 0x10000000, 0x20000000, 0x40000000
# The generic rights (MS-DTYP 2.4.3), in the order grants list them; a mask names the same bits.
_GENERIC = {"GA": 0x10000000, "GR": 0x80000000, "GW": 0x40000000, "GX": 0x20000000}
_ACE = re.compile(r"\(([^()]*)\)")


class SddlError(ValueError):
    """An SDDL string that does not follow MS-DTYP 2.5.1."""


@dataclass(frozen=True)
class Ace:
    kind: str  # A, D, XA, ...
    rights: tuple[str, ...]
    mask: int | None
    sid: str
    flags: tuple[str, ...] = ()  # OI, CI, IO, ...


@dataclass(frozen=True)
class Grant:
    """What the allow entries of a DACL give one SID, deny entries for that SID taken off."""

    sid: str
    rights: tuple[str, ...]  # GA, GR, GW, GX first, then other SDDL rights or a hex mask


def resolve_sid(token: str, domain_sid: str | None = None) -> str:
    """An SDDL sid-string as a SID; domain aliases need the domain SID."""
    if token.startswith("S-1-"):
        return token
    if token in _FIXED:
        return _FIXED[token]
    if token in _DOMAIN_RELATIVE:
        prefix = domain_sid or "<domain>"
        return f"{prefix}-{_DOMAIN_RELATIVE[token]}"
    raise SddlError(f"unknown SID alias {token!r}")


def dacl_aces(sddl: str, domain_sid: str | None = None) -> list[Ace]:
    """The ACEs of the DACL (the part after 'D:' up to 'S:' or the end)."""
    match = re.search(r"D:([A-Z]*)((?:\([^()]*\))*)", sddl)
    if match is None:
        return []
    aces = []
    for body in _ACE.findall(match.group(2)):
        parts = body.split(";")
        if len(parts) < 6:
            raise SddlError(f"malformed ACE ({body})")
        kind, flags, rights, _obj, _inherit, sid = parts[:6]
        mask = None
        if rights.lower().startswith("0x"):
            try:
                mask = int(rights, 16)
            except ValueError:
                raise SddlError(f"bad access mask in ({body})") from None
            names: tuple[str, ...] = ()
        else:
            names = tuple(rights[i : i + 2] for i in range(0, len(rights), 2))
        pairs = tuple(flags[i : i + 2] for i in range(0, len(flags), 2))
        aces.append(Ace(kind, names, mask, resolve_sid(sid, domain_sid), pairs))
    return aces


def allowed_sids(sddl: str, domain_sid: str | None = None) -> list[str]:
    """SIDs granted more than read by an allow ACE: for WinRM/PSSession SDDLs, who may connect."""
    out: list[str] = []
    for ace in dacl_aces(sddl, domain_sid):
        if ace.kind not in ("A", "XA", "OA"):
            continue
        uses = bool(set(ace.rights) & _USE_RIGHTS) or bool(
            ace.mask is not None
            and ace.mask & (_GENERIC_ALL | _GENERIC_EXECUTE | _GENERIC_WRITE | 0x1)
        )
        if uses and ace.sid not in out:
            out.append(ace.sid)
    return out


def _right_names(ace: Ace) -> tuple[str, ...]:
    """An ACE's rights as names: the generic bits of a mask named, the rest kept as hex."""
    if ace.mask is None:
        return ace.rights
    names = tuple(name for name, bit in _GENERIC.items() if ace.mask & bit)
    rest = ace.mask & ~sum(_GENERIC.values())
    return (*names, f"0x{rest:X}") if rest else names


def grants(sddl: str, domain_sid: str | None = None) -> list[Grant]:
    """Every SID an allow ACE gives any right (read included), with those rights.

    The DACL is walked in order as AccessCheck does for a token holding only that SID: a
    deny ACE for the SID withholds the rights it names from the allow ACEs after it (GA
    withholds all). Inherit-only ACEs do not apply to the object itself and are skipped.
    """
    granted: dict[str, list[str]] = {}
    denied: dict[str, set[str]] = {}
    for ace in dacl_aces(sddl, domain_sid):
        if "IO" in ace.flags:
            continue
        names = _right_names(ace)
        if ace.kind == "D":
            denied.setdefault(ace.sid, set()).update(names)
        elif ace.kind in ("A", "XA", "OA"):
            withheld = denied.get(ace.sid, set())
            if "GA" in withheld:
                continue
            rights = granted.setdefault(ace.sid, [])
            rights.extend(r for r in names if r not in withheld and r not in rights)
    return [Grant(sid, tuple(sorted(r, key=_generic_first))) for sid, r in granted.items() if r]


def _generic_first(right: str) -> int:
    order = list(_GENERIC)
    return order.index(right) if right in order else len(order)
