"""Binary SIDs and self-relative security descriptors (MS-DTYP 2.4.2, 2.4.4-2.4.6), read-only."""

from __future__ import annotations

import struct
from dataclasses import dataclass

# MS-DTYP 2.4.6: Control bits of a SECURITY_DESCRIPTOR.
SE_DACL_PRESENT = 0x0004
SE_SELF_RELATIVE = 0x8000
# MS-DTYP 2.4.4.1: ACE types that grant access, and those that carry the object-type GUIDs.
ACCESS_ALLOWED_ACE_TYPE = 0x00
ACCESS_ALLOWED_OBJECT_ACE_TYPE = 0x05
ACCESS_ALLOWED_CALLBACK_ACE_TYPE = 0x09
ACCESS_ALLOWED_CALLBACK_OBJECT_ACE_TYPE = 0x0B
_ALLOWED_TYPES = frozenset(
    {
        ACCESS_ALLOWED_ACE_TYPE,
        ACCESS_ALLOWED_OBJECT_ACE_TYPE,
        ACCESS_ALLOWED_CALLBACK_ACE_TYPE,
        ACCESS_ALLOWED_CALLBACK_OBJECT_ACE_TYPE,
    }
)
_OBJECT_TYPES = frozenset(
    {
        ACCESS_ALLOWED_OBJECT_ACE_TYPE,
        0x06,
        0x07,
        ACCESS_ALLOWED_CALLBACK_OBJECT_ACE_TYPE,
        0x0C,
        0x0F,
    }
)
INHERIT_ONLY_ACE = 0x08
ACE_OBJECT_TYPE_PRESENT = 0x1
ACE_INHERITED_OBJECT_TYPE_PRESENT = 0x2
EVERYONE_SID = "S-1-1-0"
_SD_HEADER = struct.Struct("<BBHIIII")
_ACL_HEADER = struct.Struct("<BBHHH")
_ACE_HEADER = struct.Struct("<BBH")


class DescriptorError(ValueError):
    """Bytes that are not a well-formed SID or self-relative security descriptor."""


@dataclass(frozen=True)
class Ace:
    """One ACE of a DACL: who (`sid`) is allowed or denied what (`mask`)."""

    type: int
    flags: int
    mask: int
    sid: str

    @property
    def allows(self) -> bool:
        return self.type in _ALLOWED_TYPES

    @property
    def effective(self) -> bool:
        """Inherit-only ACEs do not control access to the object that carries them."""
        return not self.flags & INHERIT_ONLY_ACE


@dataclass(frozen=True)
class SecurityDescriptor:
    """The parts of a descriptor that decide access: owner and DACL (None = no DACL at all)."""

    owner: str | None
    dacl: tuple[Ace, ...] | None

    def allowed_sids(self) -> tuple[str, ...]:
        """SIDs granted access by an effective allow ACE, first occurrence order.

        A missing DACL grants everyone full access (MS-DTYP 2.5.3.2), so it reads as Everyone.
        """
        if self.dacl is None:
            return (EVERYONE_SID,)
        return tuple(dict.fromkeys(a.sid for a in self.dacl if a.allows and a.effective))


def sid_from_bytes(data: bytes, offset: int = 0) -> tuple[str, int]:
    """Decode the SID at `offset` (MS-DTYP 2.4.2.2); return it and the offset after it."""
    if offset < 0 or offset + 8 > len(data):
        raise DescriptorError(f"SID at offset {offset} runs past the end ({len(data)} bytes)")
    revision, count = data[offset], data[offset + 1]
    if revision != 1:
        raise DescriptorError(f"SID at offset {offset} has revision {revision}, expected 1")
    if count > 15:
        raise DescriptorError(f"SID at offset {offset} claims {count} sub-authorities (max 15)")
    end = offset + 8 + 4 * count
    if end > len(data):
        raise DescriptorError(
            f"SID at offset {offset} with {count} sub-authorities needs {end} bytes, "
            f"only {len(data)} present"
        )
    authority = int.from_bytes(data[offset + 2 : offset + 8], "big")
    subs = struct.unpack_from(f"<{count}I", data, offset + 8)
    # MS-DTYP 2.4.2.1: authorities of 2**32 or more are written in hexadecimal.
    shown = str(authority) if authority < 2**32 else f"0x{authority:012X}"
    return "-".join(["S-1", shown, *map(str, subs)]), end


