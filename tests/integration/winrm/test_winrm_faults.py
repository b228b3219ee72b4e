"""Injected faults: each one as a collector sees it through pypsrp."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
import requests
from pypsrp.exceptions import AuthenticationError, WinRMTransportError
from pypsrp.wsman import WSMan


def test_dropped_connection(connect: Callable[..., WSMan]) -> None:
    with connect("drop") as wsman, pytest.raises(requests.exceptions.ConnectionError):
        wsman.get_server_config()


def test_http_500_after_authentication(connect: Callable[..., WSMan]) -> None:
    with connect("http_500") as wsman, pytest.raises(WinRMTransportError) as err:
        wsman.get_server_config()
    assert err.value.code == 500


def test_malformed_xml(connect: Callable[..., WSMan]) -> None:
    with connect("malformed") as wsman, pytest.raises(ET.ParseError):
        wsman.get_server_config()


def test_slow_host_exceeds_the_client_timeout(connect: Callable[..., WSMan]) -> None:
    with (
        connect("slow", read_timeout=1) as wsman,
        pytest.raises(requests.exceptions.ReadTimeout),
    ):
        wsman.get_server_config()


def test_every_credential_refused(connect: Callable[..., WSMan]) -> None:
    with connect("refused") as wsman, pytest.raises(AuthenticationError):
        wsman.get_server_config()


def test_latency_is_added_to_every_response(connect: Callable[..., WSMan]) -> None:
    with connect("latency") as wsman:
        started = time.monotonic()
        wsman.get_server_config()
        elapsed = time.monotonic() - started
    # Anonymous 401, NTLM challenge, authenticated empty POST, then the Get: 4 responses.
    assert elapsed >= 4 * 0.3
