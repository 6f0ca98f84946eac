"""Web fixtures: the app over the parametrised test database, driven in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.web.factories import NOW
from web.app import create_app

BRANDS = ["Acme"]
COMPETITORS = {"Acme": ["Rival", "Zed"]}


@pytest.fixture
def client(sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """An in-process client for the app, with a clock frozen at NOW."""
    app = create_app(session_factory=sessions, brands=BRANDS, competitors=COMPETITORS, clock=lambda: NOW)
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client
