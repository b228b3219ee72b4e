"""Cutting off one host's network connections from outside the thread collecting it."""

from __future__ import annotations

import socket
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_EVENTS = frozenset({"socket.__new__", "socket.connect"})
_current = threading.local()  # .connections: the HostConnections of the running thread
_install_lock = threading.Lock()
_installed = False


class HostCutOff(ConnectionAbortedError):
    """A connection refused because its host was cut off (its deadline passed, or Ctrl-C)."""


class HostConnections:
    """Every socket one host's collection opens, so that another thread can end them all.

    Why sockets are shut down rather than the thread abandoned: transport timeouts are per
    read, so a peer that trickles a byte a second (or accepts and never answers) holds a read
    for as long as it likes, and an abandoned thread would go on retrying, logging on and
    sending credentials to that peer. `cut()` shuts down every socket of the host, which wakes
    at once a thread blocked in connect, read or write on it, and refuses every new one, so the
    collection ends within moments through its own error handling. It calls shutdown(2), never
    close(2): the thread using the socket still owns its descriptor, and a descriptor closed
    under it could be reused at once by another host's connection.

    The sockets are opened deep inside requests/urllib3, pypsrp and the probes. An audit hook
    (PEP 578: `socket.__new__` and `socket.connect`) sees each of them in the thread that opens
    it, TLS sockets included, without wrapping or patching any transport.
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._cut = False

    @contextmanager
    def tracked(self) -> Iterator[None]:
        """Sockets the calling thread opens inside the block belong to this host."""
        _install_hook()
        previous = getattr(_current, "connections", None)
        _current.connections = self
        try:
            yield
        finally:
            _current.connections = previous

    def cut(self) -> None:
        """Shut down every socket of the host now and refuse any new one."""
        with self._lock:
            self._cut = True
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                # socket.socket's own shutdown, also for TLS sockets: SSLSocket.shutdown would
                # drop the TLS state under the thread still using it.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:  # never connected, or already closed by its thread
                continue

    def _opening(self, sock: socket.socket) -> None:
        with self._lock:
            if self._cut:
                raise HostCutOff(f"{self.host}: cut off by the scanner; no new connection")
            self._sockets.add(sock)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audited event of the process: leave at once unless it is ours.
    if event in _EVENTS:
        connections = getattr(_current, "connections", None)
        if connections is not None:
            connections._opening(args[0])


def _install_hook() -> None:
    """Once per process (an audit hook cannot be removed; it does nothing outside `tracked`)."""
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_audit)
            _installed = True
