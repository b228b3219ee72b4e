"""Many emulated Windows hosts in one asyncio loop, each on its own loopback address."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import tempfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from spnego.exceptions import SpnegoError

from auditor.lab.connections import Connections
from auditor.lab.winrm import encryption, faults, http
from auditor.lab.winrm.accounts import Account, AccountBook
from auditor.lab.winrm.auth import Authenticator, AuthResult, ConnectionAuth, tls_server_end_point
from auditor.lab.winrm.config import WinRMHostConfig
from auditor.lab.winrm.psrp import RunspacePoolHost
from auditor.lab.winrm.shell import ShellTable
from auditor.lab.winrm.soap import (
    RequestError,
    identify_response,
    is_identify,
    parse_request,
    parse_xml,
)
from auditor.lab.winrm.wsman import WSManService
from auditor.wire.tls import permit_tls_versions

log = logging.getLogger(__name__)
_SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
_MAX_BODY = 8 * 1024 * 1024
_SECPROFILE = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/"


@dataclass(frozen=True)
class _Host:
    """A configured host and the objects that serve it."""

    config: WinRMHostConfig
    book: AccountBook
    authenticator: Authenticator
    service: WSManService
    tls: ssl.SSLContext | None


class WinRMHostServer:
    """Serve every host of `configs` on its own address, each listener on its port.

    Hosts whose service has AllowRemoteAccess false, and disabled listeners,
    are not bound: a remote client finds the port closed.
    """

    def __init__(self, configs: Iterable[WinRMHostConfig]) -> None:
        self.configs = tuple(configs)
        endpoints: set[tuple[str, int]] = set()
        for config in self.configs:
            for listener in config.effective_listeners:
                endpoint = (config.address, listener.port)
                if listener.enabled and endpoint in endpoints:
                    raise ValueError(
                        f"{config.hostname}: {endpoint[0]}:{endpoint[1]} is served twice"
                    )
                endpoints.add(endpoint)
        self._servers: list[asyncio.Server] = []
        self._hosts: list[_Host] = []
        self._connections = Connections()
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """Bind every enabled listener of every host."""
        self._workdir = tempfile.TemporaryDirectory(prefix="winrm-lab-")
        workdir = Path(self._workdir.name)
        try:
            for index, config in enumerate(self.configs):
                host = self._build_host(config, workdir / f"ntlm-{index}.txt")
                self._hosts.append(host)
                if config.service.allow_remote_access:
                    await self._bind(host)
        except OSError:
            await self.stop()
            raise

    def _build_host(self, config: WinRMHostConfig, credential_file: Path) -> _Host:
        book = AccountBook(config.hostname, config.users)
        credential_file.write_text("".join(f"{line}\n" for line in book.ntlm_credential_lines()))
        credential_file.chmod(0o600)
        tls = None
        bindings = None
        if config.tls_cert is not None and config.tls_key is not None:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            # Level 0 so deliberately weak lab certificates (1024-bit, SHA-1) can be served.
            permit_tls_versions(tls, config.tls_min_version)
            tls.load_cert_chain(config.tls_cert, config.tls_key)
            bindings = tls_server_end_point(config.tls_cert)

        def pool_factory(user: str, fragment_size: int) -> RunspacePoolHost:
            return RunspacePoolHost(
                config.hostname, user, config.os_version, config.pipeline_handler, fragment_size
            )

        return _Host(
            config=config,
            book=book,
            authenticator=Authenticator(config, book, credential_file, bindings),
            service=WSManService(config, ShellTable(config, pool_factory)),
            tls=tls,
        )

    async def _bind(self, host: _Host) -> None:
        for listener in host.config.effective_listeners:
            if not listener.enabled:
                continue
            is_https = listener.transport == "HTTPS"
            server = await asyncio.start_server(
                partial(self._accept, host, is_https, listener.url_prefix),
                host=host.config.address,
                port=listener.port,
                ssl=host.tls if is_https else None,
                reuse_address=True,
                limit=http.MAX_HEADER_BYTES,
            )
            self._servers.append(server)

    async def stop(self) -> None:
        """Close the listeners and every open connection, and forget the shells."""
        for server in self._servers:
            server.close()
        await self._connections.hang_up()
        for server in self._servers:
            await server.wait_closed()
        for host in self._hosts:
            host.service.close()
        self._servers.clear()
        self._hosts.clear()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def start_in_thread(self, timeout: float = 60.0) -> None:
        """Run the server on its own loop in a background thread, for tests and the demo."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=_run_loop, args=(loop,), name="winrm-lab", daemon=True
        )
        self._thread.start()
        started = False
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout)
            started = True
        finally:
            if not started:
                self._end_thread(timeout)

    def stop_in_thread(self, timeout: float = 60.0) -> None:
        """Stop a server started with start_in_thread and wait for its thread."""
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result(timeout)
        self._end_thread(timeout)

    def _end_thread(self, timeout: float) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        self._loop = self._thread = None

    def __enter__(self) -> WinRMHostServer:
        self.start_in_thread()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_in_thread()

    async def _accept(
        self,
        host: _Host,
        is_https: bool,
        url_prefix: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        with self._connections.track():
            try:
                await self._serve(host, is_https, url_prefix, reader, writer)
            except http.BadRequest as err:
                log.info("%s: bad HTTP request, closing: %s", host.config.hostname, err)
                with contextlib.suppress(ConnectionError):
                    writer.write(http.Response(400, close=True, reason="Bad Request").encode())
            except (TimeoutError, ConnectionError, ssl.SSLError) as err:
                log.debug("%s: connection ended: %r", host.config.hostname, err)
            except asyncio.CancelledError:
                # stop() cancels open connections; ending quietly keeps asyncio's stream
                # callback from reporting the cancellation as an error.
                log.debug("%s: connection closed by server stop", host.config.hostname)
            except Exception:
                # A bug in one exchange must cost that connection only, not the whole lab.
                log.exception("%s: unexpected error, closing the connection", host.config.hostname)
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError, ssl.SSLError):
                    await writer.wait_closed()

    async def _serve(
        self,
        host: _Host,
        is_https: bool,
        url_prefix: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        conn = ConnectionAuth()
        peer = writer.get_extra_info("peername")
        client_ip = str(peer[0]) if peer else ""
        injected = host.config.faults
        while (request := await http.read_request(reader, _MAX_BODY)) is not None:
            if injected.drop_connection:
                return
            response = await self._respond(host, conn, request, is_https, url_prefix, client_ip)
            delay = injected.latency_ms / 1000 + injected.slow_seconds
            if delay:
                await asyncio.sleep(delay)
            writer.write(response.encode())
            await writer.drain()
            if response.close or request.wants_close:
                return

    async def _respond(
        self,
        host: _Host,
        conn: ConnectionAuth,
        request: http.Request,
        is_https: bool,
        url_prefix: str,
        client_ip: str,
    ) -> http.Response:
        if request.path.split("?", 1)[0].rstrip("/").lower() != f"/{url_prefix}".lower():
            return http.not_found()
        if request.method != "POST":
            return http.Response(405, (("Allow", "POST"),), reason="Method Not Allowed")
        if request.header("wsmanidentify").lower() == "unauthenticated":
            return self._anonymous_identify(request)
        result = host.authenticator.authenticate(request, conn, is_https)
        if result.response is not None:
            return result.response
        assert result.account is not None
        return await self._authenticated(host, conn, request, is_https, result, client_ip)

    def _anonymous_identify(self, request: http.Request) -> http.Response:
        try:
            root = parse_xml(request.body)
        except ET.ParseError:
            return http.Response(400, reason="Bad Request")
        if not is_identify(root):
            return http.Response(400, reason="Bad Request")
        body = identify_response("OS: 0.0.0 SP: 0.0 Stack: 3.0", ())
        return http.Response(200, (("Content-Type", _SOAP_CONTENT_TYPE),), body)

    async def _authenticated(
        self,
        host: _Host,
        conn: ConnectionAuth,
        request: http.Request,
        is_https: bool,
        result: AuthResult,
        client_ip: str,
    ) -> http.Response:
        headers: tuple[tuple[str, str], ...] = ()
        if result.final_token:
            headers = (("WWW-Authenticate", result.final_token),)
        if host.config.faults.http_500:
            return http.Response(500, headers)
        sealed = encryption.protocol_of(request.header("content-type"))
        if sealed:
            if conn.context is None:
                return host.authenticator.unauthorized().response or http.Response(401)
            try:
                plaintext = encryption.unwrap(conn.context, request.body)
            except (encryption.EncryptionError, SpnegoError) as err:
                log.info("%s: cannot unseal a request: %s", host.config.hostname, err)
                return http.Response(400, headers, reason="Bad Request")
        else:
            plaintext = request.body
            if plaintext and not is_https and not host.config.service.allow_unencrypted:
                # AllowUnencrypted false: clear-text SOAP over HTTP is refused with an empty 500.
                return http.Response(500, headers)
        if not plaintext:
            return http.Response(200, headers)  # the empty POST Negotiate clients send first
        account = result.account
        assert account is not None
        profile = f"{_SECPROFILE}{'https' if is_https else 'http'}/" + (
            "spnego-kerberos" if conn.context is not None else "basic"
        )
        status, body = await self._soap(host, plaintext, account, client_ip, profile)
        if host.config.faults.malformed_xml:
            body = body[: len(body) // 2]
        if sealed and conn.context is not None:
            return http.Response(
                status,
                (*headers, ("Content-Type", encryption.content_type(sealed))),
                encryption.wrap(conn.context, body, sealed),
            )
        return http.Response(status, (*headers, ("Content-Type", _SOAP_CONTENT_TYPE)), body)

    async def _soap(
        self, host: _Host, plaintext: bytes, account: Account, client_ip: str, profile: str
    ) -> tuple[int, bytes]:
        config = host.config
        try:
            root = parse_xml(plaintext)
        except ET.ParseError:
            return 400, b""
        if is_identify(root):
            version = f"OS: {config.os_version} SP: 0.0 Stack: 3.0"
            return 200, identify_response(version, (profile,))
        try:
            request = parse_request(root)
        except RequestError as err:
            fault = (
                faults.invalid_header(str(err)) if err.header else faults.schema_validation_error()
            )
            return 500, fault.to_envelope(config.hostname, err.message_id)
        machine = urlsplit(request.to).hostname or config.hostname
        try:
            owner = host.book.display_name(account)
            return 200, await host.service.handle(request, account, client_ip, owner)
        except faults.WSManFault as fault:
            return 500, fault.to_envelope(machine, request.message_id)


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
