"""The HTTP session pypsrp sends WinRM through, held to what we configured: no redirect is
followed, every answer is size-bounded, and neither the peer nor the environment chooses
whom we trust or which credentials go out."""

from __future__ import annotations

import ssl
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from pypsrp.wsman import WSMan
from requests.adapters import BaseAdapter

# A WS-Man answer is at most the MaxEnvelopeSize the client asks for (pypsrp asks 150 KiB, then
# 500 KiB for PowerShell): 8 MiB leaves room for any envelope a host may be set to send.
DEFAULT_MAX_ANSWER_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024


class RedirectRefused(requests.exceptions.RequestException):
    """The service answered 3xx. WinRM never redirects, and following would hand the logon and
    the request body to whoever the Location names."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(f"HTTP {status} redirect to {location[:200]!r} refused")
        self.status = status
        self.location = location[:200]


class AnswerTooLarge(requests.exceptions.RequestException):
    """An answer exceeded the configured bound; the rest was not read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"an answer exceeded {limit} bytes")
        self.limit = limit


class GuardedAdapter(BaseAdapter):
    """Wraps the adapter pypsrp mounted. Every answer passes here before anyone sees it,
    including those pypsrp's Negotiate hook fetches through `response.connection`, so a redirect
    is refused before anything could be re-sent, and no body is read past the bound."""

    def __init__(self, inner: BaseAdapter, max_bytes: int) -> None:
        super().__init__()
        self.inner = inner
        self.max_bytes = max_bytes

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        response = self.inner.send(request, **kwargs)  # headers only: requests reads bodies later
        # The Negotiate hook sends its next leg through this; requests types it HTTPAdapter.
        response.connection = self  # type: ignore[assignment]
        announced = response.headers.get("Content-Length", "")
        if 300 <= response.status_code < 400:
            response.close()
            raise RedirectRefused(response.status_code, response.headers.get("Location", ""))
        if announced.isdigit() and int(announced) > self.max_bytes:
            response.close()
            raise AnswerTooLarge(self.max_bytes)
        _bound_reads(response, self.max_bytes)
        return response

    def close(self) -> None:
        self.inner.close()


def _bound_reads(response: requests.Response, limit: int) -> None:
    """Make reading the body fail past `limit` bytes. The body is left unread until requests
    reads it (through `raw.stream`): the Negotiate hook takes the server's certificate for
    channel binding from the still-open socket, and the raw answer must stay urllib3's."""
    # Weak, so that the answer and its socket are freed as soon as requests lets go of them.
    answer = weakref.ref(response.raw)

    def bounded(amt: int | None = _CHUNK, decode_content: bool | None = None) -> Iterator[bytes]:
        raw = answer()
        if raw is None:
            return
        seen = 0
        for chunk in type(raw).stream(raw, amt, decode_content=decode_content):
            seen += len(chunk)
            if seen > limit:
                raw.close()
                raise AnswerTooLarge(limit)
            yield chunk

    response.raw.stream = bounded


def trust_store(use_https: bool, ca_bundle: Path | None, insecure: bool) -> bool | str:
    """What requests verifies against: the configured bundle, else the system store as OpenSSL
    locates it (like the probes and LDAP), never REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE or certifi."""
    if insecure:
        return False
    if ca_bundle is not None:
        return str(ca_bundle)
    if not use_https:
        return True  # nothing to verify over HTTP
    defaults = ssl.get_default_verify_paths()
    found = defaults.cafile or defaults.capath
    if found is None:
        raise requests.exceptions.SSLError(
            "no system trust store at OpenSSL's default paths; set winrm.ca_bundle"
        )
    return found


def guard(client: WSMan, verify: bool | str, max_answer_bytes: int) -> None:
    """Build pypsrp's session now, before any request, and hold it to our settings."""
    transport = client.transport
    session = transport._build_session()
    # No ~/.netrc credentials, environment proxies or CA bundles: only what was configured.
    session.trust_env = False
    session.verify = verify
    for prefix, adapter in list(session.adapters.items()):
        session.mount(prefix, GuardedAdapter(adapter, max_answer_bytes))
    transport.session = session
