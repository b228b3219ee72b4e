"""The SID and security descriptor decoder (MS-DTYP 2.4.2, 2.4.4-2.4.6) on hand-built bytes."""

from __future__ import annotations

import base64
import struct

import pytest

from auditor.collectors.ldap.descriptor import (
    DescriptorError,
    parse_security_descriptor,
    sid_from_bytes,
    sid_to_string,
)

DOMAIN = "S-1-5-21-1004336348-1177238915-682003330"
WEB01 = f"{DOMAIN}-1110"
APP02 = f"{DOMAIN}-1111"
DENIED = f"{DOMAIN}-1112"


def sid(text: str) -> bytes:
    """MS-DTYP 2.4.2.2: revision, count, 6-byte big-endian authority, LE sub-authorities."""
    _, _, authority, *subs = text.split("-")
    return (
        bytes([1, len(subs)])
        + int(authority).to_bytes(6, "big")
        + b"".join(struct.pack("<I", int(s)) for s in subs)
    )


def ace(
    ace_type: int,
    trustee: str,
    *,
    flags: int = 0,
    mask: int = 0xF01FF,
    object_flags: int | None = None,
    extra: bytes = b"",
) -> bytes:
    body = struct.pack("<I", mask)
    if object_flags is not None:
        body += struct.pack("<I", object_flags) + b"\x11" * 16 * bin(object_flags & 3).count("1")
    body += sid(trustee) + extra
    return struct.pack("<BBH", ace_type, flags, 4 + len(body)) + body


def acl(*aces: bytes, revision: int = 4) -> bytes:
    payload = b"".join(aces)
    return struct.pack("<BBHHH", revision, 0, 8 + len(payload), len(aces), 0) + payload


def descriptor(
    dacl: bytes | None, owner: str | None = "S-1-5-32-544", control: int = 0x8004
) -> bytes:
    """Self-relative: header, owner SID, then the DACL, as samba-tool and Windows write it."""
    owner_bytes = sid(owner) if owner else b""
    owner_at = 20 if owner else 0
    dacl_at = 20 + len(owner_bytes) if dacl is not None else 0
    header = struct.pack("<BBHIIII", 1, 0, control, owner_at, 0, 0, dacl_at)
    return header + owner_bytes + (dacl or b"")


RBCD = descriptor(acl(ace(0x00, WEB01), ace(0x00, APP02)))
# What the lab seeder (samba-tool's descriptor) wrote for RBCD on a DC, read back over LDAPS.
SAMBA_BLOB = base64.b64decode(
    "AQAEgBQAAAAAAAAAAAAAACQAAAABAgAAAAAABSAAAAAgAgAABAAsAAEAAAAAACQA/wEPAAEFAAAAAAAFFQAAABoU3m4i"
    "oALwtd/lpvCKAQA="
)


def test_sid_round_trip() -> None:
    assert sid_to_string(sid(WEB01)) == WEB01
    assert sid_to_string(sid("S-1-1-0")) == "S-1-1-0"
    assert sid_from_bytes(b"\x00" * 4 + sid("S-1-5-11"), 4) == ("S-1-5-11", 16)


def test_sid_with_a_large_authority_is_hexadecimal() -> None:
    raw = bytes([1, 1]) + (2**40).to_bytes(6, "big") + struct.pack("<I", 7)
    assert sid_to_string(raw) == "S-1-0x010000000000-7"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b"\x01\x05" + b"\x00" * 6 + b"\x00" * 8,
            "SID at offset 0 with 5 sub-authorities needs 28 bytes, only 16 present",
        ),
        (b"\x02\x01" + b"\x00" * 10, "SID at offset 0 has revision 2, expected 1"),
        (b"\x01\x10" + b"\x00" * 70, "SID at offset 0 claims 16 sub-authorities (max 15)"),
        (b"\x01\x00\x00", "SID at offset 0 runs past the end (3 bytes)"),
        (sid("S-1-5-11") + b"\x00", "1 bytes after the SID"),
    ],
    ids=["short", "revision", "count", "header", "trailing"],
)
def test_bad_sids_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(DescriptorError) as error:
        sid_to_string(raw)
    assert str(error.value) == message


