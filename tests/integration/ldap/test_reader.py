"""DirectoryReader on a scripted socket: paging ahead, references, ranges, a session that breaks."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.collectors.ldap.errors import LdapConnectError
from auditor.collectors.ldap.search import DirectoryReader, SearchError

from .test_partial_failures import tlv

PAGED = b"1.2.840.113556.1.4.319"


def entry(message_id: int, dn: str, attributes: dict[str, list[bytes]] | None = None) -> bytes:
    parts = b"".join(
        tlv(0x30, tlv(0x04, name.encode()) + tlv(0x31, b"".join(tlv(0x04, v) for v in values)))
        for name, values in (attributes or {}).items()
    )
    return tlv(
        0x30, tlv(0x02, bytes([message_id])) + tlv(0x64, tlv(0x04, dn.encode()) + tlv(0x30, parts))
    )


def reference(message_id: int) -> bytes:
    return tlv(
        0x30,
        tlv(0x02, bytes([message_id]))
        + tlv(0x73, tlv(0x04, b"ldaps://corp.test/DC=ForestDnsZones,DC=corp,DC=test")),
    )


def done(message_id: int, code: int = 0, cookie: bytes | None = None, text: bytes = b"") -> bytes:
    controls = b""
    if cookie is not None:
        value = tlv(0x30, tlv(0x02, b"\x00") + tlv(0x04, cookie))
        controls = tlv(0xA0, tlv(0x30, tlv(0x04, PAGED) + tlv(0x04, value)))
    result = tlv(0x0A, bytes([code])) + tlv(0x04, b"") + tlv(0x04, text)
    return tlv(0x30, tlv(0x02, bytes([message_id])) + tlv(0x65, result) + controls)


class ScriptedSocket:
    """Delivers each request's scripted answer in small chunks, as TLS records would."""

    def __init__(self, answers: list[bytes], chunk: int = 7) -> None:
        self.answers = answers
        self.pending = b""
        self.chunk = chunk

    def recv(self, size: int) -> bytes:
        data, self.pending = self.pending[: min(size, self.chunk)], self.pending[self.chunk :]
        return data

    def gettimeout(self) -> float:
        return 1.0


class ScriptedStrategy:
    def __init__(self, sock: ScriptedSocket) -> None:
        self.socket = sock
        self.sent: list[str] = []
        self._outstanding: dict[int, Any] = {}

    def send(self, kind: str, request: Any, controls: Any) -> int:
        self.sent.append(str(request["attributes"][0]) if len(request["attributes"]) else "")
        message_id = len(self.sent)
        self._outstanding[message_id] = request
        self.socket.pending += self.socket.answers[message_id - 1]
        return message_id


class ScriptedConnection:
    def __init__(self, answers: list[bytes]) -> None:
        self.socket = ScriptedSocket(answers)
        self.strategy = ScriptedStrategy(self.socket)


def reader(*answers: bytes) -> tuple[DirectoryReader, ScriptedConnection]:
    connection = ScriptedConnection(list(answers))
    return DirectoryReader(connection, "ldaps://dc.test:636", 2), connection


def test_the_next_page_is_asked_for_before_this_one_is_decoded() -> None:
    directory, connection = reader(
        entry(1, "CN=a", {"cn": [b"a"]})
        + reference(1)
        + entry(1, "CN=b", {"cn": [b"b"]})
        + done(1, cookie=b"page2"),
        entry(2, "CN=c", {"cn": [b"c"]}) + done(2, cookie=b""),
    )
    seen = []
    for dn, attributes in directory.search("DC=test", "(cn=*)", ["cn"]):
        seen.append((dn, attributes, len(connection.strategy.sent)))
    assert seen == [
        ("CN=a", {"cn": [b"a"]}, 2),
        ("CN=b", {"cn": [b"b"]}, 2),
        ("CN=c", {"cn": [b"c"]}, 2),
    ]
    assert connection.strategy._outstanding == {}


def test_stopping_early_keeps_the_session_in_step() -> None:
    directory, _ = reader(
        entry(1, "CN=a") + done(1, cookie=b"more"),
        entry(2, "CN=b") + done(2, cookie=b"again"),
        entry(3, "CN=root", {"defaultNamingContext": [b"DC=test"]}) + done(3),
    )
    assert next(iter(directory.search("DC=test", "(cn=*)", ["cn"])))[0] == "CN=a"
    assert directory.read("", ["defaultNamingContext"]) == {"defaultnamingcontext": [b"DC=test"]}


def test_a_failed_search_names_the_search_and_the_code() -> None:
    directory, _ = reader(done(1, code=50, text=b"00002098: no rights\x00"))
    with pytest.raises(SearchError) as error:
        list(directory.search("DC=test", "(objectClass=group)", ["member"]))
    assert error.value.detail == (
        "search of DC=test for (objectClass=group): "
        "insufficientAccessRights (50): 00002098: no rights"
    )
    assert error.value.reason.value == "access_denied"


def test_reading_a_missing_object_gives_none() -> None:
    directory, _ = reader(done(1, code=32))
    assert directory.read("CN=gone,DC=test", ["cn"]) is None


def test_ranges_are_followed_to_the_last_value() -> None:
    directory, connection = reader(
        entry(1, "CN=g", {"member;range=1500-2999": [b"x"] * 3}) + done(1),
        entry(2, "CN=g", {"member;range=3000-*": [b"y"] * 2}) + done(2),
    )
    first = {"member;range=0-1499": [b"w"] * 4}
    values = directory.all_values("CN=g", first, "member")
    assert values == [b"w"] * 4 + [b"x"] * 3 + [b"y"] * 2
    assert connection.strategy.sent == ["member;range=1500-2999", "member;range=3000-4499"]


def test_a_range_that_shrank_ends_quietly() -> None:
    directory, _ = reader(entry(1, "CN=g") + done(1))
    assert directory.all_values("CN=g", {"member;range=0-1": [b"a", b"b"]}, "member") == [
        b"a",
        b"b",
    ]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"", "ldaps://dc.test:636: the DC closed the connection"),
        (
            entry(9, "CN=x") + done(9),
            "ldaps://dc.test:636: answer to unknown request 9 (expected 1)",
        ),
        (
            tlv(
                0x30,
                tlv(0x02, b"\x00")
                + tlv(
                    0x78,
                    tlv(0x0A, b"\x34")
                    + tlv(0x04, b"")
                    + tlv(0x04, b"server shutting down")
                    + tlv(0x8A, b"1.3.6.1.4.1.1466.20036"),
                ),
            ),
            "ldaps://dc.test:636: the DC ended the session: server shutting down",
        ),
        (
            tlv(0x30, tlv(0x02, b"\x01") + tlv(0x64, tlv(0x04, b"CN=x") + tlv(0x31, b"")))
            + done(1),
            "ldaps://dc.test:636: search of DC=test for (cn=*): unreadable answer: attributes: "
            "expected tag 0x30, got 0x31 at 13",
        ),
    ],
    ids=["closed", "unknown-id", "notice", "garbage"],
)
def test_a_broken_session_is_one_clear_error(answer: bytes, message: str) -> None:
    directory, _ = reader(answer)
    with pytest.raises(LdapConnectError) as error:
        list(directory.search("DC=test", "(cn=*)", ["cn"]))
    assert str(error.value) == message
    with pytest.raises(LdapConnectError) as again:
        directory.read("", ["cn"])
    assert str(again.value) == "ldaps://dc.test:636: the LDAP session was lost earlier"
