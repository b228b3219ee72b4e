"""Paged, streaming LDAP searches on a bound ldap3 session: ranged values, referrals skipped."""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator, Sequence
from typing import Any

from ldap3 import BASE, DEREF_NEVER, SUBTREE
from ldap3.core.exceptions import LDAPExceptionError
from ldap3.core.results import RESULT_CODES
from ldap3.operation.search import search_operation
from ldap3.protocol.rfc2696 import paged_search_control

from auditor.collectors.ldap.errors import LdapConnectError
from auditor.collectors.ldap.wire import (
    NOTICE_OF_DISCONNECTION_OID,
    OP_SEARCH_DONE,
    OP_SEARCH_ENTRY,
    OP_SEARCH_REFERENCE,
    PAGED_RESULTS_OID,
    Attributes,
    Result,
    WireError,
    message_end,
    paged_cookie,
    parse_entry,
    parse_result,
    read_header,
)
from auditor.facts.model import Reason

Control = tuple[str, bool, bytes | None]
# MS-ADTS 3.1.1.3.4.1.5: values of DN attributes as "<GUID=...>;<SID=...>;dn" (option 1: text).
EXTENDED_DN: Control = ("1.2.840.113556.1.4.529", False, b"\x30\x03\x02\x01\x01")
# MS-ADTS 3.1.1.3.4.1.22: no error when a range starts past the last value (group shrank).
RANGE_NOERR: Control = ("1.2.840.113556.1.4.1948", False, None)
# MS-ADTS 3.1.1.3.4.6: Windows returns at most MaxValRange (1500) values per attribute; ask
# for that many at a time so that servers without the limit (Samba) are read the same way.
RANGE_STEP = 1500
_RANGE = re.compile(r";range=(\d+)-(\d+|\*)$")
_RECEIVE_SIZE = 1 << 18
_SUCCESS = 0
_NO_SUCH_OBJECT = 32
_REASONS = {
    50: Reason.ACCESS_DENIED,
    3: Reason.TIMEOUT,
    51: Reason.TIMEOUT,
    52: Reason.TIMEOUT,
    8: Reason.AUTH_FAILED,
    13: Reason.AUTH_FAILED,
    48: Reason.AUTH_FAILED,
    49: Reason.AUTH_FAILED,
}


class SearchError(Exception):
    """One search failed on the DC; only the facts built from it become unavailable."""

    def __init__(self, what: str, code: int, message: str) -> None:
        name = RESULT_CODES.get(code, "unknown result")
        self.code = code
        self.detail = f"{what}: {name} ({code})" + (f": {message}" if message else "")
        super().__init__(self.detail)

    @property
    def reason(self) -> Reason:
        # AD answers operationsError "000004DC ... a successful bind must be completed".
        if self.code == 1 and "000004DC" in self.detail:
            return Reason.AUTH_FAILED
        return _REASONS.get(self.code, Reason.PROTOCOL_ERROR)