def test_rbcd_descriptor_gives_its_trustees_in_order() -> None:
    parsed = parse_security_descriptor(RBCD)
    assert parsed.owner == "S-1-5-32-544"
    assert parsed.allowed_sids() == (WEB01, APP02)


def test_the_descriptor_samba_writes() -> None:
    parsed = parse_security_descriptor(SAMBA_BLOB)
    assert parsed.allowed_sids() == ("S-1-5-21-1860047898-4026703906-2800082869-101104",)
    assert parsed.dacl is not None and parsed.dacl[0].mask == 0xF01FF


def test_object_callback_and_padded_aces_are_read() -> None:
    dacl = acl(
        ace(0x05, WEB01, object_flags=1),  # ACCESS_ALLOWED_OBJECT with ObjectType
        ace(0x05, APP02, object_flags=3),  # both GUIDs
        ace(0x09, f"{DOMAIN}-1113", extra=b"artx\x00\x00\x00\x00"),  # callback: app data
        ace(0x00, f"{DOMAIN}-1114", extra=b"\x00" * 4),  # AceSize larger than the SID
    )
    assert parse_security_descriptor(descriptor(dacl)).allowed_sids() == (
        WEB01,
        APP02,
        f"{DOMAIN}-1113",
        f"{DOMAIN}-1114",
    )


def test_deny_and_inherit_only_aces_grant_nothing() -> None:
    dacl = acl(
        ace(0x01, DENIED),
        ace(0x06, DENIED, object_flags=0),
        ace(0x00, APP02, flags=0x08 | 0x02),
        ace(0x00, WEB01),
        ace(0x00, WEB01),
    )
    assert parse_security_descriptor(descriptor(dacl)).allowed_sids() == (WEB01,)


def test_a_missing_dacl_grants_everyone() -> None:
    assert parse_security_descriptor(descriptor(None, control=0x8000)).allowed_sids() == (
        "S-1-1-0",
    )


def test_an_empty_dacl_grants_nobody() -> None:
    assert parse_security_descriptor(descriptor(acl())).allowed_sids() == ()


def test_an_owner_is_optional() -> None:
    parsed = parse_security_descriptor(descriptor(acl(ace(0, WEB01)), owner=None))
    assert parsed.owner is None
    assert parsed.allowed_sids() == (WEB01,)


@pytest.mark.parametrize("length", range(len(RBCD)))
def test_every_truncation_is_a_clean_error(length: int) -> None:
    with pytest.raises(DescriptorError):
        parse_security_descriptor(RBCD[:length])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (RBCD[:10], "security descriptor is 10 bytes, shorter than its 20-byte header"),
        (b"\x02" + RBCD[1:], "security descriptor revision 2, expected 1"),
        (
            RBCD[:2] + b"\x04\x00" + RBCD[4:],
            "security descriptor is not self-relative (SR bit clear)",
        ),
        (RBCD[:-4], "DACL at offset 36 claims 80 bytes, only 76 present"),
        (descriptor(acl(ace(0, WEB01), revision=3)), "DACL revision 3, expected 2 or 4"),
        (
            descriptor(struct.pack("<BBHHH", 4, 0, 8, 2, 0)),
            "ACE 0 of 2 starts past the end of the DACL",
        ),
        (
            descriptor(acl(struct.pack("<BBH", 0, 0, 200) + b"\x00" * 24)),
            "ACE 0 claims 200 bytes, outside the DACL",
        ),
        (
            descriptor(acl(struct.pack("<BBHI", 0, 0, 12, 0) + b"\x01\x05\x00\x00")),
            "ACE 0: SID at offset 8 runs past the end (12 bytes)",
        ),
        (
            descriptor(acl(struct.pack("<BBHI", 5, 0, 8, 0))),
            "object ACE 0 is too short for its Flags field",
        ),
    ],
    ids=[
        "short-header",
        "revision",
        "absolute",
        "dacl-size",
        "acl-revision",
        "ace-count",
        "ace-size",
        "ace-sid",
        "object-ace",
    ],
)
def test_malformed_descriptors_say_what_is_wrong(raw: bytes, message: str) -> None:
    with pytest.raises(DescriptorError) as error:
        parse_security_descriptor(raw)
    assert str(error.value) == message
