"""Fixtures for channel tests: local peers only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from tests.alerting.channels.helpers import SilentPeer, hostile_strings


@pytest.fixture
def receiver(httpserver_ipv4: HTTPServer) -> HTTPServer:
    """An HTTP server on 127.0.0.1 that records every request."""
    return httpserver_ipv4


@pytest.fixture
def silent_peer() -> Iterator[SilentPeer]:
    """A TCP peer that accepts and never answers, to make clients time out."""
    peer = SilentPeer()
    yield peer
    peer.close()


@pytest.fixture(scope="session")
def hostile() -> list[str]:
    """Hostile strings, read from the shared corpus once per session."""
    return hostile_strings()