def sid_to_string(data: bytes) -> str:
    """A whole attribute value holding exactly one SID (objectSid, mS-DS-CreatorSID)."""
    sid, end = sid_from_bytes(data)
    if end != len(data):
        raise DescriptorError(f"{len(data) - end} bytes after the SID")
    return sid


def parse_security_descriptor(data: bytes) -> SecurityDescriptor:
    """Decode a self-relative SECURITY_DESCRIPTOR; every offset and size is bounds-checked."""
    if len(data) < _SD_HEADER.size:
        raise DescriptorError(
            f"security descriptor is {len(data)} bytes, shorter than its "
            f"{_SD_HEADER.size}-byte header"
        )
    revision, _, control, owner_at, _, _, dacl_at = _SD_HEADER.unpack_from(data)
    if revision != 1:
        raise DescriptorError(f"security descriptor revision {revision}, expected 1")
    if not control & SE_SELF_RELATIVE:
        raise DescriptorError("security descriptor is not self-relative (SR bit clear)")
    owner = sid_from_bytes(data, owner_at)[0] if owner_at else None
    if not control & SE_DACL_PRESENT or dacl_at == 0:
        return SecurityDescriptor(owner, None)
    return SecurityDescriptor(owner, _parse_acl(data, dacl_at))


def _parse_acl(data: bytes, offset: int) -> tuple[Ace, ...]:
    if offset + _ACL_HEADER.size > len(data):
        raise DescriptorError(f"DACL at offset {offset} runs past the end ({len(data)} bytes)")
    revision, _, size, count, _ = _ACL_HEADER.unpack_from(data, offset)
    if revision not in (2, 4):
        raise DescriptorError(f"DACL revision {revision}, expected 2 or 4")
    end = offset + size
    if size < _ACL_HEADER.size or end > len(data):
        raise DescriptorError(
            f"DACL at offset {offset} claims {size} bytes, only {len(data) - offset} present"
        )
    aces = []
    at = offset + _ACL_HEADER.size
    for index in range(count):
        if at + _ACE_HEADER.size > end:
            raise DescriptorError(f"ACE {index} of {count} starts past the end of the DACL")
        ace_type, flags, ace_size = _ACE_HEADER.unpack_from(data, at)
        if ace_size < _ACE_HEADER.size + 4 or at + ace_size > end:
            raise DescriptorError(f"ACE {index} claims {ace_size} bytes, outside the DACL")
        aces.append(_parse_ace(data[at : at + ace_size], ace_type, flags, index))
        at += ace_size
    return tuple(aces)


def _parse_ace(ace: bytes, ace_type: int, flags: int, index: int) -> Ace:
    (mask,) = struct.unpack_from("<I", ace, 4)
    sid_at = 8
    if ace_type in _OBJECT_TYPES:
        if len(ace) < 12:
            raise DescriptorError(f"object ACE {index} is too short for its Flags field")
        (object_flags,) = struct.unpack_from("<I", ace, 8)
        sid_at = (
            12
            + 16 * bool(object_flags & ACE_OBJECT_TYPE_PRESENT)
            + 16 * bool(object_flags & ACE_INHERITED_OBJECT_TYPE_PRESENT)
        )
    try:
        # Callback ACEs carry application data after the SID: only the SID is bounded here.
        sid, _ = sid_from_bytes(ace, sid_at)
    except DescriptorError as exc:
        raise DescriptorError(f"ACE {index}: {exc}") from None
    return Ace(ace_type, flags, mask, sid)
