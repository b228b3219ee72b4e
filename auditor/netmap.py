"""Name→address map so TLS is validated against host names without changing the machine's DNS."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_names: dict[str, str] = {}
_original_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, bytes):
        host = host.decode("idna")
    if isinstance(host, str):
        mapped = _names.get(host.rstrip(".").lower())
        if mapped is not None:
            host = mapped
    return _original_getaddrinfo(host, *args, **kwargs)


def install(names: Mapping[str, str]) -> None:
    """Resolve each name in `names` to its address for every client in this process.

    Clients (requests/pypsrp, ldap3, ssl) keep using the name for SNI and certificate
    checks; only the connect address changes. Names not in the map resolve as usual.
    """
    with _lock:
        _names.update({k.rstrip(".").lower(): v for k, v in names.items()})
        socket.getaddrinfo = _getaddrinfo


def lookup(name: str) -> str | None:
    """The mapped address of `name`, or None when the map does not know it."""
    return _names.get(name.rstrip(".").lower())


@contextmanager
def mapped(names: Mapping[str, str]) -> Iterator[None]:
    """Install `names` for the duration of a block, then restore the previous map."""
    with _lock:
        saved = dict(_names)
    install(names)
    try:
        yield
    finally:
        with _lock:
            _names.clear()
            _names.update(saved)
