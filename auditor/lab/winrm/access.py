"""RootSDDL authorisation: the DACL subset WinRM needs (generic rights, well-known SIDs)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class SddlError(ValueError):
    """An SDDL string this emulation cannot read."""


class Right(enum.IntFlag):
    """Generic access rights of MS-DTYP 2.4.3 that WinRM checks (MS-WSMV 3.1.4.1.28)."""

    GR = 0x80000000
    GW = 0x40000000
    GX = 0x20000000
    GA = 0x10000000


_ALL = Right.GR | Right.GW | Right.GX
_ACE = re.compile(r"\(([^;()]*);([^;()]*);([^;()]*);([^;()]*);([^;()]*);([^;()]*)\)")
_SECTION = re.compile(r"([OGDS]):")
_SID_ALIASES = {
    "BA": "S-1-5-32-544",
    "RM": "S-1-5-32-580",
    "IU": "S-1-5-4",
    "NU": "S-1-5-2",
    "AU": "S-1-5-11",
    "WD": "S-1-1-0",
    "SY": "S-1-5-18",
    "NS": "S-1-5-20",
    "BU": "S-1-5-32-545",
}
# SIDs every network logon carries, whatever the account (Everyone, Network, Authenticated Users).
_NETWORK_LOGON_SIDS = frozenset({"S-1-1-0", "S-1-5-2", "S-1-5-11"})


@dataclass(frozen=True)
class Ace:
    """One access-allowed or access-denied entry of a DACL."""

    allow: bool
    rights: Right
    sid: str


def _rights(text: str) -> Right:
    if text.lower().startswith("0x"):
        try:
            value = int(text, 16)
        except ValueError as err:
            raise SddlError(f"rights {text!r} are not hexadecimal") from err
        return Right(value & int(Right.GR | Right.GW | Right.GX | Right.GA))
    if len(text) % 2:
        raise SddlError(f"rights {text!r} are not two-letter codes")
    rights = Right(0)
    for i in range(0, len(text), 2):
        code = text[i : i + 2]
        if code in Right.__members__:
            rights |= Right[code]
        # Object-specific codes (RC, WD, ...) do not bear on WinRM's generic checks.
    return rights


def parse_dacl(sddl: str) -> tuple[Ace, ...]:
    """The allow/deny ACEs of the D: part of `sddl`, in order."""
    sections = _SECTION.split(sddl)
    parts = dict(zip(sections[1::2], sections[2::2], strict=True))
    if "D" not in parts:
        raise SddlError(f"{sddl!r} has no DACL (D:)")
    dacl = parts["D"]
    control_flags, paren, entries = dacl.partition("(")
    if not re.fullmatch(r"[PAIRNO]*", control_flags) or _ACE.sub("", paren + entries).strip():
        raise SddlError(f"DACL {dacl!r} is not flags followed by (ACE) entries")
    aces: list[Ace] = []
    for match in _ACE.finditer(paren + entries):
        kind, _flags, rights, _obj, _inherit, sid = match.groups()
        if kind not in ("A", "D"):
            raise SddlError(f"ACE type {kind!r} is not A or D")
        sid = _SID_ALIASES.get(sid, sid)
        if not sid.startswith("S-1-"):
            raise SddlError(f"SID {sid!r} is neither a known alias nor S-1-...")
        aces.append(Ace(kind == "A", _rights(rights), sid))
    return tuple(aces)


def is_granted(aces: tuple[Ace, ...], sids: frozenset[str], needed: Right) -> bool:
    """Walk the DACL in order as Windows does: the first deny of a needed right wins."""
    granted = Right(0)
    for ace in aces:
        if ace.sid not in sids:
            continue
        rights = _ALL if ace.rights & Right.GA else ace.rights
        if not ace.allow and rights & needed:
            return False
        if ace.allow:
            granted |= rights
        if granted & needed == needed:
            return True
    return False


def network_logon_sids(is_administrator: bool, is_remote_management_user: bool) -> frozenset[str]:
    """The SIDs in the token of a network logon by an account with these memberships."""
    sids = set(_NETWORK_LOGON_SIDS)
    if is_administrator:
        sids.add(_SID_ALIASES["BA"])
    if is_remote_management_user:
        sids.add(_SID_ALIASES["RM"])
    return frozenset(sids)
