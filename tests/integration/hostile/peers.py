"""Hostile HTTP(S) peers on loopback for the transport tests: each records every request a client
sends, answers what its handler says, and stops by itself."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import spnego

from auditor.lab.pki import IssuedCert

NTLM_AUTHENTICATE = b"NTLMSSP\x00\x03\x00\x00\x00"
_MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    raw: bytes  # request line, headers and body as received

    def auth_token(self) -> bytes:
        """The decoded token of a Negotiate/NTLM Authorization header, or b""."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("negotiate", "ntlm") or not token:
            return b""
        return base64.b64decode(token)

    def is_ntlm_authenticate(self) -> bool:
        return NTLM_AUTHENTICATE in self.auth_token()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | Iterable[bytes] = b""  # an iterable is streamed with chunked encoding
    close: bool = False
    length: int | None = None  # announce this Content-Length instead of the body's own


# The handler sees each request and a per-connection scratch dict (Negotiate state lives there).
Handler = Callable[[Request, dict[str, Any]], Reply]

OFFER = Reply(
    401,
    (("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", 'Basic realm="WSMAN"')),
)


def ntlm_challenge(request: Request, state: dict[str, Any]) -> Reply | None:
    """Negotiate as a WinRM listener does until the client sends its AUTHENTICATE message
    (the logon an attacker wants); None once it has. Needs NTLM_USER_FILE set (pyspnego)."""
    token = request.auth_token()
    if not token:
        return OFFER
    if NTLM_AUTHENTICATE in token:
        return None
    if "acceptor" not in state:
        state["acceptor"] = spnego.server(
            protocol="ntlm" if token.startswith(b"NTLMSSP") else "negotiate"
        )
    answer = state["acceptor"].step(token)
    scheme = request.headers["authorization"].split(" ", 1)[0]
    encoded = base64.b64encode(answer or b"").decode("ascii")
    return Reply(401, (("WWW-Authenticate", f"{scheme} {encoded}"),))


def server_tls(cert: IssuedCert) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert.cert_path, cert.key_path)
    return context


@dataclass
class Peer:
    """A threaded HTTP/1.1 server on (address, port); port 0 picks a free one.

    `lifetime` bounds it: after that many seconds it stops accepting and closes what is open.
    """

    address: str
    port: int
    handler: Handler
    tls: ssl.SSLContext | None = None
    lifetime: float = 90.0
    connections: int = 0
    tls_failures: int = 0
    requests: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}:{self.port}/wsman"

    def received(self) -> bytes:
        with self._lock:
            return b"".join(r.raw for r in self.requests)

    def __enter__(self) -> Peer:
        self._listener = socket.create_server((self.address, self.port))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=15)
        if self._listener is not None:
            self._listener.close()

    def _accept(self) -> None:
        assert self._listener is not None
        ends = time.monotonic() + self.lifetime
        while not self._stop.is_set() and time.monotonic() < ends:
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self.connections += 1
            worker = threading.Thread(target=self._serve, args=(connection, ends), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _serve(self, connection: socket.socket, ends: float) -> None:
        connection.settimeout(max(0.1, min(10.0, ends - time.monotonic())))
        try:
            if self.tls is not None:
                try:
                    connection = self.tls.wrap_socket(connection, server_side=True)
                except (ssl.SSLError, OSError):
                    with self._lock:
                        self.tls_failures += 1
                    return
            stream = connection.makefile("rb")
            state: dict[str, Any] = {}
            while not self._stop.is_set() and time.monotonic() < ends:
                request = _read_request(stream)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                reply = self.handler(request, state)
                if not _write_reply(connection, reply) or reply.close:
                    return
        except (OSError, ValueError):
            return  # the client left, or sent something that is not HTTP: the peer stops here
        finally:
            connection.close()


def _read_request(stream: Any) -> Request | None:
    line = stream.readline(65536)
    if not line.strip():
        return None
    raw = bytearray(line)
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = stream.readline(65536)
        raw += header
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    length = min(int(headers.get("content-length", "0") or 0), _MAX_BODY)
    body = stream.read(length) if length else b""
    raw += body
    return Request(method, path, headers, body, bytes(raw))


def _write_reply(connection: socket.socket, reply: Reply) -> bool:
    """Send the reply; False when the client went away while it was being written."""
    streamed = not isinstance(reply.body, bytes)
    head = [f"HTTP/1.1 {reply.status} Peer\r\n"]
    head += [f"{name}: {value}\r\n" for name, value in reply.headers]
    if reply.length is not None:
        head.append(f"Content-Length: {reply.length}\r\n")
    elif streamed:
        head.append("Transfer-Encoding: chunked\r\n")
    else:
        assert isinstance(reply.body, bytes)
        head.append(f"Content-Length: {len(reply.body)}\r\n")
    if reply.close:
        head.append("Connection: close\r\n")
    try:
        connection.sendall("".join(head).encode("latin-1") + b"\r\n")
        if isinstance(reply.body, bytes):
            connection.sendall(reply.body)
            return True
        for chunk in reply.body:
            framed = chunk if reply.length is not None else _chunk(chunk)
            connection.sendall(framed)
        if reply.length is None:
            connection.sendall(b"0\r\n\r\n")
    except OSError:
        return False
    return True


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode("ascii") + data + b"\r\n"


def leaked(data: bytes, forms: Mapping[str, bytes]) -> list[str]:
    """Which spellings of a secret occur in `data`."""
    return [what for what, form in forms.items() if form in data]


def artefact_leaks(paths: Iterable[Path], forms: Mapping[str, bytes]) -> list[str]:
    """Every (file, spelling) of a secret, or an NTLM AUTHENTICATE token, found in `paths`."""
    found = []
    for path in paths:
        data = path.read_bytes()
        found += [f"{path}: {what}" for what in leaked(data, forms)]
        for token in (NTLM_AUTHENTICATE, base64.b64encode(NTLM_AUTHENTICATE)[:16]):
            if token in data:
                found.append(f"{path}: NTLM AUTHENTICATE token")
    return found


def stream_of(size: int, chunk: bytes) -> Iterator[bytes]:
    """`size` bytes made of `chunk` repeated, produced lazily."""
    sent = 0
    while sent < size:
        piece = chunk[: size - sent]
        sent += len(piece)
        yield piece