class DirectoryReader:
    """Searches over one authenticated ldap3 connection; not thread-safe, one search at a time.

    ldap3 builds and sends the requests; the answers are read from the socket here, so the
    request for page N+1 goes out as soon as page N's result arrives and the DC prepares it
    while this process decodes page N (ldap3's own search decodes first, then asks again).
    """

    def __init__(self, connection: Any, url: str, page_size: int) -> None:
        self._connection = connection
        self._url = url
        self._page_size = page_size
        self._buffer = bytearray()
        self._pos = 0
        self._broken = False

    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: Sequence[str],
        *,
        scope: str = SUBTREE,
        controls: Sequence[Control] = (),
        paged: bool = True,
    ) -> Iterator[tuple[str, Attributes]]:
        """Entries under `base`, page by page; continuation references are skipped."""
        what = f"search of {base or 'the root DSE'} for {ldap_filter}"
        cookie = b""
        pending: int | None = self._send(
            base, ldap_filter, scope, attributes, controls, paged, cookie
        )
        try:
            while pending is not None:
                page, result = self._receive(pending)
                pending = None
                if result.code != _SUCCESS:
                    raise SearchError(what, result.code, result.message)
                cookie = paged_cookie(result.controls.get(PAGED_RESULTS_OID)) if paged else b""
                if cookie:
                    pending = self._send(
                        base, ldap_filter, scope, attributes, controls, paged, cookie
                    )
                yield from _entries(page)
        except WireError as exc:
            self._broken = True
            raise LdapConnectError(f"{self._url}: {what}: unreadable answer: {exc}") from None
        finally:
            if pending is not None and not self._broken:
                self._receive(pending)  # the consumer stopped early: keep the session in step

    def read(
        self, dn: str, attributes: Sequence[str], controls: Sequence[Control] = ()
    ) -> Attributes | None:
        """One object's attributes, or None when it does not exist."""
        try:
            for _, found in self.search(
                dn, "(objectClass=*)", attributes, scope=BASE, controls=controls, paged=False
            ):
                return found
        except SearchError as exc:
            if exc.code == _NO_SUCH_OBJECT:
                return None
            raise
        return None

    def all_values(
        self, dn: str, attributes: Attributes, name: str, controls: Sequence[Control] = ()
    ) -> list[bytes]:
        """Every value of `name`, following `name;range=low-high` answers to the last one."""
        key = next((k for k in attributes if k.startswith(f"{name};range=")), None)
        if key is None:
            return list(attributes.get(name, ()))
        values = list(attributes[key])
        while True:
            bounds = _RANGE.search(key)
            if bounds is None:
                raise SearchError(f"{dn}: {name}", 2, f"unreadable range option {key!r}")
            if bounds.group(2) == "*":
                return values
            low = int(bounds.group(2)) + 1
            found = self.read(
                dn, [f"{name};range={low}-{low + RANGE_STEP - 1}"], (*controls, RANGE_NOERR)
            )
            key = next((k for k in (found or {}) if k.startswith(f"{name};range=")), None)
            if found is None or key is None:
                return values  # the attribute shrank between two reads: nothing more to get
            values.extend(found[key])

    def _send(
        self,
        base: str,
        ldap_filter: str,
        scope: str,
        attributes: Sequence[str],
        controls: Sequence[Control],
        paged: bool,
        cookie: bytes,
    ) -> int:
        if self._broken:
            raise LdapConnectError(f"{self._url}: the LDAP session was lost earlier")
        request = search_operation(
            base, ldap_filter, scope, DEREF_NEVER, list(attributes), 0, 0, False, False, False
        )
        wanted: list[Any] = list(controls)
        if paged:
            wanted.append(paged_search_control(False, self._page_size, cookie))
        try:
            message_id: int = self._connection.strategy.send(
                "searchRequest", request, wanted or None
            )
        except (LDAPExceptionError, OSError) as exc:
            self._broken = True
            raise LdapConnectError(f"{self._url}: sending a search failed: {exc}") from None
        # The answer is read here, not by ldap3: drop its bookkeeping for this request.
        self._connection.strategy._outstanding.pop(message_id, None)
        return message_id

    def _receive(self, message_id: int) -> tuple[bytes, Result]:
        """Raw entries and references answering `message_id`, then its decoded result."""
        start = self._pos
        while True:
            end = message_end(self._buffer, self._pos)
            if end is None or end > len(self._buffer):
                self._fill()
                continue
            header = read_header(self._buffer, self._pos)
            if header.message_id == message_id and header.op == OP_SEARCH_DONE:
                page = bytes(self._buffer[start : self._pos])
                result = _result(bytes(self._buffer[self._pos : end]))
                del self._buffer[:end]
                self._pos = 0
                return page, result
            if header.message_id == 0:
                self._broken = True
                notice = _result(bytes(self._buffer[self._pos : end]))
                why = notice.message or notice.response_name or NOTICE_OF_DISCONNECTION_OID
                raise LdapConnectError(f"{self._url}: the DC ended the session: {why}")
            if header.message_id != message_id:
                self._broken = True
                raise LdapConnectError(
                    f"{self._url}: answer to unknown request "
                    f"{header.message_id} (expected {message_id})"
                )
            self._pos = end

    def _fill(self) -> None:
        sock: socket.socket = self._connection.socket
        try:
            chunk = sock.recv(_RECEIVE_SIZE)
        except TimeoutError:
            self._broken = True
            raise LdapConnectError(
                f"{self._url}: no answer within {sock.gettimeout():.0f}s: the DC is overloaded "
                "or the network drops packets (raise the receive timeout)"
            ) from None
        except (ssl.SSLError, OSError) as exc:
            self._broken = True
            raise LdapConnectError(f"{self._url}: connection lost: {exc}") from None
        if not chunk:
            self._broken = True
            raise LdapConnectError(f"{self._url}: the DC closed the connection")
        self._buffer += chunk


def _result(message: bytes) -> Result:
    return parse_result(message, read_header(message, 0))


def _entries(page: bytes) -> Iterator[tuple[str, Attributes]]:
    pos = 0
    while pos < len(page):
        header = read_header(page, pos)
        if header.op == OP_SEARCH_ENTRY:
            yield parse_entry(page, header.op_start, header.op_end)
        elif header.op != OP_SEARCH_REFERENCE:  # references (ForestDnsZones...) are not chased
            raise WireError(f"unexpected protocolOp 0x{header.op:02x} inside a search answer")
        pos = header.end
