"""Minimal HTTP/1.1 over asyncio streams, answering with the headers HTTP.sys sends."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from email.utils import formatdate

MAX_HEADER_BYTES = 64 * 1024
SERVER_HEADER = "Microsoft-HTTPAPI/2.0"
# HTTP.sys' own page for a URL no listener registered.
NOT_FOUND_BODY = (
    b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n'
    b"<HTML><HEAD><TITLE>Not Found</TITLE>\r\n"
    b'<META HTTP-EQUIV="Content-Type" Content-Type="text/html; charset=us-ascii"></HEAD>\r\n'
    b"<BODY><h2>Not Found</h2>\r\n"
    b"<hr><p>HTTP Error 404. The requested resource is not found.</p>\r\n"
    b"</BODY></HTML>\r\n"
)


class BadRequest(Exception):
    """Bytes that are not an HTTP/1.1 request this server can read."""


@dataclass(frozen=True)
class Request:
    """One HTTP request; header names are lower-cased, repeated headers joined with ", "."""

    method: str
    path: str
    headers: dict[str, str] = field(hash=False)
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    @property
    def wants_close(self) -> bool:
        return self.header("connection").lower() == "close"


@dataclass(frozen=True)
class Response:
    """One HTTP response; `headers` keep order and may repeat (one WWW-Authenticate per scheme)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    close: bool = False
    reason: str = ""

    def encode(self) -> bytes:
        # HTTP.sys leaves the reason phrase empty for WinRM's answers ("HTTP/1.1 401 ").
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        lines.extend(f"{k}: {v}" for k, v in self.headers)
        lines.append(f"Server: {SERVER_HEADER}")
        lines.append(f"Date: {formatdate(usegmt=True)}")
        if self.close:
            lines.append("Connection: close")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def not_found() -> Response:
    return Response(
        404, (("Content-Type", "text/html; charset=us-ascii"),), NOT_FOUND_BODY, reason="Not Found"
    )


async def read_request(reader: asyncio.StreamReader, max_body: int) -> Request | None:
    """The next request on the connection, or None when the client closed it cleanly."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        if not err.partial.strip():
            return None
        raise BadRequest("connection closed inside the request headers") from err
    except asyncio.LimitOverrunError as err:
        raise BadRequest("request headers too long") from err
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"bad request line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(f"bad header line {line!r}")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    body = await _read_body(reader, headers, max_body)
    return Request(parts[0], parts[1], headers, body)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str], max_body: int) -> bytes:
    try:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return await _read_chunked(reader, max_body)
        length = int(headers.get("content-length", "0"))
    except ValueError as err:
        raise BadRequest("bad Content-Length or chunk size") from err
    if length < 0 or length > max_body:
        raise BadRequest(f"body of {length} bytes is over the {max_body} byte limit")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError as err:
        raise BadRequest("connection closed inside the request body") from err


async def _read_chunked(reader: asyncio.StreamReader, max_body: int) -> bytes:
    body = bytearray()
    try:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return bytes(body)
            body += await reader.readexactly(size)
            await reader.readexactly(2)
            if len(body) > max_body:
                raise BadRequest(f"chunked body over the {max_body} byte limit")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as err:
        raise BadRequest("connection closed inside a chunked body") from err
